"""The process's own stalls: how late its event loop runs, where it was held, and its collector's passes."""

from __future__ import annotations

import asyncio
import gc
import sys
import threading
import time
import traceback
from typing import Any

import structlog
from prometheus_client import Histogram

log = structlog.get_logger(__name__)

LOOP_LAG = Histogram(
    "csms_event_loop_lag_seconds", "How late the event loop woke a sleeper: every connection "
    "on this node waited as long", buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5))
COLLECTOR_PAUSES = Histogram(
    "csms_gc_pause_seconds", "Passes of the garbage collector, which hold the whole process",
    ["generation"], buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1))

# A stall this long is logged (one WARNING line each, with where the loop was held): every
# charger on the node waited as long for its answer.
WARN_AFTER = 0.25


class StallWatch:
    """A sleeper on the event loop measures how late it wakes; a thread beside the loop looks at
    what the loop is running once it is overdue, so the line says where it was held (a thread,
    because the loop itself cannot look while it is held). Collector passes are timed through
    `gc.callbacks`: the thread cannot run during one (it holds the GIL), so the line says how
    much of the stall they were."""

    def __init__(self, step: float = 0.1, warn_after: float = WARN_AFTER) -> None:
        self.step = step
        self.warn_after = warn_after
        self._tick = time.monotonic()  # when the sleeper last went to sleep
        self._where: list[str] | None = None  # the loop's stack, sampled during this stall
        self._collecting_since: float | None = None
        self._collected = 0.0  # seconds of collector passes since the sleeper went to sleep
        self._stopped = threading.Event()
        self._loop_thread = threading.get_ident()

    def _collector(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._collecting_since = time.perf_counter()
        elif self._collecting_since is not None:
            took = time.perf_counter() - self._collecting_since
            self._collecting_since = None
            self._collected += took
            COLLECTOR_PAUSES.labels(str(info.get("generation", ""))).observe(took)

    def _look(self) -> None:
        """The thread: once the loop is overdue by half the warning's threshold, its stack."""
        while not self._stopped.wait(self.step / 2):
            overdue = time.monotonic() - self._tick - self.step
            if self.warn_after and overdue > self.warn_after / 2 and self._where is None:
                frame = sys._current_frames().get(self._loop_thread)
                if frame is not None:
                    self._where = where(frame)

    async def watch_forever(self) -> None:
        self._loop_thread = threading.get_ident()
        looker = threading.Thread(target=self._look, name="stall-watch", daemon=True)
        gc.callbacks.append(self._collector)
        looker.start()
        try:
            while True:
                self._where, self._collected = None, 0.0
                self._tick = time.monotonic()
                asleep, cpu = time.perf_counter(), time.process_time()
                await asyncio.sleep(self.step)
                late = max(0.0, time.perf_counter() - asleep - self.step)
                LOOP_LAG.observe(late)
                if self.warn_after and late >= self.warn_after:
                    # cpu_ms well under held_ms: the process was waiting for a core, not working
                    log.warning("event loop held", held_ms=round(late * 1000),
                                cpu_ms=round((time.process_time() - cpu) * 1000),
                                collector_ms=round(self._collected * 1000),
                                where=self._where or [])
        finally:
            self._stopped.set()
            gc.callbacks.remove(self._collector)


def where(frame: Any, depth: int = 8) -> list[str]:
    """A stack's innermost `depth` frames as `file:line function`, innermost first (no source
    read: the loop is held while this runs)."""
    summary = traceback.StackSummary.extract(traceback.walk_stack(frame), limit=depth,
                                             lookup_lines=False)
    return [f"{_short(entry.filename)}:{entry.lineno} {entry.name}" for entry in summary]


def _short(filename: str) -> str:
    """A path from its package on (`csms/...`, `asyncio/...`), not the machine's."""
    parts = filename.replace("\\", "/").split("/")
    for anchor in ("site-packages", "csms", "bridge", "simulators", "asyncio"):
        if anchor in parts:
            at = len(parts) - 1 - parts[::-1].index(anchor)
            return "/".join(parts[at + (anchor == "site-packages"):])
    return "/".join(parts[-2:])
