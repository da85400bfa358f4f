"""The OCPP server's own behaviour: the 2.0.1 answers, meter and status translations."""
