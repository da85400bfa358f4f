"""A site's grid connection limit: its time-of-day schedule, fallback current and priorities (pure)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from csms.domain.energy.load_allocation import ALL_PHASES, SiteLimit

# The current below which an AC car cannot charge at all (IEC 61851-1: 6 A).
MIN_CHARGING_AMPS = Decimal(6)
DAY_NAMES = ("Mo", "Tu", "We", "Th", "Fr", "Sa", "Su")


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


@dataclass(frozen=True)
class LimitPeriod:
    """On `days` (0 Monday .. 6 Sunday), from `start` to `end` ("HH:MM", site time), `limit` is in force.

    An `end` at or before `start` runs past midnight: the period belongs to the day it starts on.
    "24:00" as `end` is midnight at the day's end.
    """

    days: frozenset[int]
    start: str
    end: str
    limit: SiteLimit
    kw: Decimal | None = None  # as the operator gave it, when in kW

    @property
    def crosses_midnight(self) -> bool:
        return _minutes(self.end) <= _minutes(self.start)

    def minutes(self) -> tuple[int, int]:
        """(start, end) in minutes of the week-day it starts on; end may pass 1440."""
        start, end = _minutes(self.start), _minutes(self.end)
        return start, end + 1440 if end <= start else end


@dataclass(frozen=True)
class SiteLimits:
    """What a site's grid connection allows, and when."""

    site_id: str
    limit: SiteLimit  # A per phase, whenever no period of the schedule is in force
    schedule: tuple[LimitPeriod, ...] = ()
    fallback_amps: Decimal = Decimal(0)  # per EVSE: what a charger we cannot reach may draw
    group_priorities: dict[str, int] = field(default_factory=dict)  # token group -> priority
    time_zone: str = "UTC"  # the site's (IANA)
    kw: Decimal | None = None  # the default limit as the operator gave it, when in kW
    fallback_is_default: bool = True  # derived from the limit and EVSE count, not set

    def limit_at(self, when: datetime) -> SiteLimit:
        """The limit in force at `when` (an aware datetime)."""
        period = self.period_at(when)
        return period.limit if period is not None else self.limit

    def period_at(self, when: datetime) -> LimitPeriod | None:
        if when.tzinfo is None:
            raise ValueError("limit_at needs an aware datetime")
        zone = ZoneInfo(self.time_zone)
        today = when.astimezone(zone).date()
        for day in (today - timedelta(days=1), today):
            for period in self.schedule:
                interval = _interval(period, day, zone)
                if interval is not None and interval[0] <= when < interval[1]:
                    return period
        return None

    def next_change(self, after: datetime) -> datetime | None:
        """The first instant after `after` at which the limit in force changes; None: never."""
        if not self.schedule:
            return None
        zone = ZoneInfo(self.time_zone)
        today = after.astimezone(zone).date()
        current = self.limit_at(after)
        # The schedule repeats weekly: if nothing changes within eight days, nothing ever will.
        intervals = (_interval(period, today + timedelta(days=offset), zone)
                     for offset in range(-1, 9) for period in self.schedule)
        edges = sorted({edge for interval in intervals if interval is not None
                        for edge in interval if edge > after})
        for edge in edges:
            if self.limit_at(edge) != current:
                return edge
        return None


def _interval(period: LimitPeriod, day: date, zone: ZoneInfo) -> tuple[datetime, datetime] | None:
    """When the period runs if it starts on `day`, as UTC instants; None if not on that day."""
    if day.weekday() not in period.days:
        return None
    start, end = period.minutes()
    return _instant(day, start, zone), _instant(day, end, zone)


def _instant(day: date, minutes: int, zone: ZoneInfo) -> datetime:
    """The first instant the site's clock shows `minutes` after `day`'s midnight, DST-safe.

    A wall time the clock skips (spring forward) happens when the clock jumps past it; one the
    clock shows twice (fall back) happens the first time.
    """
    day = day + timedelta(days=minutes // 1440)
    minutes %= 1440
    wall = datetime.combine(day, time(minutes // 60, minutes % 60))
    # Stepping to the first wall time that exists: gaps are whole minutes, an hour or less.
    for _ in range(24 * 60):
        local = wall.replace(tzinfo=zone, fold=0)
        instant = local.astimezone(UTC)
        if instant.astimezone(zone).replace(tzinfo=None) == wall:
            return instant
        wall += timedelta(minutes=1)
    raise ValueError(f"no wall time after {day} {minutes} exists in {zone}")  # pragma: no cover


def default_fallback(limit: SiteLimit, evse_count: int) -> Decimal:
    """The fallback per EVSE when the operator set none: the lowest phase shared by every EVSE,
    rounded down to tenths, or 0 when that is below what a car can charge with."""
    if evse_count <= 0:
        return Decimal(0)
    lowest = min(Decimal(str(amps)) for amps in limit.per_phase)
    share = Decimal(math.floor(lowest * 10 / evse_count)) / 10
    return share if share >= MIN_CHARGING_AMPS else Decimal(0)


def phases_of(power_type: str) -> frozenset[int]:
    """The phases an EVSE draws on, from its power type (AC_1_PHASE: L1)."""
    return frozenset({1}) if power_type == "AC_1_PHASE" else ALL_PHASES


@dataclass(frozen=True)
class EvseEnergy:
    """One EVSE as the load manager sees it: priority, current range (A per phase) and phases."""

    charge_point_id: str
    evse: int
    priority: int = 0
    min_amps: Decimal = MIN_CHARGING_AMPS
    max_amps: Decimal = Decimal(32)  # the store fills in the site's EvseDetails.amperage
    phases: frozenset[int] = ALL_PHASES
    evse_id: str | None = None  # the roaming EvseID, when it has one
