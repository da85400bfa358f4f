"""When energy flowed in a session: the pure rules, table-driven."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from csms.charging import Flow, charging_period, energy_flow
from csms.domain import ENERGY_REGISTER, MeterSample

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def register(*readings: tuple[int, float], phase: str | None = None) -> list[MeterSample]:
    return [MeterSample(at(m), ENERGY_REGISTER, wh, "Wh", phase=phase) for m, wh in readings]


@pytest.mark.parametrize(("before", "samples", "after"), [
    # The meter stands still: no energy, nothing to say but the level.
    (Flow(None, None, 1000.0), register((1, 1000.0), (2, 1000.0)), Flow(None, None, 1000.0)),
    # The first and the last increase, whatever order the readings come in.
    (Flow(None, None, 1000.0), register((4, 2000.0), (1, 1000.0), (2, 1500.0), (3, 2000.0)),
     Flow(at(2), at(3), 2000.0)),
    # A later batch moves only the end.
    (Flow(at(2), at(3), 2000.0), register((5, 2500.0)), Flow(at(2), at(5), 2500.0)),
    # The Charging state came first: it stays the start.
    (Flow(at(1), None, 1000.0), register((3, 1200.0)), Flow(at(1), at(3), 1200.0)),
    # No meter start known: the first reading is the level, not energy.
    (Flow(None, None, None), register((1, 5000.0), (2, 5500.0)), Flow(at(2), at(2), 5500.0)),
    # Per-phase registers are not the whole meter.
    (Flow(None, None, 1000.0), register((1, 9000.0), phase="L1"), Flow(None, None, 1000.0)),
])
def test_energy_flow(before: Flow, samples: list[MeterSample], after: Flow) -> None:
    assert energy_flow(before, samples) == after


@pytest.mark.parametrize(("flow", "meter_stop_wh", "period"), [
    # Energy from 9:10 to 9:40 in a session of 9:00 to 10:00.
    (Flow(at(10), at(40), 5000.0), 5000.0, (at(10), at(40))),
    (Flow(at(10), at(40), 5000.0), None, (at(10), at(40))),
    # Stopped while charging: more energy at the stop than last seen.
    (Flow(at(10), at(40), 5000.0), 5400.0, (at(10), at(60))),
    # A charger that reports no readings, but energy at the stop: the whole session.
    (Flow(None, None, 1000.0), 5000.0, (at(0), at(60))),
    # No energy at all: a charging process of no length at the session's start ...
    (Flow(None, None, 1000.0), 1000.0, (at(0), at(0))),
    # ... or where the charger said it was charging.
    (Flow(at(5), None, 1000.0), 1000.0, (at(5), at(5))),
    # A charger's clock ahead of ours: never outside the session.
    (Flow(at(-1), at(70), 5000.0), 5000.0, (at(0), at(60))),
])
def test_charging_period(flow: Flow, meter_stop_wh: float | None,
                         period: tuple[datetime, datetime]) -> None:
    assert charging_period(at(0), at(60), flow, meter_stop_wh) == period
