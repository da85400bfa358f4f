"""Chargers connecting: the WebSocket server, handshake, security profiles, TLS, fuzzing, admission."""
