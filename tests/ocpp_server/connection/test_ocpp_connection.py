"""What an open charger connection keeps (memory per charger), and that it still serves as before."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import socket
import sys
from collections import deque
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.server import ServerProtocol

from csms.app import App
from csms.domain.charge_points import register
from csms.ocpp.connection import NO_HEADERS, FrameQueue
from csms.ocpp.ocpp16 import Ocpp16Adapter
from csms.ocpp.ocpp201 import Ocpp201Adapter
from tests.conftest import AppFactory
from tests.support import eventually, ws_url

BOOT_16 = [2, "b1", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}]


async def _call(ws: Any, frame: list[Any]) -> list[Any]:
    await ws.send(json.dumps(frame))
    return json.loads(await ws.recv())  # type: ignore[no-any-return]


async def _quiet_app(make_app: AppFactory, **settings: Any) -> App:
    """No call of ours after the boot (meter interval): the charger's frames are all answers."""
    app = await make_app(meter_value_interval=0, **settings)
    await register(app.pool, "CP1", None, {1: None}, security_profile=0)
    return app


async def _server_side(app: App, charge_point_id: str) -> Any:
    async def found() -> Any:
        return app.connections.get(charge_point_id)
    return (await eventually(found))._connection


async def test_an_open_connection_keeps_no_handshake_headers(make_app: AppFactory) -> None:
    app = await _quiet_app(make_app)
    async with connect(f"{ws_url(app)}/CP1", subprotocols=["ocpp1.6"],  # type: ignore[list-item]
                       user_agent_header="Firmware/1.0", additional_headers={"X-Vendor": "v"}) as ws:
        assert (await _call(ws, BOOT_16))[2]["status"] == "Accepted"
        connection = await _server_side(app, "CP1")
        assert connection.request.path == "/ocpp/CP1"  # the charger's id stays
        assert connection.subprotocol == "ocpp1.6"
        assert len(connection.request.headers) == 0 and len(connection.response.headers) == 0
        with pytest.raises(TypeError):
            NO_HEADERS["X-Shared"] = "by every connection: never written"
        # websockets' logger, not an adapter made for this connection
        assert type(connection.logger) is logging.Logger
        assert connection.protocol.logger is connection.logger
        assert (await _call(ws, [2, "h1", "Heartbeat", {}]))[0] == 3  # still serving


async def test_a_connection_keeps_no_ping_table_once_its_pong_came(make_app: AppFactory) -> None:
    app = await _quiet_app(make_app)
    async with connect(f"{ws_url(app)}/CP1", subprotocols=["ocpp1.6"]) as ws:  # type: ignore[list-item]
        assert (await _call(ws, BOOT_16))[2]["status"] == "Accepted"
        connection = await _server_side(app, "CP1")
        for _ in range(3):
            await asyncio.wait_for(await connection.ping(), 10)  # the client answers by itself
        assert connection.pending_pings == {}
        assert sys.getsizeof(connection.pending_pings) == sys.getsizeof({})  # no table kept
        assert connection.latency > 0  # measured as before


async def test_a_charger_flushing_its_queue_is_answered_in_order(make_app: AppFactory) -> None:
    """Hundreds of calls at once (past websockets' max_queue, so reading pauses and resumes)
    and a fragmented one: every call answered, in order, through the list-backed queue."""
    app = await _quiet_app(make_app, max_messages_per_second=0)  # the flush is the point here
    async with connect(f"{ws_url(app)}/CP1", subprotocols=["ocpp1.6"]) as ws:  # type: ignore[list-item]
        assert (await _call(ws, BOOT_16))[2]["status"] == "Accepted"
        connection = await _server_side(app, "CP1")
        assert isinstance(connection.recv_messages.frames.queue, FrameQueue)
        ids = [f"q{n}" for n in range(300)]
        for message_id in ids[:-1]:
            await ws.send(json.dumps([2, message_id, "Heartbeat", {}]))
        last = json.dumps([2, ids[-1], "Heartbeat", {}])
        await ws.send(iter([last[:5], last[5:12], last[12:]]))  # three frames, one message
        answers = [json.loads(await ws.recv()) for _ in ids]
        assert [answer[1] for answer in answers] == ids
        assert all(answer[0] == 3 for answer in answers)


