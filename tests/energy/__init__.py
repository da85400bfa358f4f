"""Smart charging: charging profiles, site limits, charger limits, the load manager and its allocation."""
