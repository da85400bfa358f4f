"""What we intend an EVSE to draw and where a charger's composite schedule differs from it (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from csms.domain.energy.external_limits import Electrics
from csms.domain.energy.intended import Held, Mismatch, intended, mismatches
from csms.domain.energy.smart_charging import (
    ChargingProfile,
    CompositeSchedule,
    Kind,
    Purpose,
    RateUnit,
    Recurrency,
    SchedulePeriod,
)

START = datetime(2026, 12, 4, 6, 0, tzinfo=UTC)


def _profile(profile_id: int, purpose: Purpose, level: int, *periods: tuple[int, float],
             kind: Kind = Kind.RELATIVE, unit: RateUnit = RateUnit.AMPERES,
             **extra: object) -> ChargingProfile:
    return ChargingProfile(profile_id, level, purpose, kind, unit,
                           tuple(SchedulePeriod(s, limit) for s, limit in periods),
                           **extra)  # type: ignore[arg-type]


def _limits(schedule: CompositeSchedule) -> list[tuple[int, float]]:
    return [(p.start, p.limit) for p in schedule.periods]


@pytest.mark.parametrize(("held", "evse", "allowance", "unit", "expected"), [
    # Nothing of ours: no limit (-1).
    ([], 1, None, RateUnit.AMPERES, [(0, -1.0)]),
    # The load manager's allowance alone.
    ([], 1, Decimal("12.5"), RateUnit.AMPERES, [(0, 12.5)]),
    # An EVSE's TxDefault, capped by the charger's maximum, and the allowance on top.
    ([Held(1, _profile(1, Purpose.TX_DEFAULT, 0, (0, 32.0), (600, 8.0))),
      Held(0, _profile(2, Purpose.CHARGER_MAX, 0, (0, 20.0)))], 1, None, RateUnit.AMPERES,
     [(0, 20.0), (600, 8.0)]),
    ([Held(1, _profile(1, Purpose.TX_DEFAULT, 0, (0, 32.0), (600, 8.0)))], 1, Decimal("16"),
     RateUnit.AMPERES, [(0, 16.0), (600, 8.0)]),
    # A Tx profile over the TxDefault; the higher stack level wins; another EVSE's does not count.
    ([Held(1, _profile(1, Purpose.TX_DEFAULT, 0, (0, 32.0))),
      Held(1, _profile(2, Purpose.TX, 0, (0, 10.0))),
      Held(1, _profile(3, Purpose.TX, 1, (0, 14.0))),
      Held(2, _profile(4, Purpose.TX, 2, (0, 6.0)))], 1, None, RateUnit.AMPERES, [(0, 14.0)]),
    # The charger-wide TxDefault when the EVSE has none of its own.
    ([Held(0, _profile(1, Purpose.TX_DEFAULT, 0, (0, 11.0)))], 2, None, RateUnit.AMPERES,
     [(0, 11.0)]),
    # Absolute with a duration and validity: in force only then.
    ([Held(1, _profile(1, Purpose.TX_DEFAULT, 1, (0, 10.0), kind=Kind.ABSOLUTE,
                       starts_at=START + timedelta(seconds=300), duration=600)),
      Held(1, _profile(2, Purpose.TX_DEFAULT, 0, (0, 16.0),
                       valid_to=START + timedelta(seconds=1200)))],
     1, None, RateUnit.AMPERES, [(0, 16.0), (300, 10.0), (900, 16.0), (1200, -1.0)]),
    # Recurring daily: the next cycle counts again.
    ([Held(1, _profile(1, Purpose.TX_DEFAULT, 0, (0, 6.0), (3600, 16.0), kind=Kind.RECURRING,
                       recurrency=Recurrency.DAILY, starts_at=START - timedelta(days=3)))],
     1, None, RateUnit.AMPERES, [(0, 6.0), (3600, 16.0), (86400, 6.0), (90000, 16.0)]),
    # W asked: A profiles and the allowance converted with the EVSE's 230 V, three phases.
    ([Held(1, _profile(1, Purpose.TX_DEFAULT, 0, (0, 16.0)))], 1, Decimal("10"),
     RateUnit.WATTS, [(0, 6900.0)]),
    # The whole charger (evse 0): its maximum only.
    ([Held(1, _profile(1, Purpose.TX, 0, (0, 8.0))),
      Held(0, _profile(2, Purpose.CHARGER_MAX, 0, (0, 40.0)))], 0, None, RateUnit.AMPERES,
     [(0, 40.0)]),
])
def test_intended(held: list[Held], evse: int, allowance: Decimal | None, unit: RateUnit,
                  expected: list[tuple[int, float]]) -> None:
    assert _limits(intended(held, evse, START, 2 * 86400, unit, allowance,
                            Electrics(230, 3))) == expected


def _schedule(*periods: tuple[int, float], start: datetime = START,
              duration: int = 3600) -> CompositeSchedule:
    return CompositeSchedule(1, start, duration, RateUnit.AMPERES,
                             tuple(SchedulePeriod(s, limit) for s, limit in periods))


@pytest.mark.parametrize(("reported", "ours", "found"), [
    # The same: nothing.
    (_schedule((0, 16.0), (600, 8.0)), _schedule((0, 16.0), (600, 8.0)), []),
    # Within 0.1 A: nothing; beyond it: the period.
    (_schedule((0, 16.1)), _schedule((0, 16.0)), []),
    (_schedule((0, 16.2)), _schedule((0, 16.0)), [Mismatch(0, 3600, 16.2, 16.0)]),
    # Differing in part: only that part, merged while the two values stay the same; lower than
    # ours differs too.
    (_schedule((0, 16.0), (600, 16.0), (1200, 8.0)), _schedule((0, 16.0), (600, 10.0)),
     [Mismatch(600, 1200, 16.0, 10.0), Mismatch(1200, 3600, 8.0, 10.0)]),
    (_schedule((0, 16.0), (600, 16.0), (1200, 16.0)), _schedule((0, 16.0), (600, 10.0)),
     [Mismatch(600, 3600, 16.0, 10.0)]),
    (_schedule((0, 32.0)), _schedule((0, 10.0), (600, 12.0)),
     [Mismatch(0, 600, 32.0, 10.0), Mismatch(600, 3600, 32.0, 12.0)]),
    # The charger's own rating where we intend no limit: no mismatch; no limit where we do: one.
    (_schedule((0, 32.0)), _schedule((0, -1.0)), []),
    (_schedule((0, -1.0)), _schedule((0, 10.0)), [Mismatch(0, 3600, None, 10.0)]),
    # Ours computed from earlier: shifted to the reported start.
    (_schedule((0, 8.0), start=START + timedelta(seconds=600)),
     _schedule((0, 16.0), (600, 8.0), duration=7200), []),
    (_schedule((0, 16.0), start=START + timedelta(seconds=300)),
     _schedule((0, 16.0), (600, 8.0), duration=7200), [Mismatch(300, 3600, 16.0, 8.0)]),
])
def test_mismatches(reported: CompositeSchedule, ours: CompositeSchedule,
                    found: list[Mismatch]) -> None:
    assert mismatches(reported, ours) == found
