"""OCPI ChargingProfiles, purely: an eMSP's profile as an EVSE cap, a composite as ActiveChargingProfile."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

from bridge.ocpi.transport import parse_timestamp, timestamp
from csms.domain.energy.smart_charging import CompositeSchedule, RateUnit, SchedulePeriod
from csms.domain.sites import EvseDetails

SESSION_ID_LENGTH = 36  # CiString(36)
URL_LENGTH = 255  # SetChargingProfile.response_url
TENTH = Decimal("0.1")
MAX_PERIODS = 1024  # as OCPP 2.0.1 allows in a charging schedule
MAX_DURATION = 7 * 86400  # seconds of ActiveChargingProfile we ask a charger for, at most
# ChargingProfileResultType
ACCEPTED, REJECTED, UNKNOWN = "ACCEPTED", "REJECTED", "UNKNOWN"


class ProfileError(ValueError):
    """A request we cannot read (answered with OCPI 2001 and this one reason)."""


@dataclass(frozen=True)
class OcpiProfile:
    """An OCPI 2.2.1 ChargingProfile as sent: periods count from `starts_at` (absent: from the
    start of the session), the last lasting `duration` from then (absent: to the session's end)."""

    unit: RateUnit
    periods: tuple[SchedulePeriod, ...]
    starts_at: datetime | None = None
    duration: int | None = None
    min_rate: float | None = None


@dataclass(frozen=True)
class Electrical:
    """What converts W to A per phase on an EVSE: its line-to-neutral voltage and phases."""

    voltage: int
    phases: int

    @classmethod
    def of(cls, details: EvseDetails) -> Electrical:
        # DC: the EVSE's own voltage and current (one "phase"); AC_1_PHASE one, else three.
        return cls(details.voltage, 3 if details.power_type == "AC_3_PHASE" else 1)


@dataclass(frozen=True)
class EmspCap:
    """What the eMSP's profile limits its session's EVSE to now (A per phase; None: nothing
    yet), until when, and when to compute it again (None: it stays until `until`)."""

    max_amps: Decimal | None
    min_amps: Decimal | None
    until: datetime | None
    next_change: datetime | None = None


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def read_profile(raw: Any) -> OcpiProfile:
    """A ChargingProfile object, checked; ProfileError names the first thing wrong."""
    if not isinstance(raw, dict):
        raise ProfileError("charging_profile must be a ChargingProfile object")
    unit = raw.get("charging_rate_unit")
    if unit not in ("A", "W"):
        raise ProfileError("charging_profile.charging_rate_unit must be A or W")
    starts_at = None
    if raw.get("start_date_time") is not None:
        try:
            starts_at = parse_timestamp(str(raw["start_date_time"]))
        except ValueError:
            raise ProfileError("charging_profile.start_date_time must be a UTC DateTime") from None
    duration = raw.get("duration")
    if duration is not None and (not _whole(duration) or duration <= 0):
        raise ProfileError("charging_profile.duration must be a positive whole number of seconds")
    min_rate = raw.get("min_charging_rate")
    if min_rate is not None and (not _number(min_rate) or min_rate < 0):
        raise ProfileError("charging_profile.min_charging_rate must be a number, 0 or more")
    raw_periods = raw.get("charging_profile_period")
    if not isinstance(raw_periods, list) or not raw_periods:
        raise ProfileError("charging_profile.charging_profile_period must list at least one period")
    if len(raw_periods) > MAX_PERIODS:
        raise ProfileError(f"charging_profile.charging_profile_period must list at most "
                           f"{MAX_PERIODS} periods")
    periods = []
    for period in raw_periods:
        if not isinstance(period, dict) or not _whole(period.get("start_period")) \
                or not _number(period.get("limit")) or period["limit"] < 0:
            raise ProfileError("each charging_profile_period needs a whole start_period and a "
                               "limit of 0 or more")
        periods.append(SchedulePeriod(period["start_period"], float(period["limit"])))
    starts = [period.start for period in periods]
    if starts[0] != 0 or starts != sorted(set(starts)):
        raise ProfileError("charging_profile_period must start at 0 and at increasing "
                           "start_period")
    return OcpiProfile(RateUnit(unit), tuple(periods), starts_at, duration,
                       float(min_rate) if min_rate is not None else None)


def read_set_charging_profile(body: Any) -> tuple[OcpiProfile, str]:
    """A SetChargingProfile body → (the profile, its response_url), checked."""
    if not isinstance(body, dict):
        raise ProfileError("body must be a SetChargingProfile object")
    profile = read_profile(body.get("charging_profile"))
    return profile, response_url(body.get("response_url"))


def response_url(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ProfileError("response_url is missing")
    if len(value) > URL_LENGTH:
        raise ProfileError(f"response_url must be at most {URL_LENGTH} characters")
    return value


def read_duration(value: str | None) -> int:
    """GET's duration query parameter: a positive whole number of seconds, at most a week
    asked of the charger (the result's duration says what the eMSP got)."""
    if value is None or not value.isdigit() or int(value) <= 0:
        raise ProfileError("duration must be a positive whole number of seconds")
    return min(int(value), MAX_DURATION)


def profile_json(profile: OcpiProfile) -> dict[str, Any]:
    """The profile as we understood it (kept with the cap), in OCPI's own form."""
    raw: dict[str, Any] = {"charging_rate_unit": profile.unit.value, "charging_profile_period": [
        {"start_period": period.start, "limit": period.limit} for period in profile.periods]}
    if profile.starts_at is not None:
        raw["start_date_time"] = timestamp(profile.starts_at)
    if profile.duration is not None:
        raw["duration"] = profile.duration
    if profile.min_rate is not None:
        raw["min_charging_rate"] = profile.min_rate
    return raw


def read_session_id(value: str) -> str:
    if not value or len(value) > SESSION_ID_LENGTH:
        raise ProfileError(f"session_id must be 1 to {SESSION_ID_LENGTH} characters")
    return value


def to_amps(limit: float, unit: RateUnit, electrical: Electrical) -> Decimal:
    """A limit in A per phase, rounded down to tenths (never more than was asked for). W are the
    EVSE's total (OCPI 2.2.1 ChargingRateUnit): per phase = W / (voltage x phases)."""
    amps = Decimal(str(limit)) if unit is RateUnit.AMPERES \
        else Decimal(str(limit)) / (electrical.voltage * electrical.phases)
    return amps.quantize(TENTH, rounding=ROUND_FLOOR)


def emsp_cap(profile: OcpiProfile, session_started: datetime, now: datetime,
             electrical: Electrical, lead: timedelta) -> EmspCap:
    """The cap an eMSP's profile puts on its session's EVSE now: the tightest limit of the
    periods in force between now and `lead` later (a lower period applies `lead` early, so that
    the charger holds it in time; a higher one when it begins), to be computed again at
    `next_change`; `until` the profile's end. A profile that begins later than `lead` from now
    caps nothing yet. ProfileError when the profile is over already."""
    origin = profile.starts_at or session_started
    end = origin + timedelta(seconds=profile.duration) if profile.duration is not None else None
    if end is not None and end <= now:
        raise ProfileError("charging_profile ends before now")
    starts = [origin + timedelta(seconds=period.start) for period in profile.periods]
    stops: list[datetime | None] = [*starts[1:], end]
    horizon = now + lead
    limits = [period.limit for period, start, stop in zip(profile.periods, starts, stops, strict=True)
              if start <= horizon and (stop is None or stop > now) and (end is None or start < end)]
    max_amps = to_amps(min(limits), profile.unit, electrical) if limits else None
    min_amps = None
    if profile.min_rate is not None:
        asked = Decimal(str(profile.min_rate)) if profile.unit is RateUnit.AMPERES \
            else Decimal(str(profile.min_rate)) / (electrical.voltage * electrical.phases)
        min_amps = asked.quantize(TENTH, rounding=ROUND_CEILING)
        if max_amps is not None:
            min_amps = min(min_amps, max_amps)
    # The window [now, now + lead) changes what it holds when a period's start enters it or
    # leaves its start (the previous period ends), and at the profile's end.
    changes = [at for start in starts for at in (start - lead, start) if at > now]
    if end is not None:
        changes.append(end)
    return EmspCap(max_amps, min_amps, end, min(changes, default=None))


def active_charging_profile(schedule: CompositeSchedule | None, now: datetime,
                            max_amps: float) -> dict[str, Any]:
    """A composite schedule the charger computed → OCPI ActiveChargingProfile. A charger that
    limits nothing (no periods) shows the EVSE's maximum (OCPI 2.2.1 ChargingProfiles, PUT on
    the Sender: "showing the maximum charging capacity of the EVSE")."""
    periods: tuple[SchedulePeriod, ...]
    if schedule is None or not schedule.periods:
        unit, periods = RateUnit.AMPERES, (SchedulePeriod(0, max_amps),)
        starts_at, duration = now, None
    else:
        unit, periods = schedule.unit, schedule.periods
        starts_at, duration = schedule.starts_at or now, schedule.duration
    start = timestamp(starts_at)
    profile: dict[str, Any] = {"start_date_time": start, "charging_rate_unit": unit.value,
                               "charging_profile_period": [
                                   {"start_period": period.start,
                                    "limit": round(period.limit, 1)} for period in periods]}
    if duration is not None:
        profile["duration"] = duration
    return {"start_date_time": start, "charging_profile": profile}


def set_result(accepted: bool) -> dict[str, Any]:
    """ChargingProfileResult: the charger's answer to what the profile made us send it."""
    return {"result": ACCEPTED if accepted else REJECTED}


def clear_result(held: bool, accepted: bool) -> dict[str, Any]:
    """ClearProfileResult: UNKNOWN when the session held no profile of the eMSP's."""
    return {"result": UNKNOWN if not held else ACCEPTED if accepted else REJECTED}


def active_result(profile: dict[str, Any] | None) -> dict[str, Any]:
    """ActiveChargingProfileResult: the profile when the charger computed one."""
    return {"result": ACCEPTED, "profile": profile} if profile is not None \
        else {"result": REJECTED}
