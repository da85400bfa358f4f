"""A roaming delivery's last error in words ("connection refused by …", "HTTP 503 from …")."""

from __future__ import annotations

import re

# What the outbox stores (bridge/outbox.py unanswered, the OICP and OCPI clients' outcomes):
# "<ExceptionType>: <message>" for a request without an answer, "HTTP <status> …" for an answer.
_UNANSWERED = re.compile(r"^(?P<kind>[A-Za-z_][\w.]*(?:Error|Exception|Disconnected\w*))"
                         r"(?::\s*(?P<message>.*))?$", re.S)
_HOST = re.compile(r"Cannot connect to host (?P<host>\S+?)(?::(?P<port>\d+))? ssl:\S+ \[(?P<why>.*)\]$",
                   re.S)
_HTTP = re.compile(r"^HTTP (?P<status>\d{3})(?::)?(?:\s+(?P<rest>.*))?$", re.S)
_GIVEN_UP = re.compile(r"^given up after (?P<n>\d+) attempts: (?P<inner>.*)$", re.S)
_REFUSED = ("Connect call failed", "Connection refused", "Errno 111", "Errno 61")
_NO_NAME = ("Name or service not known", "nodename nor servname", "No address associated",
            "Temporary failure in name resolution", "Name does not resolve")
_UNREACHABLE = ("No route to host", "Network is unreachable", "Errno 113", "Errno 101")


def in_words(error: str | None, partner: str) -> str | None:
    """The stored error said plainly, naming the partner (by its business name) or the host it
    could not reach. Text of no known form is returned as it is: never worse than stored."""
    if error is None or not error.strip():
        return None
    error = " ".join(error.split())
    given_up = _GIVEN_UP.match(error)
    if given_up:
        return f"given up after {given_up['n']} attempts: {in_words(given_up['inner'], partner)}"
    http = _HTTP.match(error)
    if http:
        return _http(http["status"], (http["rest"] or "").strip(), partner)
    unanswered = _UNANSWERED.match(error)
    if unanswered:
        return _unanswered(unanswered["kind"].rsplit(".", 1)[-1], unanswered["message"] or "",
                           partner)
    return error


def _http(status: str, rest: str, partner: str) -> str:
    # OCPI: "HTTP 503 None", "HTTP 400 2001 message"; OICP: "HTTP 400: {answer}".
    said = f"HTTP {status} from {partner}"
    code, _, message = rest.partition(" ")
    if code == "None" and not message:
        return said
    if code.isdigit() and len(code) == 4:
        return f"{said}: OCPI status {code}" + (f" ({message})" if message else "")
    return f"{said}: {rest}" if rest else said


def _unanswered(kind: str, message: str, partner: str) -> str:
    connect = _HOST.search(message)
    where = partner
    why = message
    if connect:
        where = connect["host"] + (f":{connect['port']}" if connect["port"] else "")
        why = connect["why"]
    if kind == "ClientConnectorDNSError" or any(s in why for s in _NO_NAME):
        return f"host name not found: {connect['host'] if connect else partner}"
    if "Certificate" in kind or ("CERTIFICATE" in why.upper() and "VERIFY" in why.upper()):
        return f"TLS certificate of {where} not accepted"
    if "SSL" in kind:
        return f"TLS handshake with {where} failed"
    if any(s in why for s in _REFUSED) or kind == "ConnectionRefusedError":
        return f"connection refused by {where}"
    if any(s in why for s in _UNREACHABLE):
        return f"{where} cannot be reached (no route)"
    if kind in ("TimeoutError", "ServerTimeoutError", "ConnectionTimeoutError",
                "SocketTimeoutError", "CancelledError") or "Timeout" in kind:
        return f"no answer from {where} in time"
    if kind in ("ServerDisconnectedError", "ClientPayloadError", "ConnectionResetError",
                "ClientOSError") and not connect:
        return f"{where} closed the connection before answering"
    if connect:
        return f"cannot connect to {where}: {why}"
    return f"no answer from {where}: {message or kind}"
