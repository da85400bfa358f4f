"""The OCPI 2.2.1 bridge: locations, sessions, real-time authorization, charging profiles, outages."""
