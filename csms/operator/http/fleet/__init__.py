"""Admin API routes that act on chargers: commands, registration, reservations, jobs and more."""
