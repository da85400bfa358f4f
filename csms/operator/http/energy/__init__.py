"""Admin API routes for power: charging profiles, site limits, the load manager's allocation."""
