"""OCPI 2.1.1 partners: the specification's description, its forms and objects, end to end."""
