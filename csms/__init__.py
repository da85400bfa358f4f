"""Central system: OCPP 1.6J and 2.0.1 charge points translated into one domain."""
