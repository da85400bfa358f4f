"""Charging profiles and composite schedules, domain ↔ OCPP 1.6 / 2.0.1 wire (pure, snake_case)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from csms.domain.energy.external_limits import EvNeeds
from csms.domain.energy.smart_charging import (
    ChargingProfile,
    CompositeSchedule,
    Kind,
    Purpose,
    RateUnit,
    Recurrency,
    SchedulePeriod,
    to_dict,
)

PURPOSE_16 = {Purpose.CHARGER_MAX: "ChargePointMaxProfile", Purpose.TX_DEFAULT: "TxDefaultProfile",
              Purpose.TX: "TxProfile"}
PURPOSE_201 = {Purpose.CHARGER_MAX: "ChargingStationMaxProfile",
               Purpose.TX_DEFAULT: "TxDefaultProfile", Purpose.TX: "TxProfile"}
FROM_16 = {wire: purpose for purpose, wire in PURPOSE_16.items()}
FROM_201 = {wire: purpose for purpose, wire in PURPOSE_201.items()}


def _z(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def _put(target: dict[str, Any], key: str, value: Any) -> None:
    if value is not None:
        target[key] = value


def _periods_out(periods: tuple[SchedulePeriod, ...]) -> list[dict[str, Any]]:
    out = []
    for period in periods:
        item: dict[str, Any] = {"start_period": period.start, "limit": period.limit}
        _put(item, "number_phases", period.phases)
        out.append(item)
    return out


def _periods_in(raw: list[Mapping[str, Any]]) -> tuple[SchedulePeriod, ...]:
    return tuple(SchedulePeriod(int(p["start_period"]), float(p["limit"]), p.get("number_phases"))
                 for p in raw)


def _schedule_out(profile: ChargingProfile) -> dict[str, Any]:
    schedule: dict[str, Any] = {"charging_rate_unit": profile.unit.value,
                                "charging_schedule_period": _periods_out(profile.periods)}
    _put(schedule, "duration", profile.duration)
    _put(schedule, "start_schedule", _z(profile.starts_at))
    _put(schedule, "min_charging_rate", profile.min_rate)
    return schedule


def _profile_out(profile: ChargingProfile, purpose: str) -> dict[str, Any]:
    out: dict[str, Any] = {"stack_level": profile.stack_level, "charging_profile_purpose": purpose,
                           "charging_profile_kind": profile.kind.value}
    _put(out, "recurrency_kind", profile.recurrency.value if profile.recurrency else None)
    _put(out, "valid_from", _z(profile.valid_from))
    _put(out, "valid_to", _z(profile.valid_to))
    return out


def profile_16(profile: ChargingProfile) -> dict[str, Any]:
    """1.6 csChargingProfiles (SetChargingProfile.req); a 1.6 transaction id is a number."""
    out = {"charging_profile_id": profile.id, **_profile_out(profile, PURPOSE_16[profile.purpose]),
           "charging_schedule": _schedule_out(profile)}
    if profile.transaction_id is not None:
        out["transaction_id"] = int(profile.transaction_id)
    return out


def profile_201(profile: ChargingProfile) -> dict[str, Any]:
    """2.0.1 ChargingProfileType (one schedule, numbered like the profile)."""
    out = {"id": profile.id, **_profile_out(profile, PURPOSE_201[profile.purpose]),
           "charging_schedule": [{"id": profile.id, **_schedule_out(profile)}]}
    _put(out, "transaction_id", profile.transaction_id)
    return out


def _profile_in(raw: Mapping[str, Any], profile_id: int, purpose: Purpose,
                schedule: Mapping[str, Any]) -> ChargingProfile:
    recurrency = raw.get("recurrency_kind")
    transaction = raw.get("transaction_id")
    return ChargingProfile(
        id=profile_id, stack_level=int(raw["stack_level"]), purpose=purpose,
        kind=Kind(raw["charging_profile_kind"]), unit=RateUnit(schedule["charging_rate_unit"]),
        periods=_periods_in(schedule["charging_schedule_period"]),
        recurrency=Recurrency(recurrency) if recurrency else None,
        starts_at=_time(schedule.get("start_schedule")), duration=schedule.get("duration"),
        valid_from=_time(raw.get("valid_from")), valid_to=_time(raw.get("valid_to")),
        min_rate=schedule.get("min_charging_rate"),
        transaction_id=str(transaction) if transaction is not None else None)


def profile_from_16(raw: Mapping[str, Any]) -> ChargingProfile:
    return _profile_in(raw, int(raw["charging_profile_id"]), FROM_16[raw["charging_profile_purpose"]],
                       raw["charging_schedule"])


def profile_from_201(raw: Mapping[str, Any]) -> ChargingProfile:
    """KeyError for ChargingStationExternalConstraints (set by others, never by us)."""
    return _profile_in(raw, int(raw["id"]), FROM_201[raw["charging_profile_purpose"]],
                       raw["charging_schedule"][0])


def clear_16(profile_id: int | None, evse: int | None, purpose: Purpose | None,
             stack_level: int | None) -> dict[str, Any]:
    """1.6 ClearChargingProfile.req fields: all given criteria must match (nothing: all profiles)."""
    out: dict[str, Any] = {}
    _put(out, "id", profile_id)
    _put(out, "connector_id", evse)
    _put(out, "charging_profile_purpose", PURPOSE_16[purpose] if purpose else None)
    _put(out, "stack_level", stack_level)
    return out


def clear_201(profile_id: int | None, evse: int | None, purpose: Purpose | None,
              stack_level: int | None) -> dict[str, Any]:
    """2.0.1 ClearChargingProfileRequest fields (K10): an id, or criteria."""
    out: dict[str, Any] = {}
    _put(out, "charging_profile_id", profile_id)
    criteria: dict[str, Any] = {}
    _put(criteria, "evse_id", evse)
    _put(criteria, "charging_profile_purpose", PURPOSE_201[purpose] if purpose else None)
    _put(criteria, "stack_level", stack_level)
    if criteria:
        out["charging_profile_criteria"] = criteria
    return out


def composite_from_16(answer: Mapping[str, Any], connector: int) -> CompositeSchedule | None:
    """1.6 GetCompositeSchedule.conf; None when the charger did not accept."""
    schedule = answer.get("charging_schedule")
    if answer.get("status") != "Accepted" or not schedule:
        return None
    starts = answer.get("schedule_start") or schedule.get("start_schedule")
    return CompositeSchedule(int(answer.get("connector_id", connector)), _time(starts),
                             schedule.get("duration"), RateUnit(schedule["charging_rate_unit"]),
                             _periods_in(schedule["charging_schedule_period"]))


def composite_from_201(answer: Mapping[str, Any]) -> CompositeSchedule | None:
    """2.0.1 GetCompositeScheduleResponse; None when the charger did not accept."""
    schedule = answer.get("schedule")
    if answer.get("status") != "Accepted" or not schedule:
        return None
    return CompositeSchedule(int(schedule["evse_id"]), _time(schedule["schedule_start"]),
                             schedule.get("duration"), RateUnit(schedule["charging_rate_unit"]),
                             _periods_in(schedule["charging_schedule_period"]))


def composite_16(schedule: CompositeSchedule) -> dict[str, Any]:
    """1.6 GetCompositeSchedule.conf (Accepted) for a schedule (the simulated charger's answer)."""
    inner: dict[str, Any] = {"charging_rate_unit": schedule.unit.value,
                             "charging_schedule_period": _periods_out(schedule.periods)}
    _put(inner, "duration", schedule.duration)
    _put(inner, "start_schedule", _z(schedule.starts_at))
    out: dict[str, Any] = {"status": "Accepted", "connector_id": schedule.evse,
                           "charging_schedule": inner}
    _put(out, "schedule_start", _z(schedule.starts_at))
    return out


def composite_201(schedule: CompositeSchedule) -> dict[str, Any]:
    """2.0.1 GetCompositeScheduleResponse (Accepted) for a schedule."""
    return {"status": "Accepted", "schedule": {
        "evse_id": schedule.evse, "duration": schedule.duration or 0,
        "schedule_start": _z(schedule.starts_at),
        "charging_rate_unit": schedule.unit.value,
        "charging_schedule_period": _periods_out(schedule.periods)}}


def schedule_from_201(raw: Mapping[str, Any], evse: int) -> CompositeSchedule:
    """A 2.0.1 ChargingScheduleType (NotifyChargingLimit, NotifyEVChargingSchedule) on an EVSE."""
    return CompositeSchedule(evse, _time(raw.get("start_schedule")), raw.get("duration"),
                             RateUnit(raw["charging_rate_unit"]),
                             _periods_in(raw["charging_schedule_period"]))


def needs_from_201(raw: Mapping[str, Any]) -> EvNeeds:
    """2.0.1 ChargingNeedsType (K15/K16)."""
    ac = raw.get("ac_charging_parameters") or {}
    dc = raw.get("dc_charging_parameters") or {}
    return EvNeeds(
        transfer=raw["requested_energy_transfer"],
        max_current=ac.get("ev_max_current", dc.get("ev_max_current")),
        min_current=ac.get("ev_min_current"),
        max_voltage=ac.get("ev_max_voltage", dc.get("ev_max_voltage")),
        max_power=dc.get("ev_max_power"),
        energy_wh=ac.get("energy_amount", dc.get("energy_amount")),
        departure=_time(raw.get("departure_time")))


def criteria_201(evse: int | None, purpose: Purpose | None, stack_level: int | None,
                 sources: list[str] | None, ids: list[int] | None) -> dict[str, Any]:
    """2.0.1 GetChargingProfilesRequest fields but the request id (K09): the criteria all given
    must match; evse None: every EVSE, 0: the charger's own."""
    criteria: dict[str, Any] = {}
    _put(criteria, "charging_profile_purpose", PURPOSE_201[purpose] if purpose else None)
    _put(criteria, "stack_level", stack_level)
    _put(criteria, "charging_profile_id", ids or None)
    _put(criteria, "charging_limit_source", sources or None)
    out: dict[str, Any] = {"charging_profile": criteria}
    _put(out, "evse_id", evse)
    return out


def reported_from_201(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One ReportChargingProfilesRequest (K09): each profile on its EVSE with its source; ours in
    the domain's JSON form, an external constraint (set by others, no domain purpose) as sent."""
    found = []
    for raw in report["charging_profile"]:
        item: dict[str, Any] = {"evse": report["evse_id"],
                                "source": report["charging_limit_source"]}
        if raw["charging_profile_purpose"] in FROM_201:
            item["profile"] = to_dict(profile_from_201(raw))
        else:
            item["external"] = dict(raw)
        found.append(item)
    return found
