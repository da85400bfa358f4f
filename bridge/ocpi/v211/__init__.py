"""The OCPI 2.1.1 forms of our objects, built from the same domain objects as the 2.2.1 ones."""
