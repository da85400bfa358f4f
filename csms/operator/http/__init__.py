"""The admin API: its server, routes by concept, and its OpenAPI description."""
