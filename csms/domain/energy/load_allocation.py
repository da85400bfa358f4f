"""How a site's grid limit is shared among its sessions."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

# Everything is computed in whole tenths of an ampere (OCPP limits carry one decimal), so sums are
# exact integers and "never above the limit" holds by construction, not up to float rounding.
_SCALE = 10
ALL_PHASES = frozenset({1, 2, 3})

Amps = float | int | Decimal


def _down(amps: Amps) -> int:
    return math.floor(Decimal(str(amps)) * _SCALE)


def _up(amps: Amps) -> int:
    return math.ceil(Decimal(str(amps)) * _SCALE)


def _amps(tenths: int) -> Decimal:
    return Decimal(tenths) / _SCALE


@dataclass(frozen=True)
class SiteLimit:
    """The grid connection's limit in amperes on each phase (L1, L2, L3)."""

    per_phase: tuple[Amps, Amps, Amps]

    @classmethod
    def amps(cls, amps: Amps) -> SiteLimit:
        return cls((amps, amps, amps))

    @classmethod
    def from_kw(cls, kw: Amps, voltage: Amps = 230, phases: int = 3) -> SiteLimit:
        """A kW limit as amperes per phase, spread evenly over `phases` (rounded down: never above)."""
        if phases not in (1, 3):
            raise ValueError("phases must be 1 or 3")
        amps = Decimal(str(kw)) * 1000 / (Decimal(str(voltage)) * phases)
        tenths = _down(amps)
        return cls((_amps(tenths), _amps(tenths) if phases == 3 else 0, _amps(tenths) if phases == 3 else 0))

    def _tenths(self) -> dict[int, int]:
        return {phase: max(0, _down(amps)) for phase, amps in zip((1, 2, 3), self.per_phase, strict=True)}


@dataclass(frozen=True)
class SessionDemand:
    """One active session as the allocation sees it."""

    evse_id: str
    min_current: Amps = 6  # below this the car cannot charge (IEC 61851 AC: 6 A); 0 or this, never between
    max_current: Amps = 32  # the EVSE's (or car's) maximum
    priority: int = 0  # higher is served first
    phases: frozenset[int] = ALL_PHASES  # the phases it draws on, each at the allowed current
    draw: Amps | None = None  # measured current per phase (meter values), None when unknown
    # A charger that rejected its profile draws what it likes: counted at its maximum, off the top.
    rejected_profile: bool = False

    def __post_init__(self) -> None:
        if not self.phases or not self.phases <= ALL_PHASES:
            raise ValueError(f"{self.evse_id}: phases must be a non-empty subset of 1, 2, 3")
        low, high = Decimal(str(self.min_current)), Decimal(str(self.max_current))
        if low < 0 or low > high:
            raise ValueError(f"{self.evse_id}: need 0 <= min_current <= max_current")


@dataclass(frozen=True)
class Allocation:
    """The allowed current per session (A per phase) and each phase's total."""

    allowed: dict[str, Decimal]
    per_phase: dict[int, Decimal]


def allocate(limit: SiteLimit, sessions: Iterable[SessionDemand], margin: Amps = 2) -> Allocation:
    """Share the limit: higher priorities first, fair shares within a priority, minimums or nothing.

    A session drawing less than it could is capped at its draw plus `margin`, and what it leaves is
    shared among the others; headroom that nobody needs is then given out up to each maximum, so a
    car that ramps up finds room.
    """
    sessions = sorted(sessions, key=lambda s: (-s.priority, s.evse_id))
    if len({s.evse_id for s in sessions}) != len(sessions):
        raise ValueError("one session per EVSE")
    free = limit._tenths()
    alloc: dict[str, int] = {}
    # Uncontrollable chargers first: they take their maximum whatever we say.
    for s in sessions:
        if s.rejected_profile:
            alloc[s.evse_id] = _down(s.max_current)
            for p in s.phases:
                free[p] -= alloc[s.evse_id]
    controlled = [s for s in sessions if not s.rejected_profile]
    admitted = _admit(controlled, free)
    for s in controlled:
        alloc[s.evse_id] = _up(s.min_current) if s in admitted else 0
    for s in admitted:
        for p in s.phases:
            free[p] -= alloc[s.evse_id]
    margin_t = _up(margin)
    demand = {
        s.evse_id: _down(s.max_current) if s.draw is None
        else min(_down(s.max_current), max(_up(s.min_current), _up(s.draw) + margin_t))
        for s in admitted
    }
    maximum = {s.evse_id: _down(s.max_current) for s in admitted}
    for caps in (demand, maximum):
        for priority in sorted({s.priority for s in admitted}, reverse=True):
            _fill([s for s in admitted if s.priority == priority], caps, alloc, free)
    per_phase = {p: Decimal(0) for p in (1, 2, 3)}
    for s in sessions:
        for p in s.phases:
            per_phase[p] += _amps(alloc[s.evse_id])
    return Allocation({s.evse_id: _amps(alloc[s.evse_id]) for s in sessions}, per_phase)


