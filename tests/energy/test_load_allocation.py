"""The site load allocation: table-driven cases and its invariants over random sequences."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from csms.domain.energy.load_allocation import (
    ALL_PHASES,
    SessionDemand,
    SiteLimit,
    allocate,
    phase_sums,
    plan_transition,
)

S = SessionDemand
L1, L2 = frozenset({1}), frozenset({2})


def _d(values: dict[str, float]) -> dict[str, Decimal]:
    return {k: Decimal(str(v)) for k, v in values.items()}


ALLOCATIONS = [
    ("fair share", 60, [S("a"), S("b"), S("c")], {"a": 20, "b": 20, "c": 20}),
    ("each up to its maximum", 100, [S("a"), S("b", max_current=16)], {"a": 32, "b": 16}),
    ("higher priority first", 40, [S("a", priority=1), S("b")], {"a": 32, "b": 8}),
    ("lower priority keeps its minimum", 36, [S("a", priority=1), S("b")], {"a": 30, "b": 6}),
    ("minimum or nothing", 10, [S("a"), S("b")], {"a": 10, "b": 0}),
    ("lowest priority dropped first", 14,
     [S("a"), S("b", priority=1), S("c")], {"a": 6, "b": 8, "c": 0}),
    ("a light draw keeps a margin, the rest goes to others", 60,
     [S("a", draw=5), S("b"), S("c")], {"a": 7, "b": 26.5, "c": 26.5}),
    ("headroom nobody needs is given out up to each maximum", 60,
     [S("a", draw=5), S("b", draw=5)], {"a": 30, "b": 30}),
    ("phases share separately", 16,
     [S("a", phases=L1), S("b", phases=L2), S("c")], {"a": 8, "b": 8, "c": 8}),
    ("a free phase is used", 20,
     [S("a", phases=L1), S("b", phases=L1), S("c", phases=L2)], {"a": 10, "b": 10, "c": 20}),
    ("a charger that refused its profile counts at its maximum", 40,
     [S("a", rejected_profile=True), S("b")], {"a": 32, "b": 8}),
    ("and may leave no room for a minimum", 36,
     [S("a", rejected_profile=True), S("b")], {"a": 32, "b": 0}),
    ("tenths handed out, never above", 10,
     [S("a", min_current=0), S("b", min_current=0), S("c", min_current=0)], {"a": 3.4, "b": 3.3, "c": 3.3}),
    ("a draw above the margin is not cut", 64, [S("a", draw=30), S("b")], {"a": 32, "b": 32}),
]


@pytest.mark.parametrize(("limit", "sessions", "expected"), [c[1:] for c in ALLOCATIONS],
                         ids=[c[0] for c in ALLOCATIONS])
def test_allocation(limit: float, sessions: list[SessionDemand], expected: dict[str, float]) -> None:
    assert allocate(SiteLimit.amps(limit), sessions).allowed == _d(expected)


def test_kw_limit_in_amps_per_phase_rounded_down() -> None:
    assert SiteLimit.from_kw(22).per_phase == (Decimal("31.8"),) * 3  # 22000 / (230 * 3) = 31.88
    assert SiteLimit.from_kw(7.4, voltage=230, phases=1).per_phase == (Decimal("32.1"), 0, 0)


def test_bad_session_refused() -> None:
    with pytest.raises(ValueError):
        S("a", min_current=10, max_current=6)
    with pytest.raises(ValueError):
        S("a", phases=frozenset({4}))


TRANSITIONS = [
    ("lower before raise", {"a": 20, "b": 20}, {"a": 10, "b": 30}, {},
     [("a", 20, 10)], [("b", 20, 30)]),
    ("an ended session frees its share first", {"a": 30}, {"b": 30}, {},
     [("a", 30, 0)], [("b", 0, 30)]),
    ("a refused charger is never sent a change, others lowered", {"a": 10, "b": 28}, {"b": 8}, {"a": 32},
     [("b", 28, 8)], []),
    ("nothing to do", {"a": 20}, {"a": 20}, {}, [], []),
]


@pytest.mark.parametrize(("current", "target", "rejected", "lower", "raise_"), [c[1:] for c in TRANSITIONS],
                         ids=[c[0] for c in TRANSITIONS])
def test_transition(current: dict[str, float], target: dict[str, float], rejected: dict[str, float],
                    lower: list[tuple[str, float, float]], raise_: list[tuple[str, float, float]]) -> None:
    plan = plan_transition(SiteLimit.amps(40), current, target, rejected=rejected)
    assert [(c.evse_id, c.before, c.after) for c in plan.lower] == [
        (e, Decimal(str(b)), Decimal(str(a))) for e, b, a in lower]
    assert [(c.evse_id, c.before, c.after) for c in plan.raise_] == [
        (e, Decimal(str(b)), Decimal(str(a))) for e, b, a in raise_]


def test_a_target_above_the_limit_is_refused() -> None:
    with pytest.raises(ValueError, match="above the limit"):
        plan_transition(SiteLimit.amps(40), {}, {"a": 30, "b": 20})


# --- invariants over random sequences of events -------------------------------------------------

EVSES = [f"E{i}" for i in range(8)]

sessions_st = st.builds(
    lambda evse, lo, span, prio, phases, draw, rejected: S(
        evse, min_current=lo, max_current=lo + span, priority=prio, phases=phases, draw=draw,
        rejected_profile=rejected),
    st.sampled_from(EVSES),
    st.sampled_from([0, 6, 6, 8, 10]),
    st.sampled_from([0, 0.5, 10, 16, 26, 58]),
    st.integers(0, 2),
    st.sampled_from([ALL_PHASES, ALL_PHASES, L1, L2, frozenset({3}), frozenset({1, 2})]),
    st.one_of(st.none(), st.floats(0, 70, allow_nan=False).map(lambda f: round(f, 1))),
    st.sampled_from([False] * 9 + [True]),
)
events = st.one_of(
    st.tuples(st.just("start"), sessions_st),  # start, or change draw / priority / refusal of an EVSE
    st.tuples(st.just("stop"), st.sampled_from(EVSES)),
    st.tuples(st.just("limit"), st.tuples(*[st.sampled_from([0, 5, 12, 32, 63, 100, 250])] * 3)),
)


def _tenth(x: Decimal) -> Decimal:
    return x.quantize(Decimal("0.1"))


@settings(max_examples=300, deadline=None)
@given(limit=st.sampled_from([16, 40, 63, 100]), steps=st.lists(events, min_size=1, max_size=12),
       margin=st.sampled_from([0, 2, 5]))
def test_invariants_hold_after_every_step(limit: int, steps: list[tuple], margin: int) -> None:
    site = SiteLimit.amps(limit)
    sessions: dict[str, SessionDemand] = {}
    world: dict[str, Decimal] = {}  # what each charger is allowed now (a refusing one: its maximum)
    for kind, arg in steps:
        if kind == "start":
            sessions[arg.evse_id] = arg
        elif kind == "stop":
            sessions.pop(arg, None)
        else:
            site = SiteLimit(arg)
        phases = {e: s.phases for e, s in sessions.items()}
        caps = {p: Decimal(str(a)) for p, a in zip((1, 2, 3), site.per_phase, strict=True)}
        result = allocate(site, sessions.values(), margin=margin)
        allowed = result.allowed
        sums = phase_sums(allowed, phases)
        refused = {e: Decimal(str(s.max_current)) for e, s in sessions.items() if s.rejected_profile}
        refused_sums = phase_sums(refused, phases)
        for p in (1, 2, 3):
            assert sums[p] == result.per_phase[p]
            assert sums[p] <= max(caps[p], refused_sums[p]), "sum above the limit"
        for e, s in sessions.items():
            a = allowed[e]
            assert a <= Decimal(str(s.max_current)), "above its maximum"
            assert a == 0 or a >= Decimal(str(s.min_current)), "between zero and its minimum"
            free = [caps[p] - sums[p] for p in s.phases]
            if 0 < a < _tenth(Decimal(str(s.max_current))) - Decimal("0.05") and not s.rejected_profile:
                assert min(free) < Decimal("0.1"), "headroom left unused while this session wants more"
        # Same priority, same phases: shares differ only by a tenth, unless a minimum or a draw decides.
        for e, s in sessions.items():
            for f, t in sessions.items():
                if s.rejected_profile or t.rejected_profile:
                    continue
                if (s.priority, s.phases) != (t.priority, t.phases):
                    continue
                if allowed[e] == 0 or allowed[f] == 0:
                    continue
                if allowed[f] - allowed[e] > Decimal("0.1"):
                    assert allowed[e] >= _tenth(Decimal(str(s.max_current))) - Decimal("0.1") \
                        or allowed[f] <= Decimal(str(t.min_current)) + Decimal("0.1") \
                        or s.draw is not None, "unfair within a priority"
        # The transition, step by step: the world never sums above the limit (nor above where it was).
        target = {e: a for e, a in allowed.items() if e not in refused}
        plan = plan_transition(site, world, target, phases, refused)
        start = phase_sums({**world, **refused}, phases)
        live = {**world, **refused}
        for change in plan.lower:
            live[change.evse_id] = change.after
            now = phase_sums(live, phases)
            for p in (1, 2, 3):
                assert now[p] <= max(caps[p], start[p]), "a lowering step above the limit"
        for change in plan.raise_:
            live[change.evse_id] = change.after
            now = phase_sums(live, phases)
            for p in (1, 2, 3):
                assert now[p] <= max(caps[p], refused_sums[p]), "a raising step above the limit"
        world = {e: v for e, v in live.items() if e in sessions and v > 0}
