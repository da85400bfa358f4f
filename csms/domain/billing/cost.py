"""A session's cost: what one charging session costs under one tariff (OCPI 2.2.1's tariff model), purely."""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

ENERGY = "ENERGY"
FLAT = "FLAT"
TIME = "TIME"
PARKING_TIME = "PARKING_TIME"

_DAYS = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")
_SAME_INSTANT_S = 1e-6
# Below this a period counts as "no energy": interpolation noise must not turn parking into charging.
_NO_ENERGY_KWH = 1e-9
_CENTS = Decimal("0.0001")


@dataclass(frozen=True)
class Reading:
    """One whole-meter energy register reading."""

    at: datetime
    energy_wh: float
    power_w: float | None = None
    current_a: float | None = None


@dataclass(frozen=True)
class Price:
    excl_vat: float
    incl_vat: float | None


@dataclass(frozen=True)
class Costing:
    total_cost: Price
    total_energy_cost: Price | None
    total_time_cost: Price | None
    total_parking_cost: Price | None
    total_fixed_cost: Price | None
    total_energy_kwh: float
    total_time_h: float
    total_parking_time_h: float
    charging_periods: list[dict[str, Any]]


@dataclass(frozen=True)
class _Moment:
    """The state of the session that tariff restrictions are checked against."""

    local: datetime
    energy_kwh: float
    duration_s: float
    power_w: float | None
    current_a: float | None


@dataclass(frozen=True)
class _Pick:
    element: int
    component: dict[str, Any]


@dataclass(frozen=True)
class _Period:
    start_s: float
    end_s: float
    energy_kwh: float
    parking: bool
    power_w: float | None
    current_a: float | None
    energy_pick: _Pick | None
    time_pick: _Pick | None  # the TIME component, or PARKING_TIME when parking

    @property
    def hours(self) -> float:
        return (self.end_s - self.start_s) / 3600


class _EnergyCurve:
    """Session energy in Wh against seconds since session start: piecewise linear through the readings."""

    def __init__(self, times: Sequence[float], registers: Sequence[float]) -> None:
        self._times = list(times)
        self._totals: list[float] = []
        total = 0.0
        for i, register in enumerate(registers):
            if i:
                # A meter reset or a glitch must never give energy back.
                total += max(0.0, register - registers[i - 1])
            self._totals.append(total)
        self._origin = self._register(0.0)

    def _register(self, s: float) -> float:
        if not self._times:
            return 0.0
        i = bisect_right(self._times, s)
        # Before the first reading no energy flowed; after the last one nothing more is known.
        if i == 0:
            return self._totals[0]
        if i == len(self._times):
            return self._totals[-1]
        t0, t1 = self._times[i - 1], self._times[i]
        e0, e1 = self._totals[i - 1], self._totals[i]
        return e0 + (e1 - e0) * (s - t0) / (t1 - t0)

    def wh(self, s: float) -> float:
        return self._register(s) - self._origin

    def reaches(self, target_wh: float, end_s: float) -> float | None:
        """When session energy first reaches target_wh, if it does before end_s."""
        knots = [0.0, *(t for t in self._times if 0.0 < t < end_s), end_s]
        for a, b in pairwise(knots):
            ea, eb = self.wh(a), self.wh(b)
            if ea < target_wh <= eb:
                return a + (b - a) * (target_wh - ea) / (eb - ea)
        return None


