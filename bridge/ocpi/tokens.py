"""OCPI Tokens, purely: what an eMSP pushes, what its sessions keep, and its authorization answers."""

from __future__ import annotations

from typing import Any

from bridge.ocpi.transport import parse_timestamp
from csms.domain.model import Authorization, AuthorizationStatus, TokenType

# Whitelist types: accepted from the pushed copy, or to be asked about in real time first.
_ASK_FIRST = {"ALLOWED", "NEVER"}
_ALLOWED = {"ALLOWED": AuthorizationStatus.ACCEPTED, "BLOCKED": AuthorizationStatus.BLOCKED,
            "EXPIRED": AuthorizationStatus.EXPIRED, "NO_CREDIT": AuthorizationStatus.INVALID,
            "NOT_ALLOWED": AuthorizationStatus.INVALID}
_REQUIRED = ("country_code", "party_id", "uid", "type", "contract_id", "issuer", "valid",
             "whitelist", "last_updated")


# The token's real type, for the authorize request's `type` (OCPI 2.2.1 Tokens 12.4.1.1, TokenType
# 12.4.4): cards are RFID; an id our central system or an app made up (2.0.1 Central) is an app
# user's; one the charger made up itself (2.0.1 Local, e.g. its payment terminal) an ad hoc user's.
_OCPI_TOKEN_TYPES = {
    TokenType.RFID: "RFID", TokenType.RFID_15693: "RFID",
    TokenType.CENTRAL: "APP_USER", TokenType.LOCAL: "AD_HOC_USER",
    TokenType.EMAID: "OTHER", TokenType.KEY_CODE: "OTHER", TokenType.MAC_ADDRESS: "OTHER",
}


def ocpi_token_type(token_type: TokenType | None) -> str:
    """Domain token type → OCPI TokenType; None (a 1.6 idTag carries no type) is a card: RFID,
    which is also what the eMSP assumes when `type` is left out."""
    return "RFID" if token_type is None else _OCPI_TOKEN_TYPES.get(token_type, "OTHER")


class TokenError(ValueError):
    """A pushed token we cannot take (answered with 2001)."""


def read_token(body: Any, country_code: str, party_id: str, uid: str) -> dict[str, Any]:
    """A pushed Token, checked against the URL it was PUT to."""
    if not isinstance(body, dict):
        raise TokenError("body must be a Token object")
    missing = [key for key in _REQUIRED if key not in body]
    if missing:
        raise TokenError(f"missing {', '.join(missing)}")
    if (body["country_code"], body["party_id"], body["uid"]) != (country_code, party_id, uid):
        raise TokenError("country_code, party_id and uid must match the URL")
    if body["whitelist"] not in ("ALWAYS", "ALLOWED", "ALLOWED_OFFLINE", "NEVER"):
        raise TokenError("whitelist must be ALWAYS, ALLOWED, ALLOWED_OFFLINE or NEVER")
    if not isinstance(body["valid"], bool):
        raise TokenError("valid must be true or false")
    return body


def key_of(item: Any) -> tuple[str, str, str] | None:
    """A listed token's (COUNTRY, PARTY, uid) as our tokens table keys it; None if unreadable."""
    if not isinstance(item, dict):
        return None
    cc, pid, uid = (item.get(k) for k in ("country_code", "party_id", "uid"))
    if not all(isinstance(v, str) and v for v in (cc, pid, uid)):
        return None
    return str(cc).upper(), str(pid).upper(), str(uid)


def read_listed(item: Any) -> dict[str, Any]:
    """A Token from an eMSP's list (its Tokens Sender): checked as a pushed one, and with a
    last_updated we can read (the next incremental pull's date_from follows it)."""
    if key_of(item) is None:
        raise TokenError("country_code, party_id and uid must be text")
    token = read_token(item, item["country_code"], item["party_id"], item["uid"])
    try:
        parse_timestamp(str(token["last_updated"]))
    except ValueError:
        raise TokenError("last_updated must be a UTC DateTime") from None
    return token


def patched(token: dict[str, Any], patch: Any) -> dict[str, Any]:
    if not isinstance(patch, dict) or "last_updated" not in patch:
        raise TokenError("a patch needs last_updated")
    frozen = {"country_code", "party_id", "uid"} & patch.keys()
    if any(patch[k] != token[k] for k in frozen):
        raise TokenError("country_code, party_id and uid cannot change")
    return read_token({**token, **patch}, token["country_code"], token["party_id"], token["uid"])


def status_of(token: dict[str, Any]) -> str:
    """Our token table's status for a pushed token."""
    return "accepted" if token["valid"] else "invalid"


def ask_first(token: dict[str, Any]) -> bool:
    return token["whitelist"] in _ASK_FIRST


def session_attributes(partner_id: int, token: dict[str, Any], auth_method: str,
                       authorization_reference: str | None = None) -> dict[str, Any]:
    """What a session started with this token keeps: who to report it to, and how."""
    ocpi: dict[str, Any] = {"partner": partner_id, "token": cdr_token(token),
                            "auth_method": auth_method}
    if authorization_reference:
        ocpi["authorization_reference"] = authorization_reference
    return {"ocpi": ocpi}


def cdr_token(token: dict[str, Any]) -> dict[str, Any]:
    return {k: token[k] for k in ("country_code", "party_id", "uid", "type", "contract_id")}


def authorization_info(data: Any) -> tuple[dict[str, Any] | None, bool]:
    """An authorize answer's AuthorizationInfo, read leniently: (the object or None, whether the
    peer deviated from the spec's shape). Seen: `data` as a one-element list of it."""
    if isinstance(data, dict):
        return data, False
    if isinstance(data, list) and len(data) == 1 and isinstance(data[0], dict):
        return data[0], True
    return None, False


def read_authorization(answer: Any, partner_id: int) -> Authorization | None:
    """An AuthorizationInfo → our answer; None when the partner does not know the token."""
    if not isinstance(answer, dict) or answer.get("allowed") not in _ALLOWED \
            or not isinstance(answer.get("token"), dict):
        return None
    status = _ALLOWED[answer["allowed"]]
    if status is not AuthorizationStatus.ACCEPTED:
        return Authorization(status)
    try:
        token = cdr_token(answer["token"])
    except KeyError:
        return None
    return Authorization(status, session_attributes(partner_id, token, "AUTH_REQUEST",
                                                    answer.get("authorization_reference")))
