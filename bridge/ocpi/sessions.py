"""OCPI Sessions and CDRs, purely: a domain session as the eMSP that owns its token sees it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bridge.ocpi.transport import timestamp
from csms.domain.billing.cost import FREE, Costing, cost_fields, price_fields
from csms.domain.model import SessionStatus
from csms.domain.sites import Site

# A domain session's status as OCPI 2.2.1 SessionStatus (mod_sessions, SessionStatus enum): a remote start
# the charger has not taken up is PENDING; one it refused, or never took up, INVALID, as is a
# transaction the charger reported and we refused (rejected).
STATUSES = {SessionStatus.PENDING: "PENDING", SessionStatus.ACTIVE: "ACTIVE",
            SessionStatus.COMPLETED: "COMPLETED", SessionStatus.FAILED: "INVALID",
            SessionStatus.EXPIRED: "INVALID", SessionStatus.REJECTED: "INVALID"}


def ocpi_session_status(status: str) -> str:
    """The OCPI SessionStatus of a domain session status (SessionStatus value)."""
    return STATUSES[SessionStatus(status)]


@dataclass(frozen=True)
class Place:
    """Where a session happens, in OCPI's terms."""

    location_id: str
    evse_uid: str
    evse_id: str | None
    connector: dict[str, Any]  # the OCPI Connector object
    site: Site | None


def session_object(country_code: str, party_id: str, session_id: str, ocpi: dict[str, Any],
                   place: Place, started_at: datetime, kwh: float, status: str, currency: str,
                   last_updated: datetime, stopped_at: datetime | None = None) -> dict[str, Any]:
    session: dict[str, Any] = {
        "country_code": country_code, "party_id": party_id, "id": session_id,
        "start_date_time": timestamp(started_at), "kwh": round(kwh, 3),
        "cdr_token": ocpi["token"], "auth_method": ocpi["auth_method"],
        "location_id": place.location_id, "evse_uid": place.evse_uid,
        "connector_id": place.connector["id"], "currency": currency, "status": status,
        "last_updated": timestamp(last_updated),
    }
    if ocpi.get("authorization_reference"):
        session["authorization_reference"] = ocpi["authorization_reference"]
    if stopped_at is not None:
        session["end_date_time"] = timestamp(stopped_at)
    return session


def session_patch(kwh: float, last_updated: datetime, status: str | None = None,
                  stopped_at: datetime | None = None, cost: Costing | None = None) -> dict[str, Any]:
    patch: dict[str, Any] = {"kwh": round(kwh, 3), "last_updated": timestamp(last_updated)}
    if status:
        patch["status"] = status
    if stopped_at is not None:
        patch["end_date_time"] = timestamp(stopped_at)
    if cost is not None:
        if cost.charging_periods:
            patch["charging_periods"] = cost.charging_periods
        patch["total_cost"] = price_fields(cost.total_cost)
    return patch


def cdr_object(country_code: str, party_id: str, session_id: str, ocpi: dict[str, Any],
               place: Place, started_at: datetime, stopped_at: datetime, cost: Costing,
               tariff: dict[str, Any] | None, currency: str, last_updated: datetime,
               cdr_id: str | None = None) -> dict[str, Any]:
    """One immutable CDR; its id is the session's (a corrected one's: cdr_id), so a repeat
    cannot make a second one."""
    location: dict[str, Any] = {
        "id": place.location_id, "evse_uid": place.evse_uid,
        "evse_id": place.evse_id or place.evse_uid, "connector_id": place.connector["id"],
        "connector_standard": place.connector["standard"],
        "connector_format": place.connector["format"],
        "connector_power_type": place.connector["power_type"],
    }
    if place.site is not None:
        site = place.site
        location |= {"name": site.name, "address": f"{site.street} {site.house_number}".strip(),
                     "city": site.city, "postal_code": site.postal_code, "country": site.country,
                     "coordinates": {"latitude": f"{site.latitude:.6f}",
                                     "longitude": f"{site.longitude:.6f}"}}
    cdr: dict[str, Any] = {
        "country_code": country_code, "party_id": party_id, "id": cdr_id or session_id,
        "start_date_time": timestamp(started_at), "end_date_time": timestamp(stopped_at),
        "session_id": session_id, "cdr_token": ocpi["token"], "auth_method": ocpi["auth_method"],
        "cdr_location": location, "currency": currency,
        "charging_periods": cost.charging_periods or [{
            "start_date_time": timestamp(started_at),
            "dimensions": [{"type": "ENERGY", "volume": 0}],
            "tariff_id": (tariff or {}).get("id", FREE)}],
        **cost_fields(cost),
        "last_updated": timestamp(last_updated),
    }
    if ocpi.get("authorization_reference"):
        cdr["authorization_reference"] = ocpi["authorization_reference"]
    if tariff is not None:
        cdr["tariffs"] = [tariff_object(country_code, party_id, tariff, last_updated)]
    return cdr


def tariff_object(country_code: str, party_id: str, tariff: dict[str, Any],
                  last_updated: datetime) -> dict[str, Any]:
    return {"country_code": country_code, "party_id": party_id, **tariff,
            "last_updated": timestamp(last_updated)}
