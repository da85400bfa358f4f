"""A node's own stalls: a held event loop is logged once, with where it was held, and counted;
the collector's passes are counted by generation."""

from __future__ import annotations

import asyncio
import gc
import subprocess
import sys
import time
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from structlog.testing import capture_logs

from bench.cluster import stalls_logged
from csms.stalls import StallWatch, _short
from tests.support import ROOT, eventually


def hold_the_loop(seconds: float) -> None:
    time.sleep(seconds)  # what a blocking call on the loop does: nothing else runs meanwhile


def _sample(name: str, labels: dict[str, str] | None = None) -> float:
    return REGISTRY.get_sample_value(name, labels or {}) or 0.0


async def test_a_held_loop_is_logged_once_with_where_it_was_held_and_counted() -> None:
    lagged_before = _sample("csms_event_loop_lag_seconds_bucket", {"le": "0.25"})
    observed_before = _sample("csms_event_loop_lag_seconds_count")
    watch = StallWatch(step=0.02, warn_after=0.2)
    with capture_logs() as logs:
        watching = asyncio.create_task(watch.watch_forever())
        try:
            await asyncio.sleep(0.1)  # the watch is sleeping: the hold below is what it sees
            hold_the_loop(0.5)
            await eventually(lambda: _async([e for e in logs if e["event"] == "event loop held"]))
            await eventually(lambda: _async(
                _sample("csms_event_loop_lag_seconds_count") > observed_before + 3))
        finally:
            watching.cancel()
    # one line for the hold (a busy machine may add stalls of its own, elsewhere)
    held = [e for e in logs if e["event"] == "event loop held"
            and any("hold_the_loop" in frame for frame in e["where"])]
    assert len(held) == 1, logs
    assert held[0]["log_level"] == "warning"
    assert held[0]["held_ms"] >= 400
    assert held[0]["cpu_ms"] < held[0]["held_ms"]  # time.sleep holds the loop without working
    assert held[0]["where"][0].startswith("runtime/test_stalls.py:")
    assert held[0]["where"][0].endswith(" hold_the_loop")  # innermost first
    # the hold is an observation above 0.25 s
    above = (_sample("csms_event_loop_lag_seconds_count") - observed_before) - (
        _sample("csms_event_loop_lag_seconds_bucket", {"le": "0.25"}) - lagged_before)
    assert above >= 1


async def test_a_loop_that_keeps_up_logs_nothing() -> None:
    watch = StallWatch(step=0.01, warn_after=0.2)
    before = _sample("csms_event_loop_lag_seconds_count")
    with capture_logs() as logs:
        watching = asyncio.create_task(watch.watch_forever())
        try:
            await eventually(lambda: _async(_sample("csms_event_loop_lag_seconds_count") > before + 20))
        finally:
            watching.cancel()
    assert [e for e in logs if e["event"] == "event loop held"] == []


async def test_a_warning_of_zero_logs_no_stall_but_still_counts_it() -> None:
    def over() -> float:
        return _sample("csms_event_loop_lag_seconds_count") - _sample(
            "csms_event_loop_lag_seconds_bucket", {"le": "0.25"})
    over_before = over()
    with capture_logs() as logs:
        watching = asyncio.create_task(StallWatch(step=0.02, warn_after=0).watch_forever())
        try:
            await asyncio.sleep(0.1)
            hold_the_loop(0.4)
            # counted and (were it on) logged in the same step of the watch
            await eventually(lambda: _async(over() > over_before))
        finally:
            watching.cancel()
    assert [e for e in logs if e["event"] == "event loop held"] == []


async def test_collector_passes_are_counted_by_generation_and_the_callback_goes_with_the_watch() -> None:
    before = _sample("csms_gc_pause_seconds_count", {"generation": "2"})
    watching = asyncio.create_task(StallWatch().watch_forever())
    await asyncio.sleep(0)  # the watch starts and hooks the collector
    gc.collect()
    counted = _sample("csms_gc_pause_seconds_count", {"generation": "2"})
    assert counted >= before + 1
    watching.cancel()
    with pytest.raises(asyncio.CancelledError):
        await watching
    gc.collect()  # no longer watched
    assert _sample("csms_gc_pause_seconds_count", {"generation": "2"}) == counted


@pytest.mark.parametrize(("filename", "shown"), [
    ("/root/.pyenv/versions/3.11.7/lib/python3.11/asyncio/base_events.py", "asyncio/base_events.py"),
    ("/w/.venv/lib/python3.11/site-packages/websockets/asyncio/connection.py",
     "websockets/asyncio/connection.py"),
    ("/home/ops/csms/csms/ocpp/adapter.py", "csms/ocpp/adapter.py"),
    ("/srv/app/bridge/ocpi/outbox.py", "bridge/ocpi/outbox.py"),
    ("/tmp/x/y/z.py", "y/z.py"),
])
def test_frames_are_named_from_their_package_not_the_machines_path(filename: str, shown: str) -> None:
    assert _short(filename) == shown


def test_a_process_log_read_by_the_cluster_bench(tmp_path: Path) -> None:
    """The line a real process writes through the project's JSON logging, as the bench reads it
    beside its slowest calls."""
    program = """
import asyncio, time
from csms.logs import configure_logging
from csms.stalls import StallWatch
configure_logging("warning", "json")
def blocking_work():
    time.sleep(0.5)
async def main():
    watching = asyncio.create_task(StallWatch(step=0.02, warn_after=0.2).watch_forever())
    await asyncio.sleep(0.1)
    blocking_work()
    await asyncio.sleep(0.1)
    watching.cancel()
asyncio.run(main())
"""
    started = time.time()
    with (tmp_path / "node3.log").open("w") as log:
        subprocess.run([sys.executable, "-c", program], cwd=ROOT, stderr=log, check=True, timeout=60)
    (tmp_path / "node4.log").write_text("not json\n")
    [[at, process, held_ms, cpu_ms, collector_ms, where]] = stalls_logged(
        tmp_path, started, time.time())
    assert 0 <= at <= time.time() - started
    assert process == "node3"
    assert held_ms >= 400
    assert collector_ms == 0
    assert 0 <= cpu_ms < 250  # asleep, not working: the loop was held all the same
    assert where[0].endswith(" blocking_work"), where
    assert stalls_logged(tmp_path, time.time(), time.time() + 60) == []  # outside the window


async def _async(value: object) -> object:
    return value
