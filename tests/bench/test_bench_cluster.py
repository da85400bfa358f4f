"""The cluster bench's pieces: the balancer spreads chargers over nodes; the load generator binds
source addresses of its own and comes back after its node drops it."""

from __future__ import annotations

import asyncio
import gc
import json
import time
from collections import Counter
from dataclasses import replace

import pytest
from websockets.asyncio.server import ServerConnection, serve

from bench.__main__ import _jobs
from bench.cluster import RESERVED_CONNECTIONS, pool_size_for
from bench.load import STALL_MS, Job, Outcome, _run, _time_collections, _watch_stalls
from simulators.balancer import Balancer
from tests.support import eventually


async def test_the_balancer_spreads_connections_and_skips_a_node_that_is_down() -> None:
    held: dict[int, list[asyncio.StreamWriter]] = {0: [], 1: [], 2: []}

    def backend(k: int):  # type: ignore[no-untyped-def]
        async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            held[k].append(writer)
            await reader.read()  # until the client goes
        return hold
    servers = [await asyncio.start_server(backend(k), "127.0.0.1", 0) for k in range(3)]
    ports = [server.sockets[0].getsockname()[1] for server in servers]
    balancer = Balancer([("127.0.0.1", port) for port in ports])
    await balancer.start()
    clients = []
    try:
        for n in range(9):
            clients.append(await asyncio.open_connection("127.0.0.1", balancer.port))
            await eventually(lambda n=n: _async(sum(map(len, held.values())) == n + 1))
        assert [len(held[k]) for k in range(3)] == [3, 3, 3]

        # Node 0 dies: its connections close and new ones go to the nodes still up, evenly.
        servers[0].close()
        for writer in held[0]:
            writer.close()
        await eventually(lambda: _async(balancer.open[("127.0.0.1", ports[0])] == 0))
        for n in range(4):
            clients.append(await asyncio.open_connection("127.0.0.1", balancer.port))
            await eventually(lambda n=n: _async(len(held[1]) + len(held[2]) == 7 + n))
        assert (len(held[1]), len(held[2])) == (5, 5)
        assert Counter(balancer.connections)[("127.0.0.1", ports[0])] == 3
    finally:
        for _, writer in clients:
            writer.close()
        await balancer.stop()
        for server in servers:
            server.close()


async def _async(value: bool) -> bool:
    return value


def test_every_load_process_has_a_source_address_of_its_own() -> None:
    job = Job("cluster", "ws://127.0.0.1:1/ocpp", [f"CP{n}" for n in range(10)], 0.0)
    parts = _jobs(job, 4)
    assert [part.local_host for part in parts] == [f"127.0.0.{k}" for k in range(1, 5)]
    assert sorted(cp for part in parts for cp in part.charge_point_ids) == sorted(
        job.charge_point_ids)


async def test_cluster_chargers_bind_their_address_and_come_back_when_dropped() -> None:
    peers: list[str] = []
    connections: list[ServerConnection] = []

    async def node(ws: ServerConnection) -> None:
        """A stand-in node: answers every call; the bench's charger does not judge answers."""
        peers.append(ws.remote_address[0])
        connections.append(ws)
        async for message in ws:
            frame = json.loads(message)
            answer: dict[str, object] = {"transactionId": 1, "idTagInfo": {"status": "Accepted"}}
            if frame[0] == 2:
                await ws.send(json.dumps([3, frame[1], answer]))

    async with serve(node, "127.0.0.1", 0, subprotocols=["ocpp1.6"]) as server:  # type: ignore[list-item]
        port = server.sockets[0].getsockname()[1]
        job = replace(Job("cluster", f"ws://127.0.0.1:{port}/ocpp", ["CP1", "CP2"],
                          time.time(), seconds=60, ramp=0.2, reconnect_jitter=0.1),
                      local_host="127.0.0.3")
        running = asyncio.create_task(_run(job))
        await eventually(lambda: _async(len(peers) == 2))
        # The node goes away; the charger notices while idle (no call due for minutes).
        await connections[0].close()
        await eventually(lambda: _async(len(peers) == 3))
        assert set(peers) == {"127.0.0.3"}
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)


async def test_the_load_process_records_its_own_stalls_and_collections() -> None:
    """A slow call that lines up with one of these was the harness's, not the server's."""
    outcome = Outcome()
    watching = asyncio.create_task(_watch_stalls(outcome, time.time() + 60, step=0.01))
    await asyncio.sleep(0)  # the watcher runs up to its first sleep
    time.sleep(STALL_MS * 2 / 1000)  # noqa: ASYNC251  (the loop blocked, as by a long collection)
    await eventually(lambda: _async(bool(outcome.stalls)))
    watching.cancel()
    assert outcome.stalls[0][1] >= STALL_MS
    timed = _time_collections(outcome, over_ms=0.0)
    try:
        gc.collect()
    finally:
        gc.callbacks.remove(timed)
    assert len(outcome.collections) == 1
    total = Outcome()
    total.add(outcome)
    total.add(outcome)
    assert (len(total.stalls), len(total.collections)) == (2 * len(outcome.stalls), 2)


@pytest.mark.parametrize(("nodes", "max_connections", "pool"), [
    (3, 100, 10), (6, 100, 10), (8, 100, 8), (10, 100, 6), (16, 100, 3), (60, 100, 2),
    (16, 200, 9)])
def test_each_nodes_pool_fits_the_servers_connections(nodes: int, max_connections: int,
                                                       pool: int) -> None:
    assert pool_size_for(nodes, max_connections) == pool
    if pool > 2:  # the floor aside, every node's pool and LISTEN connection fit
        assert nodes * (pool + 2) <= max_connections - RESERVED_CONNECTIONS
