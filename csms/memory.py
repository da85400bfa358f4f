"""Garbage-collector pauses kept short with many connections: long-lived objects frozen out of its way."""

from __future__ import annotations

import asyncio
import gc
import random

import structlog

log = structlog.get_logger(__name__)


# Young objects collected after this many allocations (Python's default: 700). A call allocates
# a few hundred (frames, dicts, the library's objects), so the default collected about every
# call; at 20,000 a saturated server used about a fifth less CPU per call (89-91 µs against
# 112-117, alternating runs on the same machine), for a few MB more young objects at most.
# The older generations keep their ratios wider too: survivors are frozen every round anyway.
YOUNG_THRESHOLD = (20_000, 50, 100)


def tune_collector() -> tuple[int, int, int]:
    """The thresholds a server runs with (set once at start); what they are now."""
    gc.set_threshold(*YOUNG_THRESHOLD)
    return gc.get_threshold()


async def freeze_forever(interval: float = 30.0, full_every: int = 2880,
                         first: float | None = None) -> None:
    """Every `interval`, young garbage is collected and the survivors are frozen, so that the
    collector's full passes no longer walk every connection's objects (with ten thousand
    chargers each pass stopped everything for hundreds of milliseconds). Frozen cycles that
    died later are reclaimed by one full collection every `full_every` intervals (a day).
    The first round comes after `first`, by default at a random point of the interval: nodes
    started together (a deploy, the cluster bench) would otherwise collect at the same moment,
    each slowing the others on shared cores (100,000 chargers on 8 nodes and 15 balancer
    processes: stalls of 400 ms for 50 ms of work each)."""
    await asyncio.sleep(random_phase(interval) if first is None else first)
    rounds = 0
    while True:
        rounds += 1
        if rounds % full_every == 0:
            gc.unfreeze()
            gc.collect()
            log.info("full garbage collection")
        else:
            gc.collect(1)
        gc.freeze()
        await asyncio.sleep(interval)


def random_phase(interval: float) -> float:
    """A point of the interval, different in each process."""
    return random.uniform(0, interval)
