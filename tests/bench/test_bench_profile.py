"""The bench's profile summary: py-spy's collapsed stacks counted by area and by function."""

from __future__ import annotations

import pytest

from bench import profile

LOOP = "<module> (csms/__main__.py);BaseEventLoop.run_forever (asyncio/base_events.py)"
HANDLE = f"{LOOP};Handle._run (asyncio/events.py);OcppAdapter.route_message (csms/ocpp/adapter.py)"


@pytest.mark.parametrize(("stack", "area"), [
    (f"{HANDLE};unpack (ocpp/messages.py);_loads (csms/ocpp/library/frames.py)", "json"),
    (f"{HANDLE};_validate_payload (ocpp/messages.py);validate (<string>)", "schema validation"),
    (f"{HANDLE};validate (csms/ocpp/library/validation.py)", "schema validation"),
    (f"{HANDLE};send (websockets/asyncio/connection.py);"
     "_SelectorSocketTransport.write (asyncio/selector_events.py)", "socket calls"),
    (f"{HANDLE};send (websockets/asyncio/connection.py)", "websockets"),
    (f"{HANDLE};_handle_call (ocpp/charge_point.py)", "ocpp library"),
    (f"{HANDLE};fetch (asyncpg/connection.py)", "asyncpg"),
    (f"{HANDLE};bind_contextvars (structlog/contextvars.py)", "logging"),
    (HANDLE, "our code"),
    (f"{LOOP};BaseEventLoop._run_once (asyncio/base_events.py)", "event loop"),
    ("somewhere (elsewhere.py)", "other"),
])
def test_a_sample_counts_for_its_innermost_area(stack: str, area: str) -> None:
    assert profile.area_of(stack.split(";")) == area


def test_summary_shares() -> None:
    collapsed = "\n".join([
        f"{HANDLE};_handle_call (ocpp/charge_point.py) 30",
        f"{HANDLE};validate (<string>) 50",
        f"{HANDLE} 20",
        "not a sample line",
        "",
    ])
    summary = profile.summarize(collapsed, top=2)
    assert summary["samples"] == 100
    assert summary["areas_pct"] == {"schema validation": 50.0, "ocpp library": 30.0,
                                    "our code": 20.0}
    assert summary["self_pct"] == {"validate (<string>)": 50.0,
                                   "_handle_call (ocpp/charge_point.py)": 30.0}
    # frames on every stack (the loop itself) are left out of the inclusive shares
    assert "OcppAdapter.route_message (csms/ocpp/adapter.py)" not in summary["inclusive_pct"]
    assert summary["inclusive_pct"]["validate (<string>)"] == 50.0


def test_no_samples() -> None:
    assert profile.summarize("") == {"samples": 0}
