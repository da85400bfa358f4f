"""OCPI 2.1.1: the forms of our objects and of what 2.1.1 partners send, built by pure functions."""
