"""The web console: static pages served by the admin API's server, its live feed and the routes it needs."""
