"""Charging profiles: domain checks and the 1.6 / 2.0.1 wire mappings, valid against the schemas."""

from __future__ import annotations

from dataclasses import replace as replace_
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from ocpp.charge_point import snake_to_camel_case
from ocpp.messages import Call, CallResult, validate_payload

from csms.domain.energy.external_limits import (
    Cap,
    Electrics,
    EvNeeds,
    amps_per_phase,
    cap_of_needs,
    cap_of_schedule,
    schedule_above,
)
from csms.domain.energy.smart_charging import (
    ChargingProfile,
    CompositeSchedule,
    Kind,
    Purpose,
    RateUnit,
    Recurrency,
    SchedulePeriod,
    problem,
    profile_from_dict,
    remote_start_problem,
    to_dict,
)
from csms.ocpp.translations.charging_profiles import (
    clear_16,
    clear_201,
    composite_16,
    composite_201,
    composite_from_16,
    composite_from_201,
    criteria_201,
    needs_from_201,
    profile_16,
    profile_201,
    profile_from_16,
    profile_from_201,
    reported_from_201,
    schedule_from_201,
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


# --- K09, K11-K17, remote start with a profile ------------------------------------------------

TX = ChargingProfile(7, 1, Purpose.TX, Kind.RELATIVE, RateUnit.AMPERES, (SchedulePeriod(0, 10.0),))


@pytest.mark.parametrize(("profile", "reason"), [
    (TX, None),
    (replace_(TX, purpose=Purpose.TX_DEFAULT), "a remote start's profile must be a Tx profile"),
    (replace_(TX, transaction_id="5"),
     "a remote start's profile has no transaction id: the transaction is yet to start"),
    (replace_(TX, periods=()), "a schedule needs at least one period"),
])
def test_remote_start_problem(profile: ChargingProfile, reason: str | None) -> None:
    assert remote_start_problem(profile) == reason


async def test_remote_start_profile_fits_both_schemas() -> None:
    await validate_payload(Call(unique_id="1", action="RemoteStartTransaction",
                                payload=snake_to_camel_case({"id_tag": "T", "connector_id": 1,
                                                             "charging_profile": profile_16(TX)})),
                           "1.6")
    await validate_payload(Call(unique_id="1", action="RequestStartTransaction",
                                payload=snake_to_camel_case({
                                    "id_token": {"id_token": "T", "type": "ISO14443"},
                                    "remote_start_id": 1, "charging_profile": profile_201(TX)})),
                           "2.0.1")


@pytest.mark.parametrize(("args", "wire"), [
    ((None, None, None, None, None), {"charging_profile": {}}),
    ((1, Purpose.TX, 2, ["CSO", "SO"], [3, 4]), {
        "evse_id": 1, "charging_profile": {
            "charging_profile_purpose": "TxProfile", "stack_level": 2,
            "charging_profile_id": [3, 4], "charging_limit_source": ["CSO", "SO"]}}),
    ((0, Purpose.CHARGER_MAX, None, None, []), {
        "evse_id": 0, "charging_profile": {"charging_profile_purpose":
                                           "ChargingStationMaxProfile"}}),
])
async def test_get_charging_profiles_criteria(args: tuple, wire: dict) -> None:
    assert criteria_201(*args) == wire
    await validate_payload(Call(unique_id="1", action="GetChargingProfiles",
                                payload=snake_to_camel_case({"request_id": 9, **wire})), "2.0.1")


async def test_reported_profiles_ours_and_external() -> None:
    external = {**profile_201(PROFILES[0]), "charging_profile_purpose":
                "ChargingStationExternalConstraints"}
    report = {"request_id": 9, "charging_limit_source": "SO", "evse_id": 1, "tbc": True,
              "charging_profile": [profile_201(PROFILES[1]), external]}
    await validate_payload(Call(unique_id="1", action="ReportChargingProfiles",
                                payload=snake_to_camel_case(report)), "2.0.1")
    assert reported_from_201(report) == [
        {"evse": 1, "source": "SO", "profile": to_dict(PROFILES[1])},
        {"evse": 1, "source": "SO", "external": external}]


SCHEDULE = {"id": 1, "start_schedule": "2026-12-04T06:00:00Z", "duration": 3600,
            "charging_rate_unit": "W",
            "charging_schedule_period": [{"start_period": 0, "limit": 11000.0},
                                         {"start_period": 600, "limit": 3680.0,
                                          "number_phases": 1}]}


def test_schedule_from_201() -> None:
    assert schedule_from_201(SCHEDULE, 2) == CompositeSchedule(
        2, START, 3600, RateUnit.WATTS, (SchedulePeriod(0, 11000.0), SchedulePeriod(600, 3680.0, 1)))


@pytest.mark.parametrize(("raw", "needs"), [
    ({"requested_energy_transfer": "AC_three_phase", "departure_time": "2026-12-04T06:00:00Z",
      "ac_charging_parameters": {"energy_amount": 20000, "ev_min_current": 6,
                                 "ev_max_current": 16, "ev_max_voltage": 400}},
     EvNeeds("AC_three_phase", 16, 6, 400, None, 20000, START)),
    ({"requested_energy_transfer": "DC",
      "dc_charging_parameters": {"ev_max_current": 125, "ev_max_voltage": 800,
                                 "ev_max_power": 50000}},
     EvNeeds("DC", 125, None, 800, 50000, None, None)),
])
async def test_needs_from_201(raw: dict, needs: EvNeeds) -> None:
    await validate_payload(Call(unique_id="1", action="NotifyEVChargingNeeds", payload=
                                snake_to_camel_case({"evse_id": 1, "charging_needs": raw})), "2.0.1")
    assert needs_from_201(raw) == needs


THREE = Electrics(230, 3)


@pytest.mark.parametrize(("limit", "unit", "electrics", "phases", "amps"), [
    (16.0, RateUnit.AMPERES, THREE, None, Decimal("16.0")),
    (16.07, RateUnit.AMPERES, THREE, None, Decimal("16.0")),  # rounded down, never above
    (11040.0, RateUnit.WATTS, THREE, None, Decimal("16.0")),
    (11000.0, RateUnit.WATTS, THREE, None, Decimal("15.9")),
    (3680.0, RateUnit.WATTS, THREE, 1, Decimal("16.0")),  # the period's phases win
    (7360.0, RateUnit.WATTS, Electrics(230, 1), None, Decimal("32.0")),
    (-5.0, RateUnit.AMPERES, THREE, None, Decimal("0")),
])
def test_amps_per_phase(limit: float, unit: RateUnit, electrics: Electrics, phases: int | None,
                        amps: Decimal) -> None:
    assert amps_per_phase(limit, unit, electrics, phases) == amps


def _schedule(*periods: tuple[int, float], unit: RateUnit = RateUnit.AMPERES,
              duration: int | None = None) -> CompositeSchedule:
    return CompositeSchedule(0, START, duration, unit,
                             tuple(SchedulePeriod(s, limit) for s, limit in periods))


@pytest.mark.parametrize(("schedule", "seconds", "cap"), [
    (None, 0, Cap(None)),
    (_schedule((0, 20.0)), 0, Cap(Decimal("20.0"))),
    # The lowest from now on: a later lower period counts at once, an earlier one no more.
    (_schedule((0, 20.0), (600, 10.0)), 0, Cap(Decimal("10.0"))),
    (_schedule((0, 10.0), (600, 20.0)), 700, Cap(Decimal("20.0"))),
    (_schedule((0, 10.0), (600, 20.0), (900, 16.0)), 700, Cap(Decimal("16.0"))),
    (_schedule((0, 11040.0), unit=RateUnit.WATTS, duration=3600), 0,
     Cap(Decimal("16.0"), until=START + timedelta(hours=1))),
])
def test_cap_of_schedule(schedule: CompositeSchedule | None, seconds: int, cap: Cap) -> None:
    assert cap_of_schedule(schedule, THREE, START + timedelta(seconds=seconds)) == cap


@pytest.mark.parametrize(("needs", "cap"), [
    (EvNeeds("AC_three_phase", 16, 6), Cap(Decimal("16.0"), Decimal("6.0"))),
    (EvNeeds("AC_single_phase", 32), Cap(Decimal("32.0"))),
    (EvNeeds("DC", 125, max_power=22080), Cap(Decimal("32.0"))),  # W over the EVSE's 3x230 V
    (EvNeeds("DC", 125), Cap(None)),
])
def test_cap_of_needs(needs: EvNeeds, cap: Cap) -> None:
    assert cap_of_needs(needs, THREE) == cap


@pytest.mark.parametrize(("schedule", "allowed", "above"), [
    (_schedule((0, 16.0)), Decimal("16"), None),
    (_schedule((0, 16.1)), Decimal("16"), None),  # within the tolerance
    (_schedule((0, 16.0), (60, 16.2)), Decimal("16"), SchedulePeriod(60, 16.2)),
    (_schedule((0, 11040.0), unit=RateUnit.WATTS), Decimal("16"), None),
    (_schedule((0, 22080.0), unit=RateUnit.WATTS), Decimal("16"), SchedulePeriod(0, 22080.0)),
    (_schedule((0, 80.0)), None, None),  # nothing of ours limits it
])
def test_schedule_above(schedule: CompositeSchedule, allowed: Decimal | None,
                        above: SchedulePeriod | None) -> None:
    assert schedule_above(schedule, allowed, THREE) == above
