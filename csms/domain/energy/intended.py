"""What we intend an EVSE to draw, from the profiles a charger accepted and the load manager's
allowance, and where the composite schedule the charger reports differs from it (pure)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from csms.domain.energy.external_limits import Electrics
from csms.domain.energy.smart_charging import (
    ChargingProfile,
    CompositeSchedule,
    Kind,
    Purpose,
    RateUnit,
    Recurrency,
    SchedulePeriod,
)

# Limits closer than this are the same (rounding on either side of the wire).
TOLERANCE = 0.1
STANDARD = Electrics()  # 230 V, three phases
CYCLE = {Recurrency.DAILY: 86400, Recurrency.WEEKLY: 7 * 86400}


@dataclass(frozen=True)
class Held:
    """A profile a charger accepted, on an EVSE (0: the whole charger)."""

    evse: int
    profile: ChargingProfile


def _origin(profile: ChargingProfile, at: datetime, start: datetime) -> datetime:
    """When the profile's schedule (its current cycle) began, seen at `at`. A Relative one is
    counted from the composite's start, as the charger does for a transaction under way."""
    origin = profile.starts_at or start
    if profile.kind is Kind.RECURRING and profile.recurrency in CYCLE:
        cycle = CYCLE[profile.recurrency]
        cycles = int((at - origin).total_seconds() // cycle) if at > origin else 0
        return origin + timedelta(seconds=cycles * cycle)
    return origin


def _limit_at(profile: ChargingProfile, at: datetime, start: datetime,
              unit: RateUnit, electrics: Electrics) -> float | None:
    if (profile.valid_from and at < profile.valid_from) or (
            profile.valid_to and at >= profile.valid_to):
        return None
    offset = (at - _origin(profile, at, start)).total_seconds()
    if offset < 0 or (profile.duration is not None and offset >= profile.duration):
        return None
    found = None
    for period in profile.periods:
        if period.start <= offset:
            found = period
    if found is None:
        return None
    if profile.unit is unit:
        return found.limit
    volts_phases = electrics.voltage * (found.phases or electrics.phases)
    return found.limit * volts_phases if unit is RateUnit.WATTS else found.limit / volts_phases


def _top(held: Sequence[Held], purpose: Purpose, evses: tuple[int, ...], at: datetime,
         start: datetime, unit: RateUnit, electrics: Electrics) -> float | None:
    """The highest stack level's limit among the profiles of a purpose in force at `at`."""
    for item in sorted((h for h in held if h.profile.purpose is purpose and h.evse in evses),
                       key=lambda h: -h.profile.stack_level):
        limit = _limit_at(item.profile, at, start, unit, electrics)
        if limit is not None:
            return limit
    return None


def _limit(held: Sequence[Held], evse: int, at: datetime, start: datetime, unit: RateUnit,
           electrics: Electrics, allowance: float | None) -> float | None:
    """2.0.1 K08 / 1.6 §3.13.4: a Tx profile over a TxDefault one, an EVSE's own TxDefault
    over the charger-wide one, everything capped by the charger's maximum; then the load
    manager's allowance. None: nothing of ours limits it."""
    ceiling = _top(held, Purpose.CHARGER_MAX, (0,), at, start, unit, electrics)
    own = None
    if evse:
        own = _top(held, Purpose.TX, (evse,), at, start, unit, electrics)
        if own is None:
            own = _top(held, Purpose.TX_DEFAULT, (evse,), at, start, unit, electrics)
        if own is None:
            own = _top(held, Purpose.TX_DEFAULT, (0,), at, start, unit, electrics)
    found = [x for x in (ceiling, own, allowance) if x is not None]
    return min(found) if found else None


def _breakpoints(profile: ChargingProfile, start: datetime, end: datetime) -> set[datetime]:
    points = {edge for edge in (profile.valid_from, profile.valid_to)
              if edge and start < edge < end}
    origin = _origin(profile, start, start)
    cycle = CYCLE.get(profile.recurrency) if (
        profile.kind is Kind.RECURRING and profile.recurrency) else None
    offsets = [p.start for p in profile.periods] + (
        [profile.duration] if profile.duration else [])
    while origin < end:
        points |= {origin + timedelta(seconds=o) for o in offsets
                   if start < origin + timedelta(seconds=o) < end}
        if not cycle:
            break
        origin += timedelta(seconds=cycle)
    return points


def intended(held: Sequence[Held], evse: int, start: datetime, duration: int, unit: RateUnit,
             allowance: Decimal | None = None, electrics: Electrics = STANDARD
             ) -> CompositeSchedule:
    """The composite schedule the charger should report for the EVSE from `start`, were it to
    hold exactly the profiles we hold as accepted, with the allowance (A per phase) on top.
    A period without any limit of ours has limit -1 (unlimited)."""
    end = start + timedelta(seconds=duration)
    points = {start}
    for item in held:
        points |= _breakpoints(item.profile, start, end)
    cap = None
    if allowance is not None:
        cap = float(allowance) if unit is RateUnit.AMPERES else float(
            allowance) * electrics.voltage * electrics.phases
    periods: list[SchedulePeriod] = []
    for point in sorted(points):
        limit = _limit(held, evse, point, start, unit, electrics, cap)
        value = -1.0 if limit is None else round(limit, 1)
        if not periods or periods[-1].limit != value:
            periods.append(SchedulePeriod(int((point - start).total_seconds()), value))
    return CompositeSchedule(evse, start, duration, unit, tuple(periods))


@dataclass(frozen=True)
class Mismatch:
    """From `start` to `end` (seconds from the schedule's start) the charger's limit differs from
    ours (None: that side has no limit then)."""

    start: int
    end: int
    reported: float | None
    intended: float | None


def _at(periods: Sequence[SchedulePeriod], offset: int) -> float | None:
    found = None
    for period in periods:
        if period.start <= offset:
            found = period.limit
    return None if found is None or found < 0 else found


def mismatches(reported: CompositeSchedule, ours: CompositeSchedule,
               tolerance: float = TOLERANCE) -> list[Mismatch]:
    """Where the reported composite differs from ours by more than `tolerance` (same unit; ours
    shifted when the two start apart). The charger's maximum without a profile (its own rating)
    against none of ours is no mismatch: we intend no limit there. Adjacent differing periods
    with the same two values are merged."""
    shift = 0
    if reported.starts_at and ours.starts_at:
        shift = int((reported.starts_at - ours.starts_at).total_seconds())
    duration = reported.duration or ours.duration or 0
    edges = {0} | {p.start for p in reported.periods} | {
        p.start - shift for p in ours.periods if 0 < p.start - shift}
    bounds = sorted(e for e in edges if e < duration or not duration)
    found: list[Mismatch] = []
    for index, offset in enumerate(bounds):
        end = bounds[index + 1] if index + 1 < len(bounds) else duration
        theirs, mine = _at(reported.periods, offset), _at(ours.periods, offset + shift)
        if mine is None or (theirs is not None and abs(theirs - mine) <= tolerance + 1e-9):
            continue
        if found and found[-1].end == offset and (found[-1].reported, found[-1].intended) == (
                theirs, mine):
            found[-1] = Mismatch(found[-1].start, end, theirs, mine)
        else:
            found.append(Mismatch(offset, end, theirs, mine))
    return found