def session_cost(tariff: dict[str, Any], started_at: datetime, stopped_at: datetime,
                 readings: list[Reading], time_zone: str) -> Costing:
    """The cost of a session under an OCPI 2.2.1 Tariff, with its OCPI CDR charging periods.

    Raises ValueError for naive datetimes or a session that stops before it starts.
    """
    for name, instant in [("started_at", started_at), ("stopped_at", stopped_at),
                          *((f"readings[{i}].at", r.at) for i, r in enumerate(readings))]:
        if instant.utcoffset() is None:
            raise ValueError(f"{name} must be timezone-aware")
    # In UTC: Python compares and subtracts datetimes sharing one tzinfo by wall clock, wrong across DST.
    start, stop = started_at.astimezone(UTC), stopped_at.astimezone(UTC)
    if stop < start:
        raise ValueError("stopped_at is before started_at")
    zone = ZoneInfo(time_zone)
    duration_s = (stop - start).total_seconds()
    # Reservation costs are billed with the reservation, not with the session.
    elements = [e for e in tariff["elements"] if not (e.get("restrictions") or {}).get("reservation")]

    ordered = sorted(readings, key=lambda r: r.at.astimezone(UTC))
    times = [(r.at - start).total_seconds() for r in ordered]
    curve = _EnergyCurve(times, [r.energy_wh for r in ordered])

    periods: list[_Period] = []
    charging_started = False
    for a, b in pairwise(_breakpoints(elements, start, duration_s, zone, curve, times)):
        energy_kwh = (curve.wh(b) - curve.wh(a)) / 1000
        if energy_kwh > _NO_ENERGY_KWH:
            charging_started = True
            parking = False
        else:
            # Idle before the first energy (plugging in, handshake) is still charging time.
            parking = charging_started
        # Within a period nothing that restrictions look at crosses a boundary, so any inner
        # instant is representative; the midpoint keeps clear of rounding at the edges.
        mid = (a + b) / 2
        closing = bisect_right(times, mid)
        # A reading describes the interval it closes (like a periodic meter sample).
        reading = ordered[closing] if closing < len(ordered) else None
        moment = _Moment(
            local=(start + timedelta(seconds=mid)).astimezone(zone),
            energy_kwh=curve.wh(mid) / 1000,
            duration_s=mid,
            power_w=reading.power_w if reading else None,
            current_a=reading.current_a if reading else None,
        )
        periods.append(_Period(
            start_s=a, end_s=b, energy_kwh=energy_kwh, parking=parking,
            power_w=moment.power_w, current_a=moment.current_a,
            energy_pick=_pick(elements, ENERGY, moment),
            time_pick=_pick(elements, PARKING_TIME if parking else TIME, moment),
        ))

    energy_cost = _bill([(p.energy_kwh, p.energy_pick) for p in periods], native_per_unit=1000)
    time_cost = _bill([(p.hours, p.time_pick) for p in periods if not p.parking], native_per_unit=3600)
    parking_cost = _bill([(p.hours, p.time_pick) for p in periods if p.parking], native_per_unit=3600)
    fixed_cost = _flat_cost(elements, start, zone, periods[0] if periods else None)

    parts = [p for p in (energy_cost, time_cost, parking_cost, fixed_cost) if p is not None]
    excl = sum(p.excl_vat for p in parts)
    incl: float | None = None
    if all(p.incl_vat is not None for p in parts):
        incl = sum(p.incl_vat or 0.0 for p in parts)
    excl, incl = _clamp(excl, incl, tariff.get("min_price"), max)
    excl, incl = _clamp(excl, incl, tariff.get("max_price"), min)

    return Costing(
        total_cost=_rounded(Price(excl, incl)),
        total_energy_cost=_rounded_or_none(energy_cost),
        total_time_cost=_rounded_or_none(time_cost),
        total_parking_cost=_rounded_or_none(parking_cost),
        total_fixed_cost=_rounded_or_none(fixed_cost),
        total_energy_kwh=curve.wh(duration_s) / 1000,
        total_time_h=duration_s / 3600,
        total_parking_time_h=sum((p.hours for p in periods if p.parking), 0.0),
        charging_periods=_charging_periods(periods, start, str(tariff["id"])),
    )


