"""eRoamingChargingNotification (v1.1): Start, Progress, End and Error of a roaming session."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bridge.oicp.cdr import kwh, oicp_time

OPERATION = "ChargingNotification"
PATH = "/notificationmgmt/v11/charging-notifications"


def _common(kind: str, oicp: dict[str, Any], session_id: str, evse_id: str,
            operator_id: str) -> dict[str, Any]:
    body: dict[str, Any] = {"Type": kind, "SessionID": oicp["SessionID"],
                            "CPOPartnerSessionID": session_id}
    if oicp.get("EMPPartnerSessionID"):
        body["EMPPartnerSessionID"] = oicp["EMPPartnerSessionID"]
    body.update({"EvseID": evse_id, "OperatorID": operator_id})
    return body


def start(oicp: dict[str, Any], session_id: str, evse_id: str, operator_id: str,
          started_at: datetime, charging_started_at: datetime, meter_start_wh: float | None,
          time_zone: str) -> dict[str, Any]:
    """Once the energy flows: ChargingStart is that moment, SessionStart the transaction's."""
    body = _common("Start", oicp, session_id, evse_id, operator_id)
    body.update({"Identification": oicp["Identification"],
                 "ChargingStart": oicp_time(charging_started_at, time_zone),
                 "SessionStart": oicp_time(started_at, time_zone)})
    if meter_start_wh is not None:
        body["MeterValueStart"] = kwh(meter_start_wh)
    if oicp.get("PartnerProductID"):
        body["PartnerProductID"] = oicp["PartnerProductID"]
    return body


def progress(oicp: dict[str, Any], session_id: str, evse_id: str, operator_id: str,
             started_at: datetime, charging_started_at: datetime, occurred_at: datetime,
             meter_start_wh: float | None, readings_wh: list[float],
             time_zone: str) -> dict[str, Any]:
    """ChargingDuration = EventOccurred - ChargingStart (OICP 2.3)."""
    body = _common("Progress", oicp, session_id, evse_id, operator_id)
    body.update({
        "ChargingStart": oicp_time(charging_started_at, time_zone),
        "EventOccurred": oicp_time(occurred_at, time_zone),
        "ChargingDuration": max(0, int((occurred_at - charging_started_at).total_seconds()
                                       * 1000)),
        "SessionStart": oicp_time(started_at, time_zone),
    })
    if meter_start_wh is not None and readings_wh:
        body["ConsumedEnergyProgress"] = kwh(max(0.0, readings_wh[-1] - meter_start_wh))
        body["MeterValueStart"] = kwh(meter_start_wh)
        body["MeterValueInBetween"] = {"meterValues": [kwh(r) for r in readings_wh]}
    return body


def end(oicp: dict[str, Any], session_id: str, evse_id: str, operator_id: str,
        started_at: datetime | None, stopped_at: datetime, charging: tuple[datetime, datetime],
        meter_start_wh: float | None, meter_stop_wh: float | None,
        time_zone: str) -> dict[str, Any]:
    """charging: (ChargingStart, ChargingEnd), when the energy flowed."""
    body = _common("End", oicp, session_id, evse_id, operator_id)
    body.update({"ChargingStart": oicp_time(charging[0], time_zone),
                 "ChargingEnd": oicp_time(charging[1], time_zone)})
    if started_at is not None:
        body["SessionStart"] = oicp_time(started_at, time_zone)
    body["SessionEnd"] = oicp_time(stopped_at, time_zone)
    if meter_start_wh is not None and meter_stop_wh is not None:
        body.update({"ConsumedEnergy": kwh(max(0.0, meter_stop_wh - meter_start_wh)),
                     "MeterValueStart": kwh(meter_start_wh),
                     "MeterValueEnd": kwh(meter_stop_wh)})
    return body


def error(oicp: dict[str, Any], session_id: str, evse_id: str, operator_id: str,
          error_code: str | None) -> dict[str, Any]:
    """A charger fault during the session: ConnectorError for plug trouble, else CriticalError."""
    body = _common("Error", oicp, session_id, evse_id, operator_id)
    connector_trouble = error_code in ("ConnectorLockFailure", "EVCommunicationError")
    body["ErrorType"] = "ConnectorError" if connector_trouble else "CriticalError"
    body["ErrorAdditionalInfo"] = f"charger reported {error_code or 'a fault'}"[:250]
    return body
