"""A site's limit schedule (pure): the limit in force, the next change, DST, parsing and refusals."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from csms.domain.energy.load_allocation import SiteLimit
from csms.domain.energy.site_limits import (
    LimitError,
    SiteLimits,
    default_fallback,
    evse_energy_from_dict,
    format_days,
    limits_from_dict,
    limits_to_dict,
    parse_days,
    period_from_text,
)


def _utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def _site(*periods: str, amps: int = 400, zone: str = "Europe/Berlin") -> SiteLimits:
    return SiteLimits("S1", SiteLimit.amps(amps), tuple(period_from_text(p) for p in periods),
                      time_zone=zone)


# Winter in Berlin: local = UTC + 1. 2026-12-04 is a Friday.
WEEK = _site("Mo-Fr 08:00-18:00=200", "Sa,Su 22:00-06:00=100")
# DST: clocks skip 02:00-03:00 on 2026-03-29 and show 02:00-03:00 twice on 2026-10-25 (Sundays).
NIGHT = _site("Su 02:30-04:00=50")


@pytest.mark.parametrize(("site", "when", "amps"), [
    (WEEK, "2026-12-07T06:59", 400),  # Monday 07:59
    (WEEK, "2026-12-07T07:00", 200),  # Monday 08:00: the period starts
    (WEEK, "2026-12-07T16:59", 200),
    (WEEK, "2026-12-07T17:00", 400),  # 18:00: it ends (the end is not in it)
    (WEEK, "2026-12-04T22:00", 400),  # Friday 23:00: a weekend period does not start on Friday
    (WEEK, "2026-12-05T20:59", 400),
    (WEEK, "2026-12-05T21:00", 100),  # Saturday 22:00
    (WEEK, "2026-12-06T04:59", 100),  # Sunday 05:59: Saturday's period past midnight
    (WEEK, "2026-12-06T05:00", 400),
    (WEEK, "2026-12-06T21:00", 100),  # Sunday 22:00
    (WEEK, "2026-12-07T04:59", 100),  # Monday 05:59: Sunday's period, across the week's end
    (WEEK, "2026-12-07T05:00", 400),
    # Spring forward: 02:30 never shows; the period starts when the clock jumps (01:00 UTC).
    (NIGHT, "2026-03-29T00:59", 400),
    (NIGHT, "2026-03-29T01:00", 50),
    (NIGHT, "2026-03-29T01:59", 50),  # 03:59 CEST
    (NIGHT, "2026-03-29T02:00", 400),  # 04:00 CEST
    # Fall back: 02:30 shows twice; the period starts the first time and does not pause while
    # the clock shows 02:00-02:30 again.
    (NIGHT, "2026-10-25T00:29", 400),  # 02:29 CEST
    (NIGHT, "2026-10-25T00:30", 50),   # 02:30 CEST
    (NIGHT, "2026-10-25T01:15", 50),   # 02:15 CET, the second time
    (NIGHT, "2026-10-25T02:59", 50),   # 03:59 CET
    (NIGHT, "2026-10-25T03:00", 400),  # 04:00 CET
    (NIGHT, "2026-10-18T00:29", 400),  # a week before, all in summer time: 02:29 CEST
    (NIGHT, "2026-10-18T01:59", 50),   # 03:59 CEST
    (NIGHT, "2026-10-18T02:00", 400),
    (_site("Mo 08:00-09:00=10", zone="UTC"), "2026-12-07T08:30", 10),
    (_site("Mo 08:00-09:00=10", zone="America/New_York"), "2026-12-07T13:30", 10),
])
def test_limit_at(site: SiteLimits, when: str, amps: int) -> None:
    assert site.limit_at(_utc(when)) == SiteLimit.amps(amps)


@pytest.mark.parametrize(("site", "after", "change"), [
    (WEEK, "2026-12-07T06:00", "2026-12-07T07:00"),
    (WEEK, "2026-12-07T07:00", "2026-12-07T17:00"),  # at a start: the next is its end
    (WEEK, "2026-12-04T17:00", "2026-12-05T21:00"),  # Friday evening: Saturday night
    (WEEK, "2026-12-05T21:00", "2026-12-06T05:00"),
    (WEEK, "2026-12-06T05:00", "2026-12-06T21:00"),
    (WEEK, "2026-12-06T21:00", "2026-12-07T05:00"),
    (NIGHT, "2026-03-29T00:00", "2026-03-29T01:00"),
    (NIGHT, "2026-03-29T01:00", "2026-03-29T02:00"),
    (NIGHT, "2026-10-25T00:00", "2026-10-25T00:30"),
    (NIGHT, "2026-10-25T00:30", "2026-10-25T03:00"),
    (NIGHT, "2026-10-25T03:00", "2026-11-01T01:30"),  # a week on, in winter time
    (_site(), "2026-12-07T00:00", None),  # no schedule
    (_site("Mo-Su 00:00-24:00=300"), "2026-12-07T00:00", None),  # in force all week
    (_site("Mo-Fr 08:00-12:00=400", "Mo-Fr 12:00-18:00=200"), "2026-12-07T06:00",
     "2026-12-07T11:00"),  # 08:00 changes nothing: the same as the default
])
def test_next_change(site: SiteLimits, after: str, change: str | None) -> None:
    found = site.next_change(_utc(after))
    assert found == (_utc(change) if change else None)
    if found is not None:
        assert site.limit_at(found) != site.limit_at(_utc(after))


@pytest.mark.parametrize(("text", "days", "short"), [
    ("Mo-Fr", {0, 1, 2, 3, 4}, "Mo-Fr"),
    ("sa,su", {5, 6}, "Sa-Su"),
    ("Fr-Mo", {4, 5, 6, 0}, "Fr-Mo"),
    ("Mo-Su", set(range(7)), "Mo-Su"),
    ("Mo,We,Fr", {0, 2, 4}, "Mo,We,Fr"),
    ("Su", {6}, "Su"),
])
def test_days(text: str, days: set[int], short: str) -> None:
    assert parse_days(text) == frozenset(days)
    assert format_days(frozenset(days)) == short
    assert parse_days(short) == frozenset(days)


@pytest.mark.parametrize(("text", "per_phase", "kw"), [
    ("Mo-Fr 08:00-18:00=200", (200, 200, 200), None),
    ("Sa 8:00-9:30=63/63/40", (63, 63, 40), None),
    ("Su 22:00-06:00=100kW", (Decimal("144.9"),) * 3, Decimal(100)),  # 100 kW / (3 x 230 V)
    ("Mo 00:00-24:00=16.55", (Decimal("16.5"),) * 3, None),  # tenths, rounded down
])
def test_period_text(text: str, per_phase: tuple[Any, ...], kw: Decimal | None) -> None:
    period = period_from_text(text)
    assert period.limit == SiteLimit(per_phase) and period.kw == kw  # type: ignore[arg-type]


def test_default_fallback() -> None:
    assert default_fallback(SiteLimit((63, 63, 40)), 3) == Decimal("13.3")
    assert default_fallback(SiteLimit.amps(400), 20) == 20
    assert default_fallback(SiteLimit.amps(50), 10) == 0  # 5 A: a car cannot charge with it
    assert default_fallback(SiteLimit.amps(400), 0) == 0
    assert default_fallback(SiteLimit.amps(400), 10, (period_from_text("Mo 08:00-09:00=80"),)) == 8


def test_body_round_trip() -> None:
    limits = limits_from_dict("S1", {
        "amps": [400, 400, 300], "fallback_amps": 6,
        "schedule": [{"days": "Mo-Fr", "from": "08:00", "to": "18:00", "amps": 200},
                     "Sa,Su 22:00-06:00=100kW"],
        "group_priorities": {"fleet": 10}}, "Europe/Berlin")
    shown = limits_to_dict(limits, _utc("2026-12-07T07:30"))
    assert shown["amps"] == [400, 400, 300] and shown["fallback_amps"] == 6
    assert shown["schedule"] == [
        {"days": "Mo-Fr", "from": "08:00", "to": "18:00", "amps": [200, 200, 200], "kw": None},
        {"days": "Sa-Su", "from": "22:00", "to": "06:00", "amps": [144.9] * 3, "kw": 100}]
    assert shown["in_force"] == {"amps": [200, 200, 200], "period": 0,
                                 "until": "2026-12-07T17:00:00Z"}
    assert not shown["fallback_is_default"]
    assert limits_from_dict("S1", {"kw": 250}).limit == SiteLimit.from_kw(250)
    assert limits_from_dict("S1", {"amps": 400}).fallback_is_default


@pytest.mark.parametrize(("body", "reason"), [
    ({"amps": -1}, "must not be negative"),
    ({"amps": 400, "kw": 250}, "not both"),
    ({}, "not neither"),
    ({"amps": [400, 400]}, "one number or three"),
    ({"amps": "lots"}, "must be a number"),
    ({"amps": True}, "must be a number"),
    ({"amps": 1e9}, "out of range"),
    ({"kw": -5}, "must not be negative"),
    ({"amps": 400, "limit": 3}, "unknown keys limit"),
    ({"amps": 400, "schedule": "Mo-Fr"}, "schedule is a list"),
    ({"amps": 400, "schedule": ["Mo-Fr 08:00"]}, "DAYS FROM-TO=AMPS"),
    ({"amps": 400, "schedule": ["Xy 08:00-09:00=1"]}, "use Mo Tu We"),
    ({"amps": 400, "schedule": ["Mo 25:00-26:00=1"]}, "not a time of day"),
    ({"amps": 400, "schedule": ["Mo 24:00-02:00=1"]}, "not a time of day"),
    ({"amps": 400, "schedule": ["Mo 8h-9h=1"]}, "not a time HH:MM"),
    ({"amps": 400, "schedule": ["Mo 08:00-08:00=1"]}, "is empty"),
    ({"amps": 400, "schedule": ["Mo 08:00-09:00=-1"]}, "must not be negative"),
    ({"amps": 400, "schedule": [{"days": "Mo", "from": "08:00", "to": "09:00"}]}, "neither"),
    ({"amps": 400, "schedule": [{"days": "Mo", "from": "08:00"}]}, "needs to"),
    ({"amps": 400, "schedule": [{"days": "Mo", "from": "08:00", "to": "09:00", "a": 1}]},
     "has no a"),
    ({"amps": 400, "schedule": [3]}, "is an object"),
    ({"amps": 400, "schedule": ["Mo-Fr 08:00-18:00=200", "Fr 17:00-19:00=100"]}, "overlap"),
    ({"amps": 400, "schedule": ["Su 22:00-06:00=100", "Mo 05:00-07:00=50"]}, "overlap"),
    ({"amps": 400, "schedule": ["Sa-Su 22:00-06:00=100", "Sa-Su 23:00-01:00=50"]}, "overlap"),
    ({"amps": 400, "fallback_amps": -2}, "must not be negative"),
    ({"amps": 400, "fallback_amps": 500}, "above the site's lowest limit"),
    ({"amps": 400, "schedule": ["Mo 08:00-09:00=0"], "fallback_amps": 6}, r"lowest limit \(0 A\)"),
    ({"amps": 400, "group_priorities": ["fleet"]}, "is an object"),
    ({"amps": 400, "group_priorities": {"fleet": "high"}}, "whole number"),
])
def test_refused(body: dict[str, Any], reason: str) -> None:
    with pytest.raises(LimitError, match=reason) as caught:
        limits_from_dict("S1", body)
    assert "\n" not in str(caught.value)


def test_reasons_are_one_line() -> None:
    for body in ({"amps": 1, "a\nb": 1}, {"amps": 1, "schedule": [{"days": "Mo\n", "from": "08:00",
                                                                    "to": "09:00"}]}):
        with pytest.raises(LimitError) as caught:
            limits_from_dict("S1", body)  # type: ignore[arg-type]
        assert "\n" not in str(caught.value)
    with pytest.raises(LimitError, match="not an IANA time zone"):
        limits_from_dict("S1", {"amps": 1}, "Mars/Olympus")


def test_adjacent_periods_do_not_overlap() -> None:
    limits = limits_from_dict("S1", {"amps": 400, "schedule": [
        "Mo-Fr 08:00-12:00=200", "Mo-Fr 12:00-18:00=300", "Su 18:00-08:00=100",
        "Sa 00:00-24:00=50"]})
    assert len(limits.schedule) == 4


@pytest.mark.parametrize(("body", "reason"), [
    ({"phases": [4]}, "phases"),
    ({"phases": []}, "phases"),
    ({"phases": "1"}, "phases"),
    ({"min_amps": 20, "max_amps": 10}, "above max_amps"),
    ({"min_amps": -1}, "must not be negative"),
    ({"priority": "high"}, "priority"),
    ({"speed": 1}, "unknown keys"),
])
def test_evse_energy_refused(body: dict[str, Any], reason: str) -> None:
    with pytest.raises(LimitError, match=reason):
        evse_energy_from_dict(body)


def test_evse_energy() -> None:
    assert evse_energy_from_dict({"priority": 2, "min_amps": 6, "max_amps": 16.04,
                                  "phases": [2]}) == (2, 6, Decimal("16.0"), frozenset({2}))
    assert evse_energy_from_dict({}) == (None, None, None, None)


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
    | st.sampled_from(["Mo-Fr", "Sa,Su", "08:00", "24:00", "18:00", "Mo 08:00-09:00=1", "1/2/3"]),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=12)
_PERIOD = st.dictionaries(st.sampled_from(["days", "from", "to", "amps", "kw", "x"]), _JSON,
                          max_size=5)
_LIMIT_BODY = st.dictionaries(
    st.sampled_from(["amps", "kw", "schedule", "fallback_amps", "group_priorities"]),
    _JSON | st.lists(_PERIOD | _JSON, max_size=3), max_size=4)
_EVSE_BODY = st.dictionaries(st.sampled_from(["priority", "min_amps", "max_amps", "phases"]),
                             _JSON, max_size=4)


@settings(max_examples=200, deadline=None)
@given(_LIMIT_BODY, _EVSE_BODY)
def test_any_body_is_taken_or_refused_with_a_reason(body: dict[str, Any],
                                                    evse: dict[str, Any]) -> None:
    """Whatever a caller sends: a LimitError (a 400), never another exception (a 500)."""
    for parse in (lambda: limits_from_dict("S1", body, "Europe/Berlin"),
                  lambda: evse_energy_from_dict(evse)):
        try:
            parse()
        except LimitError as error:
            assert "\n" not in str(error)
