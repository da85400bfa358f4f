"""Scriptable charge points (OCPP 1.6J and 2.0.1) and partner stand-ins for local runs and tests."""
