"""OCPI 2.1.1 CDRs, purely: an ended session's cost as the 2.1.1 eMSP that owns its token gets it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bridge.ocpi.publishing.places import Priced
from bridge.ocpi.transport import timestamp
from bridge.ocpi.v211.inexpressible import Inexpressible, Losses
from bridge.ocpi.v211.sessions import auth_fields, charging_periods, session_location
from bridge.ocpi.v211.tariffs import tariff_object
from csms.domain.billing.cost import Costing
from csms.domain.model import EvseStatus


def cdr_object(session_id: str, ocpi: dict[str, Any], priced: Priced, started_at: datetime,
               stopped_at: datetime, cost: Costing, last_updated: datetime,
               losses: Losses | None = None) -> dict[str, Any]:
    """mod_cdrs 3.1 CDR, from the same costing as the 2.2.1 CDR; its id is the session's, so a
    repeat cannot make a second one. Raises Inexpressible off any site (see inexpressible)."""
    where = f"CDR {session_id!r}"
    periods = charging_periods(cost, where, losses) or [{
        # charging_periods is + (mod_cdrs 3.1): a session with no costed period had no energy.
        "start_date_time": timestamp(started_at), "dimensions": [{"type": "ENERGY", "volume": 0}]}]
    cdr: dict[str, Any] = {
        "id": session_id,
        "start_date_time": timestamp(started_at),
        "stop_date_time": timestamp(stopped_at),
        **auth_fields(ocpi, where, losses),
        "location": session_location(priced, EvseStatus.AVAILABLE, started_at, losses),
        "currency": priced.currency,
        "charging_periods": periods,
        "total_cost": cost.total_cost.excl_vat,
        "total_energy": round(cost.total_energy_kwh, 3),
        "total_time": round(cost.total_time_h, 4),
        "last_updated": timestamp(last_updated),
    }
    if cost.total_parking_time_h:
        cdr["total_parking_time"] = round(cost.total_parking_time_h, 4)
    if priced.tariff is not None:
        try:
            cdr["tariffs"] = [tariff_object(priced.tariff, last_updated, losses)]
        except Inexpressible:
            pass  # tariffs is * (mod_cdrs 3.1); the loss is noted, the cost stands as billed
    return cdr
