"""eRoamingChargeDetailRecord (v2.2): a finished roaming session as Hubject's CDR, built purely."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from csms.domain.events import ReservationEnded, SessionEnded

OPERATION = "ChargeDetailRecord"


def cdr_path(operator_id: str) -> str:
    return f"/cdrmgmt/v22/operators/{quote(operator_id, safe='*')}/charge-detail-record"


def oicp_time(at: datetime, time_zone: str) -> str:
    """OICP wants the local offset of the charge point, e.g. 2024-03-01T10:00:00+01:00."""
    return at.astimezone(ZoneInfo(time_zone)).isoformat(timespec="seconds")


def kwh(wh: float) -> float:
    return round(wh / 1000, 3)


def charge_detail_record(ended: SessionEnded, readings_wh: list[float],
                         charging: tuple[datetime, datetime], time_zone: str,
                         product_id: str | None = None) -> dict[str, Any]:
    """The CDR for a session the OICP bridge knows (its attributes carry the 'oicp' block).

    charging: when the energy flowed (csms/domain/charging.py). OICP 2.3 eRoamingChargeDetailRecord:
    SessionStart/End are "e.g. swipe of RFID or cable connected/disconnected",
    ChargingStart/End "at which the charging process started/stopped", all mandatory; a session
    without energy has a charging process of no length (see charging_period).
    product_id: the pricing product our tariff applied; without one, the EMP's own choice."""
    oicp = ended.attributes["oicp"]
    started = ended.started_at or ended.stopped_at
    start_wh = ended.meter_start_wh if ended.meter_start_wh is not None else \
        (readings_wh[0] if readings_wh else 0.0)
    end_wh = ended.meter_stop_wh if ended.meter_stop_wh is not None else \
        (readings_wh[-1] if readings_wh else start_wh)
    # No SessionID yet when the session charged on a cached authorization: sending fetches one.
    record: dict[str, Any] = {"SessionID": oicp["SessionID"]} if oicp.get("SessionID") else {}
    record |= {
        "CPOPartnerSessionID": ended.session_id,
        "EvseID": ended.evse_id,
        "Identification": oicp["Identification"],
        "SessionStart": oicp_time(started, time_zone),
        "ChargingStart": oicp_time(charging[0], time_zone),
        "ChargingEnd": oicp_time(charging[1], time_zone),
        "SessionEnd": oicp_time(ended.stopped_at, time_zone),
        "MeterValueStart": kwh(start_wh),
        "MeterValueEnd": kwh(end_wh),
        "ConsumedEnergy": kwh(max(0.0, end_wh - start_wh)),
    }
    between = [kwh(r) for r in readings_wh if start_wh < r < end_wh]
    if between:
        record["MeterValueInBetween"] = {"meterValues": between}
    record |= _partner_fields(oicp)
    if product_id:
        record["PartnerProductID"] = product_id
    return record


def reservation_record(ended: ReservationEnded, time_zone: str) -> dict[str, Any]:
    """The CDR Hubject wants for a remote reservation once it is over: no energy, the time held."""
    oicp = ended.attributes["oicp"]
    start, end = oicp_time(ended.reserved_at, time_zone), oicp_time(ended.ended_at, time_zone)
    record: dict[str, Any] = {
        "SessionID": oicp["SessionID"],
        "CPOPartnerSessionID": f"reservation-{ended.reservation_id}",
        "EvseID": ended.evse_id,
        "Identification": oicp["Identification"],
        "SessionStart": start, "ChargingStart": start, "ChargingEnd": end, "SessionEnd": end,
        "ConsumedEnergy": 0.0,
    }
    return record | _partner_fields(oicp)


def _partner_fields(oicp: dict[str, Any]) -> dict[str, Any]:
    return {k: oicp[k] for k in ("EMPPartnerSessionID", "PartnerProductID") if oicp.get(k)}
