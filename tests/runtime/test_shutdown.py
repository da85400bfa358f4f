"""Stopping a node: it exits even when something still holds a database connection."""

from __future__ import annotations

import asyncio

from csms.domain.charge_points import register
from simulators.partners.hubject import SimulatedHubject
from tests.conftest import AppFactory
from tests.support import eventually, oicp_settings


async def test_stop_does_not_wait_forever_for_a_held_connection(make_app: AppFactory) -> None:
    app = await make_app()
    await app.pool.acquire()  # held, as by a call that never ends
    stopping = asyncio.ensure_future(app.stop(grace=0.5))
    done, _ = await asyncio.wait({stopping}, timeout=30)  # not cancelled: that could hang too
    assert stopping in done, "stop() still waits for the held connection"
    await stopping
    assert app.pool.is_closing()


async def test_a_delivery_under_way_at_stop_is_recorded_not_sent_again(
        make_app: AppFactory, hubject: SimulatedHubject) -> None:
    """Stopped mid-request, a worker lets the partner's answer come and records it: the next
    start does not send the message a second time."""
    app = await make_app(oicp=oicp_settings(hubject))
    hubject.delay = 1.0  # the partner takes its time to answer
    await register(app.pool, "CP1", None, {1: "DE*ABC*E0001*1"}, security_profile=0)
    assert app.oicp is not None
    await app.oicp.push_all_statuses()
    await eventually(lambda: _async(len(hubject.received) >= 1))  # the push is under way
    first = await app.pool.fetchval("SELECT min(id) FROM outbox")
    await app.stop()
    hubject.delay = 0.0
    app = await make_app(oicp=oicp_settings(hubject))
    await eventually(lambda: app.pool.fetchval(
        "SELECT status = 'delivered' FROM outbox WHERE id = $1", first))
    operation = hubject.received[0].operation
    assert [r.ok for r in hubject.received if r.operation == operation][:2] == [True]


async def _async(value: object) -> object:
    return value
