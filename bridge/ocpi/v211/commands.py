"""OCPI 2.1.1 Commands, purely: its command objects in the 2.2.1 terms we carry out, and its answers."""

from __future__ import annotations

from typing import Any

from bridge.ocpi.tokens import TokenError
from bridge.ocpi.v211.tokens import token_221

# 2.2.1's CommandResponseType and CommandResultType values → 2.1.1's one CommandResponseType
# (mod_commands 4.1: NOT_SUPPORTED, REJECTED, ACCEPTED, TIMEOUT, UNKNOWN_SESSION). What the
# charger said beyond accepting or not (occupied, inoperative, failed) is a rejection in 2.1.1.
RESULTS = {"ACCEPTED": "ACCEPTED", "REJECTED": "REJECTED", "NOT_SUPPORTED": "NOT_SUPPORTED",
           "UNKNOWN_SESSION": "UNKNOWN_SESSION", "TIMEOUT": "TIMEOUT",
           "EVSE_OCCUPIED": "REJECTED", "EVSE_INOPERATIVE": "REJECTED", "FAILED": "REJECTED",
           "CANCELED_RESERVATION": "ACCEPTED", "UNKNOWN_RESERVATION": "REJECTED"}


class CommandFormError(ValueError):
    """A 2.1.1 command object we cannot read."""


def command_221(command: str, body: dict[str, Any], country_code: str,
                party_id: str) -> dict[str, Any]:
    """A 2.1.1 StartSession or ReserveNow (mod_commands 3.2, 3.3) with its 2.1.1 Token as the
    2.2.1 token our command handling reads: its party is the sender's (2.1.1 tokens carry none).
    StopSession and UnlockConnector have the same fields in both versions."""
    if command not in ("START_SESSION", "RESERVE_NOW") or "token" not in body:
        return body
    try:
        token = token_221(body["token"], country_code, party_id)
    except TokenError as exc:
        raise CommandFormError(f"token: {exc}") from None
    return {**body, "token": token}


def response_211(answer: dict[str, Any]) -> dict[str, Any]:
    """Our 2.2.1 CommandResponse (or CommandResult) as 2.1.1's CommandResponse: a result only
    (no timeout, no message in 2.1.1 mod_commands 3.1)."""
    return {"result": RESULTS.get(str(answer.get("result")), "REJECTED")}
