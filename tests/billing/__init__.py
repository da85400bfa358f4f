"""Billing: tariffs, session costs (OCPI costing, OCPP 2.0.1 CostUpdated) and CDR corrections."""
