"""How much power chargers may draw: charging profiles, and a site's limit shared among sessions."""
