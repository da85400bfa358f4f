"""A roaming delivery's last error in words, from each form the outbox stores (a pure mapping)."""

from __future__ import annotations

import socket

import aiohttp
import pytest
from aiohttp.client_reqrep import ConnectionKey

from csms.operator.roaming_errors import in_words

KEY = ConnectionKey("hub.example.com", 443, True, True, None, None, None)


def stored(exc: BaseException) -> str:
    """What bridge/outbox.py's unanswered() stores for an exception."""
    return f"{type(exc).__name__}: {exc}" if str(exc).strip() else type(exc).__name__


@pytest.mark.parametrize(("error", "words"), [
    (None, None),
    ("", None),
    # Answers: the status and who gave it.
    ("HTTP 503", "HTTP 503 from Hubject"),
    ("HTTP 503 None", "HTTP 503 from Hubject"),
    ("HTTP 401 None", "HTTP 401 from Hubject"),
    ("HTTP 500 3000", "HTTP 500 from Hubject: OCPI status 3000"),
    ("HTTP 400 2001 Invalid or missing parameters",
     "HTTP 400 from Hubject: OCPI status 2001 (Invalid or missing parameters)"),
    ("HTTP 404: {'message': 'no such route'}", "HTTP 404 from Hubject: {'message': 'no such route'}"),
    # No answer: what happened, and where.
    (stored(aiohttp.ClientConnectorError(KEY, ConnectionRefusedError(
        111, "Connect call failed ('127.0.0.1', 9)"))), "connection refused by hub.example.com:443"),
    ("ClientConnectorError: Cannot connect to host 10.0.0.1:8443 ssl:default [Connection refused]",
     "connection refused by 10.0.0.1:8443"),
    (stored(aiohttp.ClientConnectorDNSError(KEY, socket.gaierror(-2, "Name or service not known"))),
     "host name not found: hub.example.com"),
    ("ClientConnectorError: Cannot connect to host hub.example.com:443 ssl:default "
     "[No route to host]", "hub.example.com:443 cannot be reached (no route)"),
    ("ClientConnectorCertificateError: Cannot connect to host hub.example.com:443 ssl:True "
     "[SSLCertVerificationError: (1, '[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed')]",
     "TLS certificate of hub.example.com:443 not accepted"),
    (stored(TimeoutError()), "no answer from Hubject in time"),
    (stored(aiohttp.ServerTimeoutError("Timeout on reading data from socket")),
     "no answer from Hubject in time"),
    (stored(aiohttp.ServerDisconnectedError()), "Hubject closed the connection before answering"),
    # Repeated forms, and what has no known form stays as stored.
    ("given up after 5 attempts: HTTP 503", "given up after 5 attempts: HTTP 503 from Hubject"),
    ("018 Forbidden operation", "018 Forbidden operation"),
    ("partner is not registered", "partner is not registered"),
    ("AuthorizeStart before the CDR: NotAuthorized", "AuthorizeStart before the CDR: NotAuthorized"),
])
def test_last_errors_in_words(error: str | None, words: str | None) -> None:
    assert in_words(error, "Hubject") == words
