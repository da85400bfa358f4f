"""Garbage-collector pauses kept short with many connections: long-lived objects frozen out of its way."""

from __future__ import annotations

import asyncio
import gc

import structlog

log = structlog.get_logger(__name__)


async def freeze_forever(interval: float = 30.0, full_every: int = 2880) -> None:
    """Every `interval`, young garbage is collected and the survivors are frozen, so that the
    collector's full passes no longer walk every connection's objects (with ten thousand
    chargers each pass stopped everything for hundreds of milliseconds). Frozen cycles that
    died later are reclaimed by one full collection every `full_every` intervals (a day)."""
    rounds = 0
    while True:
        await asyncio.sleep(interval)
        rounds += 1
        if rounds % full_every == 0:
            gc.unfreeze()
            gc.collect()
            log.info("full garbage collection")
        else:
            gc.collect(1)
        gc.freeze()
