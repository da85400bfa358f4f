"""The OCPI versions we speak: what differs between them, and each one's objects behind one interface."""