def _breakpoints(elements: list[dict[str, Any]], start: datetime, duration_s: float, zone: ZoneInfo,
                 curve: _EnergyCurve, reading_times: list[float]) -> list[float]:
    """Every instant (seconds since start) where the energy slope or an element's eligibility may change."""
    points = {0.0, duration_s}
    points.update(reading_times)
    stop = start + timedelta(seconds=duration_s)
    points.update((t - start).total_seconds() for t in _wall_clock_changes(elements, start, stop, zone))
    for element in elements:
        restrictions = element.get("restrictions") or {}
        for key in ("min_duration", "max_duration"):
            if restrictions.get(key) is not None:
                points.add(float(restrictions[key]))
        for key in ("min_kwh", "max_kwh"):
            if restrictions.get(key) is not None:
                reached = curve.reaches(float(restrictions[key]) * 1000, duration_s)
                if reached is not None:
                    points.add(reached)
    result: list[float] = []
    for point in sorted(p for p in points if 0.0 <= p <= duration_s):
        if not result or point - result[-1] > _SAME_INSTANT_S:
            result.append(point)
    if len(result) > 1 and duration_s - result[-1] <= _SAME_INSTANT_S:
        result[-1] = duration_s
    return result


def _wall_clock_changes(elements: list[dict[str, Any]], start: datetime, stop: datetime,
                        zone: ZoneInfo) -> Iterator[datetime]:
    """Local midnights, every start/end_time, and UTC offset changes, in UTC."""
    clock_times = {(0, 0)}
    for element in elements:
        restrictions = element.get("restrictions") or {}
        for key in ("start_time", "end_time"):
            if restrictions.get(key):
                hour, minute = (int(x) for x in restrictions[key].split(":"))
                if hour < 24:  # "24:00" is the next midnight, already listed
                    clock_times.add((hour, minute))
    day = start.astimezone(zone).date() - timedelta(days=1)
    last = stop.astimezone(zone).date() + timedelta(days=1)
    while day <= last:
        for hour, minute in clock_times:
            # Both folds: a wall time inside a DST overlap happens twice.
            for fold in (0, 1):
                yield datetime(day.year, day.month, day.day, hour, minute, fold=fold,
                               tzinfo=zone).astimezone(UTC)
        day += timedelta(days=1)
    yield from _offset_changes(start, stop, zone)


def _offset_changes(start: datetime, stop: datetime, zone: ZoneInfo) -> Iterator[datetime]:
    """DST switches inside the session: a wall time skipped by the switch takes effect at the switch."""
    def offset(epoch: int) -> timedelta | None:
        return datetime.fromtimestamp(epoch, UTC).astimezone(zone).utcoffset()

    lo_end, hi_end = math.floor(start.timestamp()), math.ceil(stop.timestamp())
    t = lo_end
    while t < hi_end:
        nxt = min(t + 3600, hi_end)
        if offset(t) != offset(nxt):
            lo, hi = t, nxt
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if offset(mid) == offset(lo):
                    lo = mid
                else:
                    hi = mid
            yield datetime.fromtimestamp(hi, UTC)
        t = nxt


def _pick(elements: list[dict[str, Any]], dimension: str, moment: _Moment) -> _Pick | None:
    """The first element pricing this dimension whose restrictions all hold."""
    for index, element in enumerate(elements):
        component = next((c for c in element["price_components"] if c["type"] == dimension), None)
        if component is not None and _matches(element.get("restrictions") or {}, moment):
            return _Pick(index, component)
    return None


def _matches(r: dict[str, Any], m: _Moment) -> bool:
    local = m.local
    if (r.get("start_time") or r.get("end_time")) and not _in_daily_window(
            local, r.get("start_time"), r.get("end_time")):
        return False
    if r.get("start_date") and local.date() < date.fromisoformat(r["start_date"]):
        return False
    if r.get("end_date") and local.date() >= date.fromisoformat(r["end_date"]):
        return False
    if r.get("day_of_week") and _DAYS[local.weekday()] not in r["day_of_week"]:
        return False
    if not _within(m.energy_kwh, r.get("min_kwh"), r.get("max_kwh")):
        return False
    if not _within(m.duration_s, r.get("min_duration"), r.get("max_duration")):
        return False
    power_kw = None if m.power_w is None else m.power_w / 1000
    return (_within_known(power_kw, r.get("min_power"), r.get("max_power"))
            and _within_known(m.current_a, r.get("min_current"), r.get("max_current")))


