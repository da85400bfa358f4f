"""Who our OCPI partners are: the credentials handshake and the partners' repository."""
