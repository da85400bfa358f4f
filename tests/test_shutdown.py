"""Stopping a node: it exits even when something still holds a database connection."""

from __future__ import annotations

import asyncio

from tests.conftest import AppFactory


async def test_stop_does_not_wait_forever_for_a_held_connection(make_app: AppFactory) -> None:
    app = await make_app()
    await app.pool.acquire()  # held, as by a call that never ends
    stopping = asyncio.ensure_future(app.stop(grace=0.5))
    done, _ = await asyncio.wait({stopping}, timeout=30)  # not cancelled: that could hang too
    assert stopping in done, "stop() still waits for the held connection"
    await stopping
    assert app.pool.is_closing()
