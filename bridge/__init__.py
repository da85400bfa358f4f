"""Roaming bridge: OICP 2.3 and OCPI 2.2.1 on top of the CSMS domain events."""
