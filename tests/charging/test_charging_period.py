"""When energy flowed in a session: the pure rules, table-driven."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from csms.domain.charging import Reading, charging_period, first_increase
from csms.domain.model import ENERGY_REGISTER, MeterSample

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def meter(*readings: tuple[int, float]) -> list[Reading]:
    return [(at(m), wh) for m, wh in readings]


def samples(*readings: tuple[int, float], phase: str | None = None) -> list[MeterSample]:
    return [MeterSample(t, ENERGY_REGISTER, wh, "Wh", phase=phase) for t, wh in meter(*readings)]


@pytest.mark.parametrize(("batch", "level", "first"), [
    (samples((1, 1000.0), (2, 1000.0)), 1000.0, None),  # the meter stands still
    (samples((3, 2000.0), (1, 1000.0), (2, 1500.0)), 1000.0, at(2)),  # in any order
    (samples((1, 5000.0), (2, 5500.0)), None, at(2)),  # no level known: the first reading is it
    (samples((1, 9000.0), phase="L1"), 1000.0, None),  # a phase's register is not the meter's
])
def test_first_increase(batch: list[MeterSample], level: float | None,
                        first: datetime | None) -> None:
    assert first_increase(batch, level) == first


# A session from 9:00 to 10:00, its meter at 1000 Wh when it started.
@pytest.mark.parametrize(("charging_state", "readings", "meter_stop_wh", "period"), [
    # Energy from 9:10 to 9:40.
    (None, meter((5, 1000.0), (10, 2000.0), (40, 5000.0), (50, 5000.0)), 5000.0, (at(10), at(40))),
    (None, meter((5, 1000.0), (10, 2000.0), (40, 5000.0), (50, 5000.0)), None, (at(10), at(40))),
    # The charger said Charging before the meter showed it.
    (at(8), meter((10, 2000.0), (40, 5000.0)), 5000.0, (at(8), at(40))),
    # Stopped while charging: more at the stop than last read.
    (None, meter((10, 2000.0), (40, 5000.0)), 5400.0, (at(10), at(60))),
    # A charger that sends no readings, but energy at the stop: the whole session.
    (None, [], 5000.0, (at(0), at(60))),
    # No energy at all: a charging process of no length at the session's start ...
    (None, meter((30, 1000.0)), 1000.0, (at(0), at(0))),
    # ... or where the charger said it was charging.
    (at(5), meter((30, 1000.0)), 1000.0, (at(5), at(5))),
    # A charger's clock off: never outside the session.
    (at(-1), meter((70, 5000.0)), 5000.0, (at(0), at(60))),
])
def test_charging_period(charging_state: datetime | None, readings: list[Reading],
                         meter_stop_wh: float | None, period: tuple[datetime, datetime]) -> None:
    assert charging_period(at(0), at(60), charging_state, readings, 1000.0, meter_stop_wh) == period


def test_without_a_meter_start_the_first_reading_is_the_level() -> None:
    readings = meter((1, 7000.0), (20, 7000.0), (30, 9000.0), (45, 9000.0))
    assert charging_period(at(0), at(60), None, readings, None, 9000.0) == (at(30), at(30))
