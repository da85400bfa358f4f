"""A simulated charger's charging profiles and the composite schedule it computes from them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

VOLTS = 230
MAX = "max"  # 1.6 ChargePointMaxProfile, 2.0.1 ChargingStationMaxProfile
EXTERNAL = "external"  # 2.0.1 ChargingStationExternalConstraints: set by others (K11), never by us
PURPOSES = {"ChargePointMaxProfile": MAX, "ChargingStationMaxProfile": MAX,
            "TxDefaultProfile": "default", "TxProfile": "tx",
            "ChargingStationExternalConstraints": EXTERNAL}
CYCLE = {"Daily": 86400, "Weekly": 7 * 86400}


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


@dataclass
class Held:
    """One profile as the firmware keeps it, from either version's snake_case payload."""

    id: int
    evse: int
    stack_level: int
    purpose: str
    kind: str
    schedule: dict[str, Any]
    recurrency: str | None = None
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    received: datetime = field(default_factory=lambda: datetime.now(UTC).replace(microsecond=0))
    raw: dict[str, Any] = field(default_factory=dict)  # as it came (reported back, K09)
    source: str = "CSO"  # who set it (2.0.1 chargingLimitSource): the CSMS, or an external system

    @classmethod
    def of(cls, evse: int, raw: dict[str, Any]) -> Held:
        schedule = raw["charging_schedule"]
        number = raw["charging_profile_id"] if "charging_profile_id" in raw else raw["id"]
        return cls(int(number), evse, raw["stack_level"],
                   PURPOSES[raw["charging_profile_purpose"]], raw["charging_profile_kind"],
                   schedule[0] if isinstance(schedule, list) else schedule,
                   raw.get("recurrency_kind"), _time(raw.get("valid_from")),
                   _time(raw.get("valid_to")), raw=dict(raw))

    def origin(self, at: datetime, relative: datetime | None = None) -> datetime:
        """When the schedule's current cycle began, seen at `at`; a Relative one counts from
        `relative` (the composite's start) when given, else from when it came."""
        start = _time(self.schedule.get("start_schedule")) or (
            relative if relative and self.kind == "Relative" else self.received)
        if self.kind == "Recurring" and self.recurrency in CYCLE:
            cycle = CYCLE[self.recurrency]
            cycles = int((at - start).total_seconds() // cycle) if at > start else 0
            return start + timedelta(seconds=cycles * cycle)
        return start

    def limit_at(self, at: datetime, relative: datetime | None = None
                 ) -> tuple[float, int] | None:
        """(limit, phases) at `at`, or None when the profile does not apply then."""
        if (self.valid_from and at < self.valid_from) or (self.valid_to and at >= self.valid_to):
            return None
        offset = (at - self.origin(at, relative)).total_seconds()
        duration = self.schedule.get("duration")
        if offset < 0 or (duration is not None and offset >= duration):
            return None
        found = None
        for period in self.schedule["charging_schedule_period"]:
            if period["start_period"] <= offset:
                found = (float(period["limit"]), int(period.get("number_phases") or 3))
        return found

    def in_unit(self, limit: float, phases: int, unit: str) -> float:
        mine = self.schedule["charging_rate_unit"]
        if mine == unit:
            return limit
        return limit * VOLTS * phases if unit == "W" else limit / (VOLTS * phases)

    def breakpoints(self, start: datetime, end: datetime) -> set[datetime]:
        """Where its limit may change between start and end (Relative: counted from start)."""
        points: set[datetime] = set()
        for edge in (self.valid_from, self.valid_to):
            if edge and start < edge < end:
                points.add(edge)
        origin = self.origin(start, start)
        cycle = CYCLE.get(self.recurrency or "") if self.kind == "Recurring" else None
        while origin < end:
            offsets = [p["start_period"] for p in self.schedule["charging_schedule_period"]]
            offsets += [self.schedule["duration"]] if self.schedule.get("duration") else []
            points |= {origin + timedelta(seconds=o) for o in offsets
                       if start < origin + timedelta(seconds=o) < end}
            if not cycle:
                break
            origin += timedelta(seconds=cycle)
        return points


class Profiles:
    """The profiles a simulated charger holds, per EVSE (0: the whole charger)."""

    def __init__(self, evses: int, max_amps: float = 32.0) -> None:
        self.evses = evses
        self.max_amps = max_amps
        self.held: dict[int, Held] = {}

    def set(self, evse: int, raw: dict[str, Any], transaction: bool) -> str:
        """Accepted, or Rejected like firmware: unknown EVSE, a max profile on an EVSE, a Tx
        profile without a transaction there (1.6 §5.16, 2.0.1 K01.FR.09/.FR.16)."""
        held = Held.of(evse, raw)
        if not 0 <= evse <= self.evses or held.purpose == EXTERNAL or (
                held.purpose == MAX and evse != 0) or (
                held.purpose == "tx" and (evse == 0 or not transaction)):
            return "Rejected"
        for other in list(self.held.values()):  # same id, or same purpose+stack level: replaced
            if other.id == held.id or (other.evse == evse and other.purpose == held.purpose
                                       and other.stack_level == held.stack_level):
                del self.held[other.id]
        self.held[held.id] = held
        return "Accepted"

    def clear(self, profile_id: int | None = None, evse: int | None = None,
              purpose: str | None = None, stack_level: int | None = None) -> str:
        wanted = PURPOSES.get(purpose) if purpose else None
        matching = [h.id for h in self.held.values() if h.purpose != EXTERNAL  # not the CSMS's
                    and (profile_id is None or h.id == profile_id)
                    and (evse is None or h.evse == evse)
                    and (wanted is None or h.purpose == wanted)
                    and (stack_level is None or h.stack_level == stack_level)]
        for held_id in matching:
            del self.held[held_id]
        return "Accepted" if matching else "Unknown"

    def matching(self, evse: int | None, criteria: dict[str, Any]) -> list[Held]:
        """2.0.1 K09 GetChargingProfiles: the profiles matching every criterion given."""
        wanted = PURPOSES.get(criteria.get("charging_profile_purpose") or "")
        ids = criteria.get("charging_profile_id")
        sources = criteria.get("charging_limit_source")
        return [h for h in self.held.values()
                if (evse is None or h.evse == evse)
                and (wanted is None or h.purpose == wanted)
                and (criteria.get("stack_level") is None
                     or h.stack_level == criteria["stack_level"])
                and (not ids or h.id in ids)
                and (not sources or h.source in sources)]

    def external(self, evse: int, source: str, raw: dict[str, Any] | None) -> None:
        """K11/K13: an external system's limit held as a ChargingStationExternalConstraints
        profile (replacing that source's on the EVSE), or cleared (raw None)."""
        for held in [h for h in self.held.values() if h.purpose == EXTERNAL
                     and h.source == source and h.evse == evse]:
            del self.held[held.id]
        if raw is not None:
            held = Held.of(evse, raw)
            held.source = source
            self.held[held.id] = held

    def tx_ended(self, evse: int) -> None:
        """A Tx profile ends with its transaction."""
        for held in [h for h in self.held.values() if h.evse == evse and h.purpose == "tx"]:
            del self.held[held.id]

    def _top(self, purpose: str, evses: tuple[int, ...], at: datetime, unit: str,
             relative: datetime | None) -> float | None:
        """The highest stack level's limit among the profiles of a purpose that apply at `at`."""
        for held in sorted((h for h in self.held.values()
                            if h.purpose == purpose and h.evse in evses),
                           key=lambda h: -h.stack_level):
            found = held.limit_at(at, relative)
            if found is not None:
                return held.in_unit(*found, unit)
        return None

    def limit(self, evse: int, at: datetime, unit: str = "A",
              relative: datetime | None = None) -> float:
        """What the EVSE (0: the charger) may draw at `at`: a Tx profile over a TxDefault one,
        an EVSE's own TxDefault over the charger-wide one, capped by the charger's maximum."""
        full = self.max_amps if unit == "A" else self.max_amps * VOLTS * 3
        ceiling = self._top(MAX, (0,), at, unit, relative)
        for evses in ((0,), (evse,)) if evse else ((0,),):  # an external limit caps all (K11)
            external = self._top(EXTERNAL, evses, at, unit, relative)
            if external is not None:
                ceiling = external if ceiling is None else min(ceiling, external)
        if evse == 0:
            return min(full, ceiling if ceiling is not None else full)
        own = self._top("tx", (evse,), at, unit, relative)
        if own is None:
            own = self._top("default", (evse,), at, unit, relative)
        if own is None:
            own = self._top("default", (0,), at, unit, relative)
        return min(x for x in (full, ceiling, own) if x is not None)

    def composite(self, evse: int, duration: int, unit: str | None,
                  now: datetime | None = None) -> dict[str, Any]:
        """The composite schedule in snake_case wire terms: start, unit, periods."""
        unit = unit or "A"
        start = (now or datetime.now(UTC)).replace(microsecond=0)
        end = start + timedelta(seconds=duration)
        points = {start}
        for held in self.held.values():
            points |= held.breakpoints(start, end)
        periods: list[dict[str, Any]] = []
        for point in sorted(points):
            limit = round(self.limit(evse, point, unit, start), 1)
            if not periods or periods[-1]["limit"] != limit:
                periods.append({"start_period": int((point - start).total_seconds()),
                                "limit": limit})
        return {"start": start.isoformat().replace("+00:00", "Z"), "unit": unit,
                "duration": duration, "periods": periods}
