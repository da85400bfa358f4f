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


def lowest(limit: SiteLimit, schedule: tuple[LimitPeriod, ...] = ()) -> Decimal:
    """The lowest phase of the limit or of any period of its schedule: what holds at all times."""
    return min(Decimal(str(amps)) for each in (limit, *(p.limit for p in schedule))
               for amps in each.per_phase)


def default_fallback(limit: SiteLimit, evse_count: int,
                     schedule: tuple[LimitPeriod, ...] = ()) -> Decimal:
    """The fallback per EVSE when the operator set none: the lowest phase (at any time of the
    schedule) shared by every EVSE, rounded down to tenths, or 0 when that is below what a car
    can charge with."""
    if evse_count <= 0:
        return Decimal(0)
    share = Decimal(math.floor(lowest(limit, schedule) * 10 / evse_count)) / 10
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


# --- what operators write: the API's JSON, the CLI's and sites file's text --------------------


class LimitError(ValueError):
    """A limit setting that cannot be used; the message is one line saying why."""


def _names(keys: set[str]) -> str:
    """Keys as a reason line shows them: one line, whatever a caller sent."""
    return ", ".join(key if key.isprintable() else repr(key) for key in sorted(keys))


def _number(value: object, what: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        raise LimitError(f"{what} must be a number")
    try:
        number = Decimal(str(value).strip())
    except ArithmeticError:
        raise LimitError(f"{what} must be a number, not {value!r}") from None
    if not number.is_finite():
        raise LimitError(f"{what} must be a finite number")
    if number < 0:
        raise LimitError(f"{what} must not be negative")
    if number > 100_000:
        raise LimitError(f"{what} is out of range (at most 100000)")
    return number


def _tenths(number: Decimal) -> Decimal:
    return Decimal(math.floor(number * 10)) / 10


def parse_amps(value: object, what: str = "amps") -> SiteLimit:
    """400 (every phase) or [400, 400, 300] (L1, L2, L3) → a limit in A per phase."""
    if isinstance(value, list | tuple):
        if len(value) != 3:
            raise LimitError(f"{what} is one number or three (L1, L2, L3)")
        l1, l2, l3 = (_tenths(_number(item, what)) for item in value)
        return SiteLimit((l1, l2, l3))
    return SiteLimit.amps(_tenths(_number(value, what)))


def limit_of(amps: object, kw: object, what: str) -> tuple[SiteLimit, Decimal | None]:
    """Exactly one of amps and kw (kW on three phases of 230 V) → (limit, kw as given)."""
    if (amps is None) == (kw is None):
        raise LimitError(f"{what}: give either amps or kw, not {'both' if amps is not None else 'neither'}")
    if kw is not None:
        power = _number(kw, f"{what} kw")
        return SiteLimit.from_kw(power), power
    return parse_amps(amps, f"{what} amps"), None


def parse_days(text: str) -> frozenset[int]:
    """'Mo-Fr', 'Sa,Su', 'Fr-Mo' (wraps), 'Mo-Su' → week days, 0 Monday .. 6 Sunday."""
    days: set[int] = set()
    for item in str(text).split(","):
        first, _, last = item.strip().partition("-")
        try:
            start = DAY_NAMES.index(first.strip().capitalize())
            end = DAY_NAMES.index(last.strip().capitalize()) if last else start
        except ValueError:
            raise LimitError(f"days {text!r}: use Mo Tu We Th Fr Sa Su, e.g. 'Mo-Fr' or 'Sa,Su'") from None
        days.update((start + step) % 7 for step in range((end - start) % 7 + 1))
    return frozenset(days)


def format_days(days: frozenset[int]) -> str:
    """The shortest text parse_days reads back: runs of consecutive days as ranges."""
    if len(days) == 7:
        return "Mo-Su"
    runs: list[list[int]] = []
    for day in sorted(days):
        if runs and runs[-1][-1] == day - 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    if len(runs) > 1 and runs[0][0] == 0 and runs[-1][-1] == 6:  # Sa-Mo wraps around Sunday
        runs[0] = runs.pop() + runs[0]
    return ",".join(DAY_NAMES[run[0]] if len(run) == 1 else f"{DAY_NAMES[run[0]]}-{DAY_NAMES[run[-1]]}"
                    for run in runs)


def parse_time(text: object, what: str, end: bool = False) -> str:
    """'8:00' / '08:00' → '08:00'; '24:00' only as an end."""
    parts = str(text).strip().split(":")
    if len(parts) != 2 or not all(part.isdigit() and len(part) <= 2 for part in parts):
        raise LimitError(f"{what} {text!r} is not a time HH:MM")
    hours, minutes = int(parts[0]), int(parts[1])
    if minutes > 59 or hours > 24 or (hours == 24 and (minutes or not end)):
        raise LimitError(f"{what} {text!r} is not a time of day (00:00 to 23:59"
                         + (", or 24:00)" if end else ")"))
    return f"{hours:02d}:{minutes:02d}"


def period_from_dict(raw: object) -> LimitPeriod:
    """{"days": "Mo-Fr", "from": "08:00", "to": "18:00", "amps": 200 | [..] or "kw": 100}."""
    if not isinstance(raw, dict):
        raise LimitError("a schedule period is an object with days, from, to and amps or kw")
    unknown = set(raw) - {"days", "from", "to", "amps", "kw"}
    if unknown:
        raise LimitError(f"a schedule period has no {_names(unknown)}")
    missing = [key for key in ("days", "from", "to") if key not in raw]
    if missing:
        raise LimitError(f"a schedule period needs {', '.join(missing)}")
    days = parse_days(raw["days"])
    start = parse_time(raw["from"], "from")
    end = parse_time(raw["to"], "to", end=True)
    if start == end:
        raise LimitError(f"schedule period {start}-{end} is empty (a whole day is 00:00-24:00)")
    limit, kw = limit_of(raw.get("amps"), raw.get("kw"), f"period {format_days(days)} {start}-{end}")
    return LimitPeriod(days, start, end, limit, kw)


def period_from_text(text: str) -> LimitPeriod:
    """'Mo-Fr 08:00-18:00=200', '=200/200/150' per phase, '=100kW' in kW."""
    match = str(text).strip().split()
    if len(match) != 2 or "=" not in match[1] or "-" not in match[1].split("=")[0]:
        raise LimitError(f"schedule {text!r}: write DAYS FROM-TO=AMPS, e.g. 'Mo-Fr 08:00-18:00=200'")
    times, _, value = match[1].partition("=")
    start, _, end = times.partition("-")
    raw: dict[str, object] = {"days": match[0], "from": start, "to": end}
    if value.lower().endswith("kw"):
        raw["kw"] = value[:-2]
    else:
        raw["amps"] = value.split("/") if "/" in value else value
    return period_from_dict(raw)


def period_text(period: LimitPeriod) -> str:
    value = (f"{period.kw}kW" if period.kw is not None
             else "/".join(str(a) for a in period.limit.per_phase)
             if len(set(period.limit.per_phase)) > 1 else str(period.limit.per_phase[0]))
    return f"{format_days(period.days)} {period.start}-{period.end}={value}"


def overlap(schedule: tuple[LimitPeriod, ...]) -> str | None:
    """Which two periods are in force at once in some week, or None."""
    week = 7 * 1440
    spans: list[tuple[int, int, int]] = []  # (from, to, period index) in minutes of the week
    for index, period in enumerate(schedule):
        start, end = period.minutes()
        for day in period.days:
            first, last = day * 1440 + start, day * 1440 + end
            if last > week:  # Sunday night into Monday morning
                spans += [(first, week, index), (0, last - week, index)]
            else:
                spans.append((first, last, index))
    spans.sort()
    for (_, end, one), (start, _, other) in zip(spans, spans[1:], strict=False):
        if start < end:
            a, b = sorted((one, other))
            if a == b:
                continue  # pragma: no cover (a period's own days never overlap)
            return (f"schedule periods {period_text(schedule[a])!r} and "
                    f"{period_text(schedule[b])!r} overlap")
    return None


def _group_priorities(raw: object) -> dict[str, int]:
    if not isinstance(raw, dict):
        raise LimitError("group_priorities is an object: token group -> priority")
    for group, priority in raw.items():
        if isinstance(priority, bool) or not isinstance(priority, int) or not -1000 <= priority <= 1000:
            raise LimitError(f"group_priorities: {group!r} needs a whole number from -1000 to 1000")
    return dict(raw)


def limits_from_dict(site_id: str, raw: dict[str, object], time_zone: str = "UTC") -> SiteLimits:
    """The admin API's body → SiteLimits, checked; LimitError with one line otherwise."""
    try:
        ZoneInfo(time_zone)
    except (ValueError, KeyError):  # ZoneInfoNotFoundError is a KeyError
        raise LimitError(f"the site's time_zone {time_zone!r} is not an IANA time zone such as "
                         "Europe/Berlin: fix the site first") from None
    unknown = set(raw) - {"amps", "kw", "schedule", "fallback_amps", "group_priorities"}
    if unknown:
        raise LimitError(f"unknown keys {_names(unknown)} (expected amps or kw, schedule, "
                         "fallback_amps, group_priorities)")
    limit, kw = limit_of(raw.get("amps"), raw.get("kw"), "limit")
    schedule_raw = raw.get("schedule") or []
    if not isinstance(schedule_raw, list):
        raise LimitError("schedule is a list of periods")
    if len(schedule_raw) > 50:
        raise LimitError("schedule has more than 50 periods")
    schedule = tuple(period_from_text(item) if isinstance(item, str) else period_from_dict(item)
                     for item in schedule_raw)
    reason = overlap(schedule)
    if reason:
        raise LimitError(reason)
    fallback = raw.get("fallback_amps")
    fallback_amps = _tenths(_number(fallback, "fallback_amps")) if fallback is not None else Decimal(0)
    floor = lowest(limit, schedule)
    if fallback_amps > floor:
        raise LimitError(f"fallback_amps {fallback_amps} is above the site's lowest limit ({floor} A)")
    return SiteLimits(site_id, limit, schedule, fallback_amps,
                      _group_priorities(raw.get("group_priorities") or {}), time_zone, kw,
                      fallback_is_default=fallback is None)


def _amps_json(limit: SiteLimit) -> list[float]:
    return [float(a) for a in limit.per_phase]


def limits_to_dict(limits: SiteLimits, now: datetime) -> dict[str, object]:
    """The settings and the limit in force at `now`, as the API and CLI show them."""
    period = limits.period_at(now)
    change = limits.next_change(now)
    return {
        "site_id": limits.site_id,
        "amps": _amps_json(limits.limit),
        "kw": float(limits.kw) if limits.kw is not None else None,
        "schedule": [{"days": format_days(p.days), "from": p.start, "to": p.end,
                      "amps": _amps_json(p.limit), "kw": float(p.kw) if p.kw is not None else None}
                     for p in limits.schedule],
        "fallback_amps": float(limits.fallback_amps),
        "fallback_is_default": limits.fallback_is_default,
        "group_priorities": limits.group_priorities,
        "time_zone": limits.time_zone,
        "in_force": {"amps": _amps_json(limits.limit_at(now)),
                     "period": None if period is None else limits.schedule.index(period),
                     "until": change.isoformat().replace("+00:00", "Z") if change else None},
    }


def evse_energy_from_dict(raw: dict[str, object]) -> tuple[int | None, Decimal | None, Decimal | None,
                                                           frozenset[int] | None]:
    """{"priority", "min_amps", "max_amps", "phases"} (each optional; absent: the default)."""
    unknown = set(raw) - {"priority", "min_amps", "max_amps", "phases"}
    if unknown:
        raise LimitError(f"unknown keys {_names(unknown)} (expected priority, min_amps, "
                         "max_amps, phases)")
    priority = raw.get("priority")
    if priority is not None and (isinstance(priority, bool) or not isinstance(priority, int)
                                 or not -1000 <= priority <= 1000):
        raise LimitError("priority is a whole number from -1000 to 1000")
    low = _tenths(_number(raw["min_amps"], "min_amps")) if raw.get("min_amps") is not None else None
    high = _tenths(_number(raw["max_amps"], "max_amps")) if raw.get("max_amps") is not None else None
    if low is not None and high is not None and low > high:
        raise LimitError(f"min_amps {low} is above max_amps {high}")
    phases_raw = raw.get("phases")
    phases = None
    if phases_raw is not None:
        if (not isinstance(phases_raw, list) or not phases_raw
                or not all(isinstance(p, int) and not isinstance(p, bool) for p in phases_raw)
                or not set(phases_raw) <= ALL_PHASES):
            raise LimitError("phases is a non-empty list of 1, 2 and 3 (the phases it is wired to)")
        phases = frozenset(phases_raw)
    return priority, low, high, phases