def _within(value: float, low: float | None, high: float | None) -> bool:
    """Minimums are inclusive, maximums exclusive, as the spec says for duration."""
    return (low is None or value >= low) and (high is None or value < high)


def _within_known(value: float | None, low: float | None, high: float | None) -> bool:
    if low is None and high is None:
        return True
    # Unknown power or current cannot prove a restriction holds.
    return value is not None and _within(value, low, high)


def _in_daily_window(local: datetime, start_time: str | None, end_time: str | None) -> bool:
    now = local.hour * 3600 + local.minute * 60 + local.second + local.microsecond / 1e6
    return in_window(now, _seconds_of_day(start_time) if start_time else None,
                     _seconds_of_day(end_time) if end_time else None)


def in_window(now: float, low: float | None, high: float | None) -> bool:
    """A time of day within OCPI's start_time (inclusive) and end_time (exclusive); an end before
    the start crosses midnight. Shared with the OICP pricing products, so that both read a
    tariff's hours alike."""
    if low is None:
        return high is None or now < high
    if high is None:
        return now >= low
    if low < high:
        return low <= now < high
    if low > high:  # the window crosses midnight
        return now >= low or now < high
    return True


def _seconds_of_day(clock: str) -> int:
    hour, minute = (int(x) for x in clock.split(":"))
    return hour * 3600 + minute * 60


class _Sum:
    def __init__(self) -> None:
        self.excl = 0.0
        self.incl: float | None = 0.0

    def add(self, volume: float, component: dict[str, Any]) -> None:
        amount = volume * float(component["price"])
        if amount == 0:
            return  # nothing to tax: a free component needs no vat (the spec's free-of-charge example)
        self.excl += amount
        vat = component.get("vat")
        if vat is None:
            self.incl = None
        elif self.incl is not None:
            self.incl += amount * (1 + float(vat) / 100)


def _bill(items: list[tuple[float, _Pick | None]], native_per_unit: int) -> Price | None:
    """Volumes (kWh or hours) priced by their period's component; None when no component ever applied.

    step_size: the dimension's total billed volume is rounded up to the step_size of the component of
    the LAST period it was billed in, the extra billed at that component's price (spec example: 25 min at
    1.20/h then 10 min at 2.40/h with step 900 s bills 45 min: 0.50 + 20 min * 2.40/h). Rounding is per
    dimension: TIME rounding does not absorb following PARKING_TIME.
    """
    total = _Sum()
    applied = False
    volume = 0.0
    last: dict[str, Any] | None = None
    for amount, pick in items:
        if pick is None:
            continue
        applied = True
        if amount > 0:
            total.add(amount, pick.component)
            volume += amount
            last = pick.component
    if last is not None and (step := int(last.get("step_size") or 0)) > 0:
        # Rounding the step count first keeps float noise (7.0000000001 steps) from adding a step.
        billed = math.ceil(round(volume * native_per_unit / step, 6)) * step / native_per_unit
        if billed > volume:
            total.add(billed - volume, last)
    return Price(total.excl, total.incl) if applied else None


def _flat_cost(elements: list[dict[str, Any]], start: datetime, zone: ZoneInfo,
               first: _Period | None) -> Price | None:
    """FLAT is billed once, from the first element with a FLAT component active at session start."""
    moment = _Moment(local=start.astimezone(zone), energy_kwh=0.0, duration_s=0.0,
                     power_w=first.power_w if first else None,
                     current_a=first.current_a if first else None)
    pick = _pick(elements, FLAT, moment)
    if pick is None:
        return None
    total = _Sum()
    total.add(1.0, pick.component)
    return Price(total.excl, total.incl)


