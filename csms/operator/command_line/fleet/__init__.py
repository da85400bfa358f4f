"""The `csms` commands that act on chargers: commands, registration, reservations, jobs and more."""
