"""The OICP bridge to Hubject: EVSE data and status, authorization, charging, pricing, reservations, TLS."""
