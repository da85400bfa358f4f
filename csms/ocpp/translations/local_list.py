"""Local authorization list entries and settings, domain ↔ OCPP 1.6 / 2.0.1 wire (pure)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from csms.domain.fleet.local_lists import Entry, LocalListSupport
from csms.domain.model import AuthorizationStatus, TokenType, parse_token_type
from csms.ocpp.translations.status import authorization_16, authorization_201, id_token_type_201

# Where each version keeps what the list needs (1.6 configuration keys, 2.0.1 variables).
KEYS_16 = ["LocalAuthListEnabled", "LocalAuthListMaxLength", "SendLocalListMaxLength",
           "SupportedFeatureProfiles"]
VARIABLES_201 = ["LocalAuthListCtrlr.Enabled", "LocalAuthListCtrlr.Available",
                 "LocalAuthListCtrlr.ItemsPerMessage"]
ID_TAG_16 = 20  # CiString20Type


def _z(timestamp: str | None) -> str | None:
    return timestamp.replace("+00:00", "Z") if timestamp else None


def _number(value: str | None) -> int | None:
    try:
        number = int(value) if value is not None else None
    except ValueError:
        return None
    return number if number is not None and number > 0 else None


def entry_16(uid: str, entry: Entry | None) -> dict[str, Any]:
    """1.6 AuthorizationData; without idTagInfo it removes the idTag (differential update)."""
    if entry is None:
        return {"id_tag": uid}
    info: dict[str, Any] = {"status": authorization_16(AuthorizationStatus(entry["status"]))}
    if entry.get("expires_at"):
        info["expiry_date"] = _z(entry["expires_at"])
    if entry.get("group"):
        info["parent_id_tag"] = entry["group"]
    return {"id_tag": uid, "id_tag_info": info}


def _token_type(stored: str | None) -> str:
    return id_token_type_201(parse_token_type(stored) or TokenType.RFID)


def entry_201(uid: str, entry: Entry | None) -> dict[str, Any]:
    """2.0.1 AuthorizationData; without idTokenInfo it removes the token (D01, D02)."""
    if entry is None:
        return {"id_token": {"id_token": uid, "type": _token_type(None)}}
    token = {"id_token": uid, "type": _token_type(entry.get("type"))}
    info: dict[str, Any] = {"status": authorization_201(AuthorizationStatus(entry["status"]))}
    if entry.get("expires_at"):
        info["cache_expiry_date_time"] = _z(entry["expires_at"])
    if entry.get("group"):
        info["group_id_token"] = {"id_token": entry["group"], "type": "Central"}
    return {"id_token": token, "id_token_info": info}


@lru_cache(maxsize=64)
def _support(enabled: bool, max_length: int | None, per_message: int | None) -> LocalListSupport:
    """One object per answer that differs: every charger of a model shares it (it is kept per
    connected charger)."""
    return LocalListSupport(enabled, max_length, per_message)


def support_16(configuration_key: list[dict[str, Any]]) -> LocalListSupport:
    values = {item["key"]: item.get("value") for item in configuration_key}
    profiles = values.get("SupportedFeatureProfiles")
    enabled = (values.get("LocalAuthListEnabled") or "").lower() == "true" and (
        profiles is None or "LocalAuthListManagement" in profiles)
    return _support(enabled, _number(values.get("LocalAuthListMaxLength")),
                    _number(values.get("SendLocalListMaxLength")))


def support_201(results: list[dict[str, Any]]) -> LocalListSupport:
    values = {f"{r['component']['name']}.{r['variable']['name']}": r.get("attribute_value")
              for r in results if r.get("attribute_status") == "Accepted"}
    enabled = (values.get("LocalAuthListCtrlr.Enabled") or "").lower() == "true" and (
        (values.get("LocalAuthListCtrlr.Available") or "true").lower() == "true")
    return _support(enabled, None, _number(values.get("LocalAuthListCtrlr.ItemsPerMessage")))
