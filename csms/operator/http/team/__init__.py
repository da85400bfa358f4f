"""Admin API routes for the team: roles per route, the audit middleware, users and API tokens."""
