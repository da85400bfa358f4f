"""OCPI 2.1.1 Sessions, purely: a domain session as the 2.1.1 eMSP that owns its token sees it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bridge.ocpi.publishing.locations import EvseFacts
from bridge.ocpi.publishing.places import Priced
from bridge.ocpi.transport import timestamp
from bridge.ocpi.v211.inexpressible import Inexpressible, Losses, note
from bridge.ocpi.v211.locations import location_object
from csms.domain.billing.cost import Costing
from csms.domain.model import EvseStatus, SessionStatus

# A session held by a reservation before it starts: no domain SessionStatus names this state
# (2.2.1 calls it RESERVATION), so the callers say it with this word.
RESERVED = "reserved"

# mod_sessions 4.1 SessionStatus: the same mapping as 2.2.1's, RESERVATION apart.
_STATUSES = {SessionStatus.PENDING: "PENDING", SessionStatus.ACTIVE: "ACTIVE",
             SessionStatus.COMPLETED: "COMPLETED", SessionStatus.FAILED: "INVALID",
             SessionStatus.EXPIRED: "INVALID", SessionStatus.REJECTED: "INVALID"}
# mod_cdrs 4.1 AuthMethod has AUTH_REQUEST and WHITELIST only.
_AUTH_METHODS = {"AUTH_REQUEST": "AUTH_REQUEST", "WHITELIST": "WHITELIST",
                 "COMMAND": "AUTH_REQUEST"}
# mod_cdrs 4.3 CdrDimensionType, the ones our costing produces; MAX_POWER/MIN_POWER are 2.2.1's.
_DIMENSIONS = {"ENERGY", "TIME", "PARKING_TIME", "FLAT", "MAX_CURRENT", "MIN_CURRENT"}


def session_status(status: str, where: str = "Session", losses: Losses | None = None) -> str:
    """A domain SessionStatus value (or RESERVED) → mod_sessions 4.1 SessionStatus."""
    if status == RESERVED:
        note(losses, where, "Session.status.RESERVATION")
        return "PENDING"
    return _STATUSES[SessionStatus(status)]


def auth_fields(ocpi: dict[str, Any], where: str, losses: Losses | None = None) -> dict[str, Any]:
    """auth_id (the token's contract id: mod_tokens 3.2 auth_id) and auth_method (mod_cdrs 4.1)
    of the `ocpi` attributes a session keeps (bridge.ocpi.tokens.session_attributes)."""
    method = ocpi["auth_method"]
    if method == "COMMAND":
        note(losses, where, "auth_method.COMMAND")
    token = ocpi["token"]
    return {"auth_id": token.get("contract_id") or token["uid"],
            "auth_method": _AUTH_METHODS[method]}


def session_location(priced: Priced, evse_status: EvseStatus | str, at: datetime,
                     losses: Losses | None = None) -> dict[str, Any]:
    """The Location "including only the relevant EVSE and connector" (mod_sessions 3.1,
    mod_cdrs 3.1); its connector names the tariff the session is priced by."""
    place = priced.place
    if place.site is None:
        note(losses, f"Session at {place.evse_uid!r}", "Session.place")
        raise Inexpressible(f"EVSE {place.evse_uid!r} is on no site: a 2.1.1 Location needs "
                            "an address")
    tariff_id = str(priced.tariff["id"]) if priced.tariff else None
    facts = EvseFacts(place.evse_uid, place.evse_id, str(evse_status), False, at, tariff_id)
    location = location_object(place.site, [facts], "", at, losses)
    evse = location["evses"][0]
    evse["connectors"] = [c for c in evse["connectors"] if c["id"] == place.connector["id"]]
    return location


def charging_periods(cost: Costing, where: str,
                     losses: Losses | None = None) -> list[dict[str, Any]]:
    """mod_cdrs 4.4 ChargingPeriods of a domain costing: no tariff_id; dimensions of 4.3 only,
    with FLAT (volume 1) in the first period when a flat fee was billed."""
    result = []
    for number, period in enumerate(cost.charging_periods):
        dimensions = []
        for dimension in period["dimensions"]:
            if dimension["type"] in _DIMENSIONS:
                dimensions.append({"type": dimension["type"], "volume": dimension["volume"]})
            else:
                note(losses, where, f"CdrDimension.{dimension['type']}")
        if number == 0 and cost.total_fixed_cost is not None:
            dimensions.append({"type": "FLAT", "volume": 1})
        if dimensions:
            result.append({"start_date_time": period["start_date_time"], "dimensions": dimensions})
    return result


def _evse_status(status: str) -> EvseStatus:
    """What the EVSE was doing for the session's Location: charging while it is active."""
    return EvseStatus.CHARGING if status == SessionStatus.ACTIVE else EvseStatus.AVAILABLE


def session_object(session_id: str, ocpi: dict[str, Any], priced: Priced, started_at: datetime,
                   kwh: float, status: str, last_updated: datetime,
                   stopped_at: datetime | None = None, cost: Costing | None = None,
                   losses: Losses | None = None) -> dict[str, Any]:
    """mod_sessions 3.1 Session: the same session, place and price as the 2.2.1 Session.
    `status` is a domain SessionStatus value or RESERVED. Raises Inexpressible off any site."""
    where = f"Session {session_id!r}"
    session: dict[str, Any] = {
        "id": session_id,
        "start_datetime": timestamp(started_at),
        "kwh": round(kwh, 3),
        **auth_fields(ocpi, where, losses),
        "location": session_location(priced, _evse_status(status), started_at, losses),
        "currency": priced.currency,
        "status": session_status(status, where, losses),
        "last_updated": timestamp(last_updated),
    }
    if stopped_at is not None:
        session["end_datetime"] = timestamp(stopped_at)
    if cost is not None:
        session |= _cost(cost, where, losses)
    return session


def session_patch(session_id: str, kwh: float, last_updated: datetime, status: str | None = None,
                  stopped_at: datetime | None = None, cost: Costing | None = None,
                  losses: Losses | None = None) -> dict[str, Any]:
    """The fields of a Session that change while it runs and when it ends (mod_sessions 2.2.3)."""
    where = f"Session {session_id!r}"
    patch: dict[str, Any] = {"kwh": round(kwh, 3), "last_updated": timestamp(last_updated)}
    if status:
        patch["status"] = session_status(status, where, losses)
    if stopped_at is not None:
        patch["end_datetime"] = timestamp(stopped_at)
    if cost is not None:
        patch |= _cost(cost, where, losses)
    return patch


def _cost(cost: Costing, where: str, losses: Losses | None) -> dict[str, Any]:
    data: dict[str, Any] = {"total_cost": cost.total_cost.excl_vat}
    periods = charging_periods(cost, where, losses)
    if periods:
        data["charging_periods"] = periods
    return data