async def test_an_idle_connection_holds_no_frame_it_has_answered(make_app: AppFactory) -> None:
    """The ocpp library's receive loop kept each charger's last frame until the next one came
    (a MeterValues' text per idle charger): no waiting coroutine holds it now."""
    app = await _quiet_app(make_app)
    marker = f"marker{random.randrange(10**9)}"
    async with connect(f"{ws_url(app)}/CP1", subprotocols=["ocpp1.6"]) as ws:  # type: ignore[list-item]
        assert (await _call(ws, BOOT_16))[2]["status"] == "Accepted"
        assert (await _call(ws, [2, marker, "Heartbeat", {}]))[0] == 3
        await asyncio.sleep(0)  # the loop turn after the answer: back to waiting
        held = [name for task in asyncio.all_tasks() - {asyncio.current_task()}
                for name, value in _waiting_locals(task)
                if isinstance(value, str | bytes) and marker.encode() in _as_bytes(value)]
        assert held == []


def _waiting_locals(task: asyncio.Task[Any]) -> list[tuple[str, object]]:
    """Every local of every coroutine the task waits in, down its chain of awaits."""
    found: list[tuple[str, object]] = []
    coroutine: Any = task.get_coro()
    while coroutine is not None:
        frame = getattr(coroutine, "cr_frame", None) or getattr(coroutine, "gi_frame", None)
        if frame is None:
            break
        found += [(f"{frame.f_code.co_qualname}.{name}", value)
                  for name, value in frame.f_locals.items()]
        coroutine = getattr(coroutine, "cr_await", None) or getattr(coroutine, "gi_yieldfrom", None)
    return found


def _as_bytes(value: str | bytes) -> bytes:
    return value.encode() if isinstance(value, str) else value


def test_the_frame_queue_does_what_the_deque_did() -> None:
    """The assembler's calls, on both: append, popleft, len, and put_back's
    extendleft(reversed(frames)) that must keep the frames' order."""
    ours, theirs = FrameQueue(), deque[int]()
    steps = random.Random(7)
    for n in range(2000):
        step = steps.random()
        if step < 0.5:
            ours.append(n)
            theirs.append(n)
        elif step < 0.8 and theirs:
            assert ours.popleft() == theirs.popleft()
        else:
            back = [n, n + 10_000, n + 20_000]
            ours.extendleft(reversed(back))
            theirs.extendleft(reversed(back))
        assert list(ours) == list(theirs) and len(ours) == len(theirs)
        assert bool(ours) == bool(theirs)


@pytest.mark.parametrize("version", [Ocpp16Adapter, Ocpp201Adapter])
async def test_adapters_made_before_the_first_boot_keep_their_attributes_shared(
        app: App, version: type[Ocpp16Adapter] | type[Ocpp201Adapter]) -> None:
    """A boot storm: hundreds of adapters exist before the first boot is answered. What a boot
    sets must not give each of them a dict of its own (CPython shares attribute names between
    a class's instances only while few exist)."""
    fresh = type("Fresh", (version,), {})  # a class of its own: no earlier test's instances
    storm = [fresh(f"CP{n}", None, app.services) for n in range(200)]
    for adapter in storm:  # as each boot does
        for name in version._set_by_boot:
            setattr(adapter, name, "Accepted")
    sizes = {sys.getsizeof(vars(adapter)) for adapter in storm}
    unbooted = sys.getsizeof(vars(fresh("CPX", None, app.services)))
    assert max(sizes) <= unbooted  # a dict of its own would be several times larger


async def test_connections_accepted_at_once_keep_their_attributes_shared(app: App) -> None:
    """Many connections are made before asyncio calls the first one's connection_made (a loop
    turn later): what that sets must not give each of them a dict of its own."""
    fresh = type("Fresh", (app.ocpp._connection_class,), {})  # no earlier test's instances
    server = app.ocpp._server
    storm = [fresh(ServerProtocol(), server) for _ in range(200)]
    pairs = [socket.socketpair() for _ in storm]
    loop = asyncio.get_running_loop()
    try:
        for connection, (ours, _) in zip(storm, pairs, strict=True):
            await loop.connect_accepted_socket(lambda c=connection: c, ours)  # connection_made
        assert all(connection.transport is not None for connection in storm)
        sizes = {sys.getsizeof(vars(connection)) for connection in storm}
        unconnected = sys.getsizeof(vars(fresh(ServerProtocol(), server)))
        assert max(sizes) <= unconnected  # a dict of its own would be several times larger
    finally:
        for connection in storm:
            if connection.transport is not None:
                connection.transport.abort()
        for _, theirs in pairs:
            theirs.close()
