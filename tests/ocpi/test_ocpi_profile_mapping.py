"""OCPI ChargingProfiles mapped purely: an eMSP's profile as an EVSE cap, a composite schedule as
ActiveChargingProfile (valid against the vendored OCPI 2.2.1 description), and refusals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest

from bridge.ocpi.control.profile_mapping import (
    Electrical,
    EmspCap,
    OcpiProfile,
    ProfileError,
    active_charging_profile,
    active_result,
    clear_result,
    emsp_cap,
    profile_json,
    read_duration,
    read_profile,
    read_set_charging_profile,
    set_result,
    to_amps,
)
from csms.domain.energy.smart_charging import CompositeSchedule, RateUnit, SchedulePeriod
from csms.domain.sites import EvseDetails
from simulators.partners.emsp import problems

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
STARTED = NOW - timedelta(minutes=30)  # the session's start
AC3 = Electrical(230, 3)
AC1 = Electrical(230, 1)
DC = Electrical(400, 1)


def _profile(unit: str, *periods: tuple[int, float], **extra: Any) -> dict[str, Any]:
    return {"charging_rate_unit": unit, "charging_profile_period": [
        {"start_period": start, "limit": limit} for start, limit in periods], **extra}


@pytest.mark.parametrize(("details", "electrical"), [
    (EvseDetails(), AC3),
    (EvseDetails(power_type="AC_1_PHASE"), AC1),
    (EvseDetails(power_type="DC", voltage=400), DC),
])
def test_electrical_from_site_details(details: EvseDetails, electrical: Electrical) -> None:
    assert Electrical.of(details) == electrical


@pytest.mark.parametrize(("limit", "unit", "electrical", "amps"), [
    (16.0, RateUnit.AMPERES, AC3, "16.0"),
    (7.25, RateUnit.AMPERES, AC3, "7.2"),        # down to tenths: never more than asked
    (11040.0, RateUnit.WATTS, AC3, "16.0"),      # W are the EVSE's total: / (230 V x 3)
    (11000.0, RateUnit.WATTS, AC3, "15.9"),
    (3680.0, RateUnit.WATTS, AC1, "16.0"),
    (50000.0, RateUnit.WATTS, DC, "125.0"),
    (0.0, RateUnit.WATTS, AC3, "0.0"),
])
def test_to_amps(limit: float, unit: RateUnit, electrical: Electrical, amps: str) -> None:
    assert to_amps(limit, unit, electrical) == Decimal(amps)


LEAD = timedelta(minutes=1)
# (OCPI ChargingProfile, the cap it becomes on an AC 3-phase EVSE at NOW, with a minute's lead)
CAPS: list[tuple[dict[str, Any], EmspCap]] = [
    (_profile("A", (0, 16.0)), EmspCap(Decimal("16.0"), None, None, None)),
    # Relative (to the session's start, 30 minutes ago): the period in force; the next, lower,
    # one a minute before it begins.
    (_profile("A", (0, 6.0), (1200, 16.0), (3600, 10.0)),
     EmspCap(Decimal("16.0"), None, None, NOW + timedelta(minutes=29))),
    # Ends an hour after the session's start.
    (_profile("W", (0, 11040.0), duration=3600, min_charging_rate=4140.0),
     EmspCap(Decimal("16.0"), Decimal("6.0"), STARTED + timedelta(hours=1),
             STARTED + timedelta(hours=1))),
    # Absolute, beginning at 18:00: nothing yet, until a minute before.
    (_profile("A", (0, 20.0), (600, 12.5), start_date_time="2026-12-04T18:00:00Z", duration=7200),
     EmspCap(None, None, datetime(2026, 12, 4, 20, 0, tzinfo=UTC),
             datetime(2026, 12, 4, 17, 59, tzinfo=UTC))),
    # Absolute, begun: its first period is over, its last lasts.
    (_profile("A", (0, 6.0), (600, 12.0), start_date_time="2026-12-04T11:00:00Z"),
     EmspCap(Decimal("12.0"), None, None, None)),
    # A lower period within the lead applies now.
    (_profile("A", (0, 16.0), (3630, 10.0), start_date_time="2026-12-04T11:00:00Z"),
     EmspCap(Decimal("10.0"), None, None, NOW + timedelta(seconds=30))),
    # The car's minimum above the maximum: held to the maximum.
    (_profile("A", (0, 6.0), min_charging_rate=8.0),
     EmspCap(Decimal("6.0"), Decimal("6.0"), None, None)),
]


@pytest.mark.parametrize(("raw", "cap"), CAPS)
def test_profile_to_cap(raw: dict[str, Any], cap: EmspCap) -> None:
    assert not problems("ChargingProfile", raw)
    assert emsp_cap(read_profile(raw), STARTED, NOW, AC3, LEAD) == cap


def test_the_cap_follows_the_periods() -> None:
    """Computed again at each next_change: lowered a minute early, raised on time, then over."""
    profile = read_profile(_profile("A", (0, 16.0), (600, 8.0), (1200, 12.0), duration=1800,
                                    start_date_time="2026-12-04T12:00:00Z"))
    seen, at = [], NOW
    while True:
        try:
            cap = emsp_cap(profile, STARTED, at, AC3, LEAD)
        except ProfileError:
            break
        seen.append((int((at - NOW).total_seconds()), cap.max_amps))
        assert cap.next_change is not None and cap.next_change > at
        at = cap.next_change
    assert at == NOW + timedelta(seconds=1800)
    assert seen == [(0, Decimal(16)), (540, Decimal(8)), (600, Decimal(8)), (1140, Decimal(8)),
                    (1200, Decimal(12))]


def test_an_ended_profile_is_refused() -> None:
    ended = read_profile(_profile("A", (0, 6.0), duration=1800))  # ended with now
    with pytest.raises(ProfileError, match="ends before now"):
        emsp_cap(ended, STARTED, NOW, AC3, LEAD)


def test_read_profile() -> None:
    raw = _profile("W", (0, 7400), (900, 3700.5), duration=3600,
                   start_date_time="2026-12-04T12:00:00.250Z", min_charging_rate=1380,
                   vendor_extra={"x": 1})
    read = read_profile(raw)
    assert read == OcpiProfile(
        RateUnit.WATTS, (SchedulePeriod(0, 7400.0), SchedulePeriod(900, 3700.5)),
        NOW + timedelta(milliseconds=250), 3600, 1380.0)
    # What is kept with the cap: what we understood, in OCPI's form (valid), nothing else.
    kept = profile_json(read)
    assert kept == {**_profile("W", (0, 7400.0), (900, 3700.5)), "duration": 3600,
                    "start_date_time": "2026-12-04T12:00:00Z", "min_charging_rate": 1380.0}
    assert not problems("ChargingProfile", kept)


@pytest.mark.parametrize(("value", "seconds"), [("900", 900), ("1", 1), ("604800", 604800),
                                                 ("99999999999", 604800)])
def test_duration(value: str, seconds: int) -> None:
    assert read_duration(value) == seconds


BAD: list[tuple[Any, str]] = [
    (None, "body must be a SetChargingProfile object"),
    ({"response_url": "http://e/r"}, "charging_profile must be a ChargingProfile object"),
    ({"charging_profile": _profile("kW", (0, 1.0)), "response_url": "http://e/r"},
     "charging_rate_unit must be A or W"),
    ({"charging_profile": {"charging_rate_unit": "A"}, "response_url": "http://e/r"},
     "must list at least one period"),
    ({"charging_profile": _profile("A", (0, True)), "response_url": "http://e/r"}, "limit of 0"),
    ({"charging_profile": _profile("A", (0.5, 1.0)), "response_url": "http://e/r"},
     "whole start_period"),
    ({"charging_profile": _profile("A", (0, float("nan"))), "response_url": "http://e/r"},
     "limit of 0"),
    ({"charging_profile": _profile("A", (0, 1.0), (0, 2.0)), "response_url": "http://e/r"},
     "increasing"),
    ({"charging_profile": _profile("A", (0, 1.0), duration=1.5), "response_url": "http://e/r"},
     "duration"),
    ({"charging_profile": _profile("A", (0, 1.0), start_date_time="noon"),
      "response_url": "http://e/r"}, "start_date_time"),
    ({"charging_profile": _profile("A", *((n * 60, 1.0) for n in range(1025))),
      "response_url": "http://e/r"}, "at most 1024 periods"),
    ({"charging_profile": _profile("A", (0, 1.0))}, "response_url is missing"),
    ({"charging_profile": _profile("A", (0, 1.0)), "response_url": "http://e/" + "r" * 300},
     "at most 255"),
]


@pytest.mark.parametrize(("body", "reason"), BAD)
def test_bad_set_charging_profile(body: Any, reason: str) -> None:
    with pytest.raises(ProfileError, match=reason):
        read_set_charging_profile(body)


@pytest.mark.parametrize("value", [None, "", "0", "-1", "1.5", "ten"])
def test_bad_duration(value: str | None) -> None:
    with pytest.raises(ProfileError, match="duration"):
        read_duration(value)


# (the charger's composite schedule, the ActiveChargingProfile we post)
ACTIVE: list[tuple[CompositeSchedule | None, dict[str, Any]]] = [
    (CompositeSchedule(1, NOW, 900, RateUnit.AMPERES,
                       (SchedulePeriod(0, 10.0), SchedulePeriod(600, 6.04, 3))),
     {"start_date_time": "2026-12-04T12:00:00Z", "charging_profile": {
         "start_date_time": "2026-12-04T12:00:00Z", "duration": 900, "charging_rate_unit": "A",
         "charging_profile_period": [{"start_period": 0, "limit": 10.0},
                                     {"start_period": 600, "limit": 6.0}]}}),
    # Another offset on our side: UTC with a Z on the wire, whole seconds.
    (CompositeSchedule(1, datetime(2026, 12, 4, 13, 0, 5, 700000,
                                   tzinfo=timezone(timedelta(hours=1))),
                       None, RateUnit.WATTS, (SchedulePeriod(0, 11040.0),)),
     {"start_date_time": "2026-12-04T12:00:05Z", "charging_profile": {
         "start_date_time": "2026-12-04T12:00:05Z", "charging_rate_unit": "W",
         "charging_profile_period": [{"start_period": 0, "limit": 11040.0}]}}),
    # Nothing limits the EVSE: its maximum (OCPI 2.2.1, ChargingProfiles, Sender PUT).
    (CompositeSchedule(1, None, 60, RateUnit.AMPERES, ()),
     {"start_date_time": "2026-12-04T12:00:00Z", "charging_profile": {
         "start_date_time": "2026-12-04T12:00:00Z", "charging_rate_unit": "A",
         "charging_profile_period": [{"start_period": 0, "limit": 32.0}]}}),
    (None, {"start_date_time": "2026-12-04T12:00:00Z", "charging_profile": {
        "start_date_time": "2026-12-04T12:00:00Z", "charging_rate_unit": "A",
        "charging_profile_period": [{"start_period": 0, "limit": 32.0}]}}),
]


@pytest.mark.parametrize(("schedule", "active"), ACTIVE)
def test_composite_to_active_profile(schedule: CompositeSchedule | None,
                                     active: dict[str, Any]) -> None:
    assert active_charging_profile(schedule, NOW, 32.0) == active
    assert not problems("ActiveChargingProfile", active)
    assert not problems("ActiveChargingProfileResult", active_result(active))


@pytest.mark.parametrize(("result", "schema", "expected"), [
    (set_result(True), "ChargingProfileResult", "ACCEPTED"),
    (set_result(False), "ChargingProfileResult", "REJECTED"),
    (clear_result(held=True, accepted=True), "ClearProfileResult", "ACCEPTED"),
    (clear_result(held=True, accepted=False), "ClearProfileResult", "REJECTED"),
    (clear_result(held=False, accepted=False), "ClearProfileResult", "UNKNOWN"),
    (active_result(None), "ActiveChargingProfileResult", "REJECTED"),
])
def test_results(result: dict[str, Any], schema: str, expected: str) -> None:
    assert result["result"] == expected and not problems(schema, result)
