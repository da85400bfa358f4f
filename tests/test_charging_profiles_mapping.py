"""Charging profiles: domain checks and the 1.6 / 2.0.1 wire mappings, valid against the schemas."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from ocpp.charge_point import snake_to_camel_case
from ocpp.messages import Call, CallResult, validate_payload

from csms.domain.energy.smart_charging import (
    ChargingProfile,
    Kind,
    Purpose,
    RateUnit,
    Recurrency,
    SchedulePeriod,
    problem,
    profile_from_dict,
    to_dict,
)
from csms.ocpp.translations.charging_profiles import (
    clear_16,
    clear_201,
    composite_16,
    composite_201,
    composite_from_16,
    composite_from_201,
    profile_16,
    profile_201,
    profile_from_16,
    profile_from_201,
)

START = datetime(2026, 12, 4, 6, 0, tzinfo=UTC)
PERIODS = (SchedulePeriod(0, 32.0, 3), SchedulePeriod(3600, 16.0))

PROFILES = [
    ChargingProfile(1, 0, Purpose.CHARGER_MAX, Kind.ABSOLUTE, RateUnit.AMPERES, PERIODS,
                    starts_at=START),
    ChargingProfile(2, 1, Purpose.TX_DEFAULT, Kind.RECURRING, RateUnit.WATTS,
                    (SchedulePeriod(0, 11000.0), SchedulePeriod(28800, 7400.0, 1)),
                    recurrency=Recurrency.DAILY, starts_at=START, duration=86400,
                    valid_from=START, valid_to=datetime(2027, 1, 1, tzinfo=UTC), min_rate=6.0),
    ChargingProfile(3, 2, Purpose.TX, Kind.RELATIVE, RateUnit.AMPERES, (SchedulePeriod(0, 10.0),),
                    transaction_id="42"),
    ChargingProfile(4, 3, Purpose.TX_DEFAULT, Kind.RECURRING, RateUnit.AMPERES, PERIODS,
                    recurrency=Recurrency.WEEKLY, starts_at=START),
]


@pytest.mark.parametrize("profile", PROFILES)
async def test_profile_16_round_trips_and_fits_the_schema(profile: ChargingProfile) -> None:
    assert problem(profile) is None
    wire = profile_16(profile)
    payload = snake_to_camel_case({"connector_id": 1, "cs_charging_profiles": wire})
    await validate_payload(Call(unique_id="1", action="SetChargingProfile", payload=payload), "1.6")
    assert profile_from_16(wire) == profile


@pytest.mark.parametrize("profile", PROFILES)
async def test_profile_201_round_trips_and_fits_the_schema(profile: ChargingProfile) -> None:
    wire = profile_201(profile)
    payload = snake_to_camel_case({"evse_id": 1, "charging_profile": wire})
    await validate_payload(Call(unique_id="1", action="SetChargingProfile", payload=payload),
                           "2.0.1")
    assert profile_from_201(wire) == profile


def test_purposes_use_each_versions_words() -> None:
    assert profile_16(PROFILES[0])["charging_profile_purpose"] == "ChargePointMaxProfile"
    assert profile_201(PROFILES[0])["charging_profile_purpose"] == "ChargingStationMaxProfile"
    assert profile_16(PROFILES[2])["transaction_id"] == 42  # a number in 1.6, a string in 2.0.1
    assert profile_201(PROFILES[2])["transaction_id"] == "42"


@pytest.mark.parametrize(("args", "wire_16", "wire_201"), [
    ((None, None, None, None), {}, {}),
    ((7, None, None, None), {"id": 7}, {"charging_profile_id": 7}),
    ((None, 1, Purpose.TX_DEFAULT, 2), {"connector_id": 1, "charging_profile_purpose":
                                        "TxDefaultProfile", "stack_level": 2},
     {"charging_profile_criteria": {"evse_id": 1, "charging_profile_purpose": "TxDefaultProfile",
                                    "stack_level": 2}}),
    ((None, None, Purpose.CHARGER_MAX, None),
     {"charging_profile_purpose": "ChargePointMaxProfile"},
     {"charging_profile_criteria": {"charging_profile_purpose": "ChargingStationMaxProfile"}}),
])
async def test_clear_criteria(args: tuple, wire_16: dict, wire_201: dict) -> None:
    assert clear_16(*args) == wire_16
    assert clear_201(*args) == wire_201
    await validate_payload(Call(unique_id="1", action="ClearChargingProfile",
                                payload=snake_to_camel_case(wire_16)), "1.6")
    await validate_payload(Call(unique_id="1", action="ClearChargingProfile",
                                payload=snake_to_camel_case(wire_201)), "2.0.1")


async def test_composite_schedules_round_trip() -> None:
    from csms.domain.energy.smart_charging import CompositeSchedule
    schedule = CompositeSchedule(1, START, 7200, RateUnit.AMPERES, PERIODS)
    answer_16 = composite_16(schedule)
    await validate_payload(CallResult(unique_id="1", action="GetCompositeSchedule",
                                      payload=snake_to_camel_case(answer_16)), "1.6")
    assert composite_from_16(answer_16, 1) == schedule
    answer_201 = composite_201(schedule)
    await validate_payload(CallResult(unique_id="1", action="GetCompositeSchedule",
                                      payload=snake_to_camel_case(answer_201)), "2.0.1")
    assert composite_from_201(answer_201) == schedule
    assert composite_from_16({"status": "Rejected"}, 1) is None
    assert composite_from_201({"status": "Rejected"}) is None


@pytest.mark.parametrize(("change", "reason"), [
    ({"id": 0}, "the profile id must be positive"),
    ({"stack_level": -1}, "the stack level must not be negative"),
    ({"periods": ()}, "a schedule needs at least one period"),
    ({"periods": (SchedulePeriod(60, 10.0),)}, "the first period must start at 0"),
    ({"periods": (SchedulePeriod(0, 10.0), SchedulePeriod(0, 8.0))},
     "periods must start at increasing offsets"),
    ({"periods": (SchedulePeriod(0, -1.0),)}, "a limit must not be negative"),
    ({"periods": (SchedulePeriod(0, 10.0, 4),)}, "phases must be 1, 2 or 3"),
    ({"kind": Kind.RECURRING}, "a recurring profile needs a recurrency and a start"),
    ({"recurrency": Recurrency.DAILY}, "only a recurring profile has a recurrency"),
    ({"kind": Kind.RELATIVE}, "a relative profile has no start"),
    ({"duration": 0}, "the duration must be positive"),
    ({"valid_from": START, "valid_to": START}, "valid_to must be after valid_from"),
    ({"transaction_id": "1"}, "only a Tx profile belongs to a transaction"),
])
def test_problems(change: dict, reason: str) -> None:
    from dataclasses import replace
    assert problem(replace(PROFILES[0], **change)) == reason


@pytest.mark.parametrize("profile", PROFILES)
def test_json_form_round_trips(profile: ChargingProfile) -> None:
    assert profile_from_dict(to_dict(profile)) == profile
