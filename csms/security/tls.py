"""TLS for the servers we run: our certificate, and which client certificates we take."""

from __future__ import annotations

import ssl


def server_context(cert: str, key: str, client_ca: str, require_client: bool) -> ssl.SSLContext:
    """With client_ca, client certificates it signed are verified: demanded, or only asked for."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    if require_client and not client_ca:  # else no certificate would be asked for at all
        raise ValueError("client certificates are required but no client CA is given")
    context.load_cert_chain(cert, key or None)
    if client_ca:
        context.verify_mode = ssl.CERT_REQUIRED if require_client else ssl.CERT_OPTIONAL
        context.load_verify_locations(client_ca)
    return context
