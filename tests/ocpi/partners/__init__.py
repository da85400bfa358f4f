"""OCPI partners: the credentials handshake, hubs, parties, late arrivals, token pulls, SSRF refusals."""