def _admit(sessions: list[SessionDemand], free: dict[int, int]) -> list[SessionDemand]:
    """Those whose minimums fit together, dropping the lowest priority on an overloaded phase first."""
    admitted = list(sessions)  # sorted highest priority first
    while True:
        load = {p: sum(_up(s.min_current) for s in admitted if p in s.phases) for p in (1, 2, 3)}
        over = {p for p in (1, 2, 3) if load[p] > max(free[p], 0)}
        if not over:
            return admitted
        victim = next(s for s in reversed(admitted) if s.phases & over and _up(s.min_current) > 0)
        admitted.remove(victim)


def _fill(
    group: list[SessionDemand], caps: dict[str, int], alloc: dict[str, int], free: dict[int, int]
) -> None:
    """Raise a priority class towards a common level (max-min fair per phase), each up to its cap."""
    rising = [s for s in group if alloc[s.evse_id] < caps[s.evse_id]]

    def can_rise(s: SessionDemand) -> bool:
        return alloc[s.evse_id] < caps[s.evse_id] and all(free[p] > 0 for p in s.phases)

    def at(level: int, s: SessionDemand) -> int:
        return max(alloc[s.evse_id], min(caps[s.evse_id], level))

    def fits(level: int, rising: list[SessionDemand]) -> bool:
        return all(
            sum(at(level, s) - alloc[s.evse_id] for s in rising if p in s.phases) <= free[p]
            for p in (1, 2, 3)
        )

    while rising:
        low, high = 0, max(caps[s.evse_id] for s in rising)
        while low < high:  # the highest common level that fits
            mid = (low + high + 1) // 2
            low, high = (mid, high) if fits(mid, rising) else (low, mid - 1)
        for s in rising:
            extra = at(low, s) - alloc[s.evse_id]
            alloc[s.evse_id] += extra
            for p in s.phases:
                free[p] -= extra
        # What is left on a full phase is less than a step each: one round of a tenth each, in order.
        for s in rising:
            if can_rise(s):
                alloc[s.evse_id] += 1
                for p in s.phases:
                    free[p] -= 1
        # Those on a full phase are done; the others rise further (each pass fills at least one phase).
        # (Whoever is left got a tenth just now, so every pass makes progress.)
        rising = [s for s in rising if can_rise(s)]


@dataclass(frozen=True)
class Change:
    evse_id: str
    before: Decimal
    after: Decimal


@dataclass(frozen=True)
class Transition:
    """Send every `lower` and see it accepted before sending any `raise_`; within each, any order."""

    lower: tuple[Change, ...]
    raise_: tuple[Change, ...]


def plan_transition(
    limit: SiteLimit,
    current: Mapping[str, Amps],
    target: Mapping[str, Amps],
    phases: Mapping[str, frozenset[int]] | None = None,
    rejected: Mapping[str, Amps] | None = None,
) -> Transition:
    """The order of changes from `current` to `target` so that no instant sums above the limit.

    EVSEs missing from `target` go to 0 (session ended); `rejected` maps a charger that refused its
    profile to its maximum: it is counted there, never sent a change, and the target must leave it
    room (build it with `allocate(..., rejected_profile=True)`).
    """
    phases = phases or {}
    rejected = rejected or {}
    ids = sorted(set(current) | set(target) | set(rejected))
    before = {e: _down(rejected[e]) if e in rejected else _up(current.get(e, 0)) for e in ids}
    after = {e: _down(rejected[e]) if e in rejected else _down(target.get(e, 0)) for e in ids}
    free = limit._tenths()
    for p in (1, 2, 3):
        on_phase = [e for e in ids if p in phases.get(e, ALL_PHASES)]
        total = sum(after[e] for e in on_phase)
        # Refused chargers alone may overload a phase: then nothing we control may add to it.
        if total > free[p] and any(after[e] for e in on_phase if e not in rejected):
            raise ValueError(f"target sums {_amps(total)} A on L{p}, above the limit {_amps(free[p])} A")
    changes = [Change(e, _amps(before[e]), _amps(after[e])) for e in ids if before[e] != after[e]]
    return Transition(
        tuple(c for c in changes if c.after < c.before),
        tuple(c for c in changes if c.after > c.before),
    )


def phase_sums(
    allowed: Mapping[str, Amps], phases: Mapping[str, frozenset[int]] | None = None
) -> dict[int, Decimal]:
    """What the allowed currents add up to on each phase."""
    phases = phases or {}
    sums = {p: Decimal(0) for p in (1, 2, 3)}
    for evse, amps in allowed.items():
        for p in phases.get(evse, ALL_PHASES):
            sums[p] += Decimal(str(amps))
    return sums
