"""Limits from outside our profiles (the grid's, the car's) as EVSE caps in amps per phase (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, Decimal

from csms.domain.energy.smart_charging import CompositeSchedule, RateUnit, SchedulePeriod

TENTH = Decimal("0.1")
# Below this many amps of difference a schedule is taken as within what we allow (rounding on
# either side, W to A conversions).
TOLERANCE = Decimal("0.1")
# The cap sources (ENERGY.md interface 1).
EV = "ev"


def grid_source(charging_limit_source: str) -> str:
    """The cap source of a 2.0.1 chargingLimitSource (EMS, SO, Other, CSO)."""
    return f"grid:{charging_limit_source}"


@dataclass(frozen=True)
class Electrics:
    """What converts an EVSE's W into A per phase (the site's EvseDetails)."""

    voltage: int = 230
    phases: int = 3


def amps_per_phase(limit: float, unit: RateUnit, electrics: Electrics,
                   phases: int | None = None) -> Decimal:
    """A limit in A per phase, rounded down to tenths (never more than was said); W are spread
    over the period's phases when it names them, else the EVSE's."""
    if unit is RateUnit.AMPERES:
        amps = Decimal(str(limit))
    else:
        amps = Decimal(str(limit)) / (electrics.voltage * (phases or electrics.phases))
    return max(Decimal(0), amps.quantize(TENTH, rounding=ROUND_DOWN))


@dataclass(frozen=True)
class Cap:
    """What one source limits an EVSE to (energy_store.set_cap's arguments)."""

    max_amps: Decimal | None
    min_amps: Decimal | None = None
    until: datetime | None = None


def cap_of_schedule(schedule: CompositeSchedule | None, electrics: Electrics,
                    now: datetime) -> Cap:
    """K12 NotifyChargingLimit: the external limit as a cap. The lowest limit from now to the
    schedule's end, so the cap is never above what the grid allows at any later instant of it
    (periods already over do not count); until the schedule's end when it has a duration. No
    schedule: the limit is known to exist but not its value (no maximum)."""
    if schedule is None or not schedule.periods:
        return Cap(None)
    start = schedule.starts_at or now
    until = start + timedelta(seconds=schedule.duration) if schedule.duration else None
    elapsed = (now - start).total_seconds()
    periods = list(schedule.periods)
    # The period in force now and every later one (one not started yet counts too).
    current = [p for p in periods if p.start <= elapsed][-1:] or periods[:1]
    later = [p for p in periods if p.start > elapsed]
    amps = min(amps_per_phase(p.limit, schedule.unit, electrics, p.phases)
               for p in current + later)
    return Cap(amps, until=until)


@dataclass(frozen=True)
class EvNeeds:
    """ISO 15118 charging needs (2.0.1 ChargingNeedsType), as the car said them."""

    transfer: str  # DC, AC_single_phase, AC_two_phase, AC_three_phase
    max_current: float | None = None  # A (AC: per phase)
    min_current: float | None = None  # A, AC only
    max_voltage: float | None = None
    max_power: float | None = None    # W, DC only
    energy_wh: float | None = None
    departure: datetime | None = None


PHASES = {"AC_single_phase": 1, "AC_two_phase": 2, "AC_three_phase": 3}


def cap_of_needs(needs: EvNeeds, electrics: Electrics) -> Cap:
    """K15/K16: the car's needs as the `ev` cap. AC: its max and min current per phase. DC: its
    maximum power converted with the EVSE's voltage and phases (the site's share is in A on the
    AC side), else its maximum current; no minimum."""
    if needs.transfer in PHASES:
        return Cap(_amps(needs.max_current), _amps(needs.min_current))
    if needs.max_power is not None:
        return Cap(amps_per_phase(needs.max_power, RateUnit.WATTS, electrics))
    return Cap(None)


def _amps(value: float | None) -> Decimal | None:
    return None if value is None else amps_per_phase(value, RateUnit.AMPERES, Electrics())


def schedule_above(schedule: CompositeSchedule, allowed: Decimal | None,
                   electrics: Electrics) -> SchedulePeriod | None:
    """NotifyEVChargingSchedule (K16.FR.06/.FR.07): the first period of the car's schedule above what we allow
    (beyond TOLERANCE), or None when it stays within it (or we allow without limit)."""
    if allowed is None:
        return None
    for period in schedule.periods:
        amps = amps_per_phase(period.limit, schedule.unit, electrics, period.phases)
        if amps > allowed + TOLERANCE:
            return period
    return None
