"""TLS for the servers we run: our certificates, the protocol floor, which client certificates we take."""

from __future__ import annotations

import ssl


def server_context(cert: str, key: str, client_ca: str, require_client: bool,
                   second_cert: str = "", second_key: str = "",
                   client_ca_pem: str = "") -> ssl.SSLContext:
    """With client_ca (a file) or client_ca_pem, client certificates they signed are verified:
    demanded, or only asked for. A second certificate of the other key type (EC, RSA) lets
    clients that only take the other one in: OCPP requires two ECDSA and two RSA suites."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2  # OCPP: TLS 1.2 or newer, never older
    if require_client and not (client_ca or client_ca_pem):  # else none would be asked for
        raise ValueError("client certificates are required but no client CA is given")
    context.load_cert_chain(cert, key or None)
    if second_cert:
        # OpenSSL keeps one certificate per key type: the second one joins, not replaces.
        context.load_cert_chain(second_cert, second_key or None)
    if client_ca or client_ca_pem:
        context.verify_mode = ssl.CERT_REQUIRED if require_client else ssl.CERT_OPTIONAL
        if client_ca:
            context.load_verify_locations(client_ca)
        if client_ca_pem:
            context.load_verify_locations(cadata=client_ca_pem)
    return context
