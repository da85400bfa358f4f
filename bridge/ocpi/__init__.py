"""The OCPI 2.2.1 bridge, CPO role."""