def _clamp(excl: float, incl: float | None, bound: dict[str, Any] | None,
           pick: Callable[[float, float], float]) -> tuple[float, float | None]:
    """min_price / max_price: excl and incl are each held to their own bound, as the spec notes."""
    if not bound:
        return excl, incl
    excl = pick(excl, float(bound["excl_vat"]))
    if incl is not None and bound.get("incl_vat") is not None:
        incl = pick(incl, float(bound["incl_vat"]))
    return excl, incl


def _money(value: float) -> float:
    return float(Decimal(repr(value)).quantize(_CENTS, rounding=ROUND_HALF_UP))


def _rounded(price: Price) -> Price:
    return Price(_money(price.excl_vat), None if price.incl_vat is None else _money(price.incl_vat))


def _rounded_or_none(price: Price | None) -> Price | None:
    return None if price is None else _rounded(price)


def _charging_periods(periods: list[_Period], start: datetime, tariff_id: str) -> list[dict[str, Any]]:
    """CDR charging periods: consecutive periods merged while the kind and the applied elements stay."""
    groups: list[list[_Period]] = []
    for period in periods:
        if groups and _group_key(groups[-1][-1]) == _group_key(period):
            groups[-1].append(period)
        else:
            groups.append([period])
    result: list[dict[str, Any]] = []
    for group in groups:
        hours = round(sum(p.hours for p in group), 4)
        dimensions: list[dict[str, Any]]
        if group[0].parking:
            dimensions = [{"type": PARKING_TIME, "volume": hours}]
        else:
            energy = round(sum(p.energy_kwh for p in group), 4)
            dimensions = [{"type": ENERGY, "volume": energy}, {"type": TIME, "volume": hours}]
        powers = [p.power_w for p in group if p.power_w is not None]
        if powers:
            dimensions.append({"type": "MAX_POWER", "volume": round(max(powers) / 1000, 4)})
            dimensions.append({"type": "MIN_POWER", "volume": round(min(powers) / 1000, 4)})
        began = start + timedelta(seconds=round(group[0].start_s))
        result.append({
            "start_date_time": began.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "dimensions": dimensions,
            "tariff_id": tariff_id,
        })
    return result


def _group_key(period: _Period) -> tuple[bool, int | None, int | None]:
    return (period.parking,
            None if period.energy_pick is None else period.energy_pick.element,
            None if period.time_pick is None else period.time_pick.element)


FREE = "FREE"  # the id of the zero tariff a session without one is costed with


def free_tariff(currency: str) -> dict[str, Any]:
    return {"id": FREE, "currency": currency, "elements": [{"price_components": [
        {"type": "ENERGY", "price": 0, "step_size": 1}, {"type": "TIME", "price": 0, "step_size": 1}]}]}


def costing(tariff: dict[str, Any] | None, currency: str, started_at: datetime,
            stopped_at: datetime, readings: list[Reading], time_zone: str) -> Costing:
    return session_cost(tariff or free_tariff(currency), started_at, stopped_at, readings, time_zone)


def price_fields(price: Price) -> dict[str, Any]:
    data: dict[str, Any] = {"excl_vat": price.excl_vat}
    if price.incl_vat is not None:
        data["incl_vat"] = price.incl_vat
    return data


def cost_fields(cost: Costing) -> dict[str, Any]:
    """A session's cost as it is recorded (and as an OCPI CDR states it)."""
    fields: dict[str, Any] = {
        "total_cost": price_fields(cost.total_cost),
        "total_energy": round(cost.total_energy_kwh, 3),
        "total_time": round(cost.total_time_h, 4),
    }
    if cost.total_parking_time_h:
        fields["total_parking_time"] = round(cost.total_parking_time_h, 4)
    for key, price in (("total_fixed_cost", cost.total_fixed_cost),
                       ("total_energy_cost", cost.total_energy_cost),
                       ("total_time_cost", cost.total_time_cost),
                       ("total_parking_cost", cost.total_parking_cost)):
        if price is not None:
            fields[key] = price_fields(price)
    return fields
