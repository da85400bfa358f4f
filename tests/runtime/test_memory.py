"""The collector policy: survivors frozen every round, frozen garbage reclaimed by the full round."""

from __future__ import annotations

import asyncio
import gc
import weakref

from csms.memory import YOUNG_THRESHOLD, freeze_forever, random_phase, tune_collector
from tests.support import eventually


class Cyclic:
    """Freed only by a garbage collection (it refers to itself)."""

    def __init__(self) -> None:
        self.me = self


async def test_frozen_garbage_waits_for_the_full_round() -> None:
    gc.unfreeze()
    garbage = Cyclic()
    dead = weakref.ref(garbage)
    freezing = asyncio.create_task(freeze_forever(interval=0.2, full_every=3))
    try:
        await eventually(lambda: _async(gc.get_freeze_count() > 0))  # round 1 froze it
        del garbage
        gc.collect()
        assert dead() is not None  # frozen: ordinary collections pass it by
        await eventually(lambda: _async(dead() is None))  # round 3: full collection
        assert gc.get_freeze_count() > 0  # ... and the survivors frozen again
    finally:
        freezing.cancel()
        gc.unfreeze()


async def test_the_first_round_comes_when_asked() -> None:
    gc.unfreeze()
    started = asyncio.get_running_loop().time()
    freezing = asyncio.create_task(freeze_forever(interval=60, first=0.3))
    try:
        await eventually(lambda: _async(gc.get_freeze_count() > 0))
        assert asyncio.get_running_loop().time() - started >= 0.3
    finally:
        freezing.cancel()
        gc.unfreeze()


def test_by_default_the_first_round_comes_at_a_random_point_of_the_interval() -> None:
    """So that processes started together do not all collect at once, round after round."""
    phases = [random_phase(30.0) for _ in range(50)]
    assert all(0 <= phase <= 30.0 for phase in phases)
    assert len(set(phases)) > 40


async def _async(value: bool) -> bool:
    return value


def test_the_collector_runs_less_often_than_pythons_default() -> None:
    kept = gc.get_threshold()
    try:
        assert tune_collector() == YOUNG_THRESHOLD
        assert gc.get_threshold()[0] > 700 * 10
    finally:
        gc.set_threshold(*kept)
