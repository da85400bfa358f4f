"""OCPI 2.1.1 Tokens, purely: a pushed 2.1.1 Token as the 2.2.1 Token our store keeps, and back."""

from __future__ import annotations

from typing import Any

from bridge.ocpi.tokens import TokenError

# mod_tokens 4.3: 2.1.1 knows two types; 2.2.1's app and ad hoc users are OTHER to it.
TYPES = ("OTHER", "RFID")
_REQUIRED = ("uid", "type", "auth_id", "issuer", "valid", "whitelist", "last_updated")
_KEPT = ("visual_number", "language")  # optional fields both versions have


def token_221(body: Any, country_code: str, party_id: str) -> dict[str, Any]:
    """A 2.1.1 Token (mod_tokens 3.2) → the 2.2.1 Token we store: its party from the URL (2.1.1
    tokens carry none), auth_id as contract_id. Checks what 2.1.1 asks; tokens.read_token the rest."""
    if not isinstance(body, dict):
        raise TokenError("body must be a Token object")
    missing = [key for key in _REQUIRED if key not in body]
    if missing:
        raise TokenError(f"missing {', '.join(missing)}")
    if body["type"] not in TYPES:
        raise TokenError("type must be RFID or OTHER")
    token = {"country_code": country_code, "party_id": party_id, "uid": body["uid"],
             "type": body["type"], "contract_id": body["auth_id"], "issuer": body["issuer"],
             "valid": body["valid"], "whitelist": body["whitelist"],
             "last_updated": body["last_updated"]}
    return token | {key: body[key] for key in _KEPT if key in body}


def patch_221(patch: Any, now: str) -> Any:
    """A 2.1.1 Token PATCH in 2.2.1 terms (auth_id is contract_id); 2.1.1 asks no last_updated
    of a patch (mod_tokens 2.1.2's example has none): it is when we took it."""
    if not isinstance(patch, dict):
        return patch
    if "type" in patch and patch["type"] not in TYPES:
        raise TokenError("type must be RFID or OTHER")
    renamed = {("contract_id" if key == "auth_id" else key): value for key, value in patch.items()}
    return {"last_updated": now} | renamed


def token_211(token: dict[str, Any]) -> dict[str, Any]:
    """A stored (2.2.1) Token as 2.1.1 shows it (a GET of the eMSP's own token)."""
    shown = {"uid": token["uid"], "type": token["type"] if token["type"] in TYPES else "OTHER",
             "auth_id": token["contract_id"], "issuer": token["issuer"], "valid": token["valid"],
             "whitelist": token["whitelist"], "last_updated": token["last_updated"]}
    return shown | {key: token[key] for key in _KEPT if key in token}
