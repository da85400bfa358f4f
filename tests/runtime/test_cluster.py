"""Several nodes on one database: commands reach the node holding the charger, leases, shared outbox."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp import web
from websockets.asyncio.client import ClientConnection, connect

from bridge import outbox
from csms.app import App
from csms.cluster import relay
from csms.cluster.nodes import TOMBSTONE_LEASES, NodeRegistry
from csms.domain.charge_points import register
from csms.domain.events import ChargePointDisconnected, DomainEvent, EventBus, Subscriber
from csms.storage import store
from csms.storage.notifications import Listener
from simulators.balancer import Balancer
from simulators.chargepoint import SimConfig
from simulators.partners.hubject import SimulatedHubject
from tests.conftest import AppFactory, SimFactory
from tests.fleet.test_commands import OUTCOMES, _answer_next
from tests.oicp.test_oicp_roaming import CDR, _async, remote_start_body
from tests.runtime.test_crash import MAKERS, Server, settled
from tests.support import Api, eventually, ws_url


async def _holder(app: App, charge_point_id: str = "CP1") -> Any:
    return await app.pool.fetchval("SELECT node_id FROM charge_points WHERE id = $1",
                                   charge_point_id)


@pytest.fixture
async def nodes(make_app: AppFactory) -> AsyncIterator[tuple[App, App, Api]]:
    """Node "a" (whose API we call) and node "b" (where the charger goes)."""
    a = await make_app(node_id="a")
    b = await make_app(node_id="b")
    api = Api(f"http://127.0.0.1:{a.api.port}/api/v1")
    await register(a.pool, "CP1", None, {1: "DE*ABC*E0001*1"}, security_profile=0)
    yield a, b, api
    await api.http.close()


async def test_commands_reach_the_node_holding_the_charger(nodes: tuple[App, App, Api],
                                                           sims: SimFactory) -> None:
    a, b, api = nodes
    sim = sims(b)
    await sim.start()
    await eventually(lambda: _holder(a))
    assert await _holder(a) == "b" and "CP1" not in a.connections
    v16 = sims.protocol == "1.6"  # type: ignore[attr-defined]

    status, answer = await api.post("/charge-points/CP1/reset", {"hard": True})
    assert (status, answer["outcome"]) == (200, "accepted"), answer
    assert ("Hard" if v16 else "Immediate") in json.dumps(await sim.wait_for_call("Reset"))
    assert (await api.get("/charge-points/CP1"))["live"] is True

    # An answer longer than a NOTIFY may carry comes back through the replies table.
    keys = [f"Vendor.UnknownSettingNumber{i:04}" for i in range(150)]
    config = await api.get("/charge-points/CP1/configuration?"
                           + "&".join(f"key={key}" for key in keys))
    assert config["outcome"] == "accepted" and "UnknownSettingNumber0149" in json.dumps(config["detail"])
    assert len(json.dumps(config["detail"])) > relay.MAX_PAYLOAD
    assert await a.pool.fetchval("SELECT count(*) FROM relay_replies") == 0

    # Remote start and stop through node a: the session is the same row either node sees.
    status, started = await api.post("/charge-points/CP1/evses/1/start", {"token": "TOKEN1"})
    assert (status, started["outcome"]) == (200, "accepted"), started

    async def active() -> bool:
        return bool(await a.pool.fetchval("SELECT status FROM sessions WHERE id = $1",
                                          started["session_id"]) == "active")
    await eventually(active)
    status, stopped = await api.post(f"/sessions/{started['session_id']}/stop")
    assert (status, stopped["outcome"]) == (200, "accepted"), stopped

    async def completed() -> bool:
        return bool(await a.pool.fetchval("SELECT status FROM sessions WHERE id = $1",
                                          started["session_id"]) == "completed")
    await eventually(completed)


@contextlib.asynccontextmanager
async def raw_charger_on_b(make_app: AppFactory, **ocpp: Any
                           ) -> AsyncIterator[tuple[App, App, Api, ClientConnection]]:
    """Nodes a and b; a bare 1.6 connection of CP1, booted, on b; node a's API."""
    a = await make_app(node_id="a", meter_value_interval=0, **ocpp)
    b = await make_app(node_id="b", meter_value_interval=0, **ocpp)
    api = Api(f"http://127.0.0.1:{a.api.port}/api/v1")
    try:
        await register(a.pool, "CP1", None, {1: None}, security_profile=0)
        async with connect(f"{ws_url(b)}/CP1", subprotocols=["ocpp1.6"]) as ws:  # type: ignore[list-item]
            await ws.send(json.dumps([2, "b", "BootNotification",
                                      {"chargePointVendor": "V", "chargePointModel": "M"}]))
            await ws.recv()
            yield a, b, api, ws
    finally:
        await api.http.close()


async def test_every_outcome_travels_back(make_app: AppFactory) -> None:
    # Long enough for the test to answer on a busy machine; the unanswered call waits it out once.
    async with raw_charger_on_b(make_app, call_timeout=3) as (a, _, api, ws):
        for reply, expected in OUTCOMES:
            command = asyncio.create_task(api.post("/charge-points/CP1/reset"))
            await _answer_next(ws, reply)
            status, answer = await command
            assert (status, answer["outcome"]) == expected, (reply, answer)
            if expected[1] == "failed":
                assert answer["detail"] == {"error": "NotImplemented", "description": "not here"}
        await ws.close()
        await eventually(lambda: a.pool.fetchval(
            "SELECT NOT connected FROM charge_points WHERE id = 'CP1'"))
        status, answer = await api.post("/charge-points/CP1/reset")
        assert (status, answer["outcome"]) == (503, "offline")


async def test_a_dead_nodes_chargers_are_released_and_claimed_back(
        nodes: tuple[App, App, Api], sims: SimFactory) -> None:
    a, b, api = nodes
    sim = sims(b)
    await sim.start()
    await eventually(lambda: _holder(a))
    # Node b stalls: it stops renewing, and its lease runs out.
    renewing = b.tasks.pop()
    renewing.cancel()
    await a.pool.execute("UPDATE nodes SET lease_until = now() - interval '1 second' "
                         "WHERE id = 'b'")
    assert await a.registry.sweep() == ["CP1"]
    assert await _holder(a) is None
    status, answer = await api.post("/charge-points/CP1/reset")
    assert (status, answer["outcome"]) == (503, "offline")  # at once, not after a timeout
    # b wakes up still holding the connection: it takes its lease and its charger back.
    await b.registry.renew()
    assert await _holder(a) == "b"
    status, answer = await api.post("/charge-points/CP1/reset")
    assert (status, answer["outcome"]) == (200, "accepted"), answer


async def test_a_charger_that_moves_is_released_by_its_old_node(
        nodes: tuple[App, App, Api], sims: SimFactory) -> None:
    a, b, _ = nodes
    on_b = sims(b, reconnect=False)
    await on_b.start()
    await eventually(lambda: _holder(a))
    assert await _holder(a) == "b"
    on_a = sims(a)  # the same charger, through the balancer, now lands on node a
    await on_a.start()

    async def moved() -> bool:
        return bool(await _holder(a) == "a")
    await eventually(moved)
    # Node b closes its stale connection, as one node does with a replaced one, and has done
    # with it (what it writes on a charger's leaving included) ...
    await eventually(lambda: _async(not on_b.connected.is_set() and not any(b.ocpp._live)))
    # ... without undoing the move.
    row = await a.pool.fetchrow("SELECT connected, node_id FROM charge_points WHERE id = 'CP1'")
    assert (row["connected"], row["node_id"]) == (True, "a")
    assert on_a.connected.is_set()


class Partner:
    """A partner's HTTP endpoint that records what arrives and how many requests overlap."""

    def __init__(self) -> None:
        self.received: list[int] = []
        self.in_flight = 0
        self.most_in_flight = 0
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def _receive(self, request: web.Request) -> web.Response:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        await asyncio.sleep(0.01)
        self.received.append((await request.json())["n"])
        self.in_flight -= 1
        return web.json_response({"ok": True})

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/push", self._receive)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/push"

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


async def test_nodes_share_one_partners_outbox_in_order_one_at_a_time(db_url: str) -> None:
    partner = Partner()
    await partner.start()
    http = aiohttp.ClientSession()

    async def send(message: asyncpg.Record) -> outbox.Delivery:
        async with http.post(partner.url, json=message["body"]) as response:
            return outbox.Delivery(response.status == 200)

    pools, listeners, workers = [], [], []
    try:
        for _ in range(3):  # three nodes, each with its worker for the same partner
            pool = await asyncpg.create_pool(db_url, min_size=1, max_size=3,
                                             init=_jsonb)
            listener = Listener(db_url)
            await listener.start()
            worker = outbox.OutboxWorker(pool, listener, "partner", send)
            await worker.start()
            pools.append(pool)
            listeners.append(listener)
            workers.append(worker)
        async with pools[0].acquire() as conn, conn.transaction():
            for n in range(40):
                await outbox.enqueue(conn, "partner", "push", "/push", {"n": n})

        async def all_delivered() -> bool:
            # Marked delivered: nothing is sent again, so what the partner has is all it gets.
            return not await pools[0].fetchval(
                "SELECT count(*) FROM outbox WHERE status <> 'delivered'")
        await eventually(all_delivered)
        assert partner.received == list(range(40))  # in order, each once
        assert partner.most_in_flight == 1
    finally:
        for worker in workers:
            await worker.stop()
        for listener in listeners:
            await listener.stop()
        for pool in pools:
            await pool.close()
        await http.close()
        await partner.stop()


async def _jsonb(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads,
                              schema="pg_catalog")


@pytest.mark.timeout(300)  # three processes' starts on a busy machine
@pytest.mark.parametrize("protocol", ["1.6", "2.0.1"])
async def test_two_nodes_remote_start_node_killed_one_cdr(
        db_url: str, hubject: SimulatedHubject, protocol: str) -> None:
    """The charger is on node b; Hubject's remote start arrives at node a; b dies mid-session;
    the charger reconnects through the balancer to a, ends the session, one CDR goes out."""
    pool = await asyncpg.create_pool(db_url, min_size=1, max_size=2)
    await register(pool, "CP1", None, {1: "DE*ABC*E0001*1"}, security_profile=0)
    node_a = Server(db_url, hubject, CSMS_CLUSTER_NODE_ID="a", CSMS_CLUSTER_LEASE="3")
    node_b = Server(db_url, hubject, CSMS_CLUSTER_NODE_ID="b", CSMS_CLUSTER_LEASE="3")
    balancer = Balancer([("127.0.0.1", node_b.ocpp_port), ("127.0.0.1", node_a.ocpp_port)])
    await balancer.start()
    sim = MAKERS[protocol](SimConfig("CP1", f"ws://127.0.0.1:{balancer.port}/ocpp",
                                     meter_interval=0.2))
    try:
        await node_a.start()
        await node_b.start()
        await sim.start()

        async def held_by(node: str) -> bool:
            return bool(await pool.fetchval(
                "SELECT node_id = $1 AND connected FROM charge_points WHERE id = 'CP1'", node))
        await eventually(lambda: held_by("b"))
        start = remote_start_body()
        answer = await hubject.remote_start(f"http://127.0.0.1:{node_a.oicp_port}", start)
        assert answer["Result"] is True, answer
        session_id = answer["CPOPartnerSessionID"]

        async def readings(at_least: int) -> bool:
            return bool(await pool.fetchval(
                """SELECT count(*) >= $2 FROM meter_samples WHERE session_id = $1
                   AND measurand = 'Energy.Active.Import.Register'""", session_id, at_least))
        await eventually(lambda: readings(3))
        await node_b.kill()
        await eventually(lambda: held_by("a"))
        assert balancer.connections[-1] == ("127.0.0.1", node_a.ocpp_port)
        await eventually(lambda: readings(6))  # metering goes on, now stored by node a
        await sim.stop_local_session(1)

        async def completed() -> bool:
            return bool(await pool.fetchval("SELECT status FROM sessions WHERE id = $1",
                                            session_id) == "completed")
        await eventually(completed)
        [cdr] = await eventually(lambda: _async(hubject.accepted(CDR)))
        assert cdr.body["SessionID"] == start["SessionID"]
        row = await pool.fetchrow("SELECT meter_start_wh, meter_stop_wh FROM sessions WHERE id = $1",
                                  session_id)
        assert cdr.body["ConsumedEnergy"] == (row["meter_stop_wh"] - row["meter_start_wh"]) / 1000
        await settled(sim, pool)
        assert len(hubject.accepted(CDR)) == 1 and hubject.invalid == []
    finally:
        await sim.stop()
        await balancer.stop()
        await node_a.stop()
        await node_b.stop()
        await pool.close()


async def test_a_stopping_node_finishes_the_calls_it_relays(make_app: AppFactory) -> None:
    async with raw_charger_on_b(make_app) as (_, b, api, ws):
        command = asyncio.create_task(api.post("/charge-points/CP1/reset"))
        frame = json.loads(await ws.recv())
        assert frame[2] == "Reset"
        stopping = asyncio.create_task(b.stop())  # SIGTERM arrives mid-call
        await asyncio.sleep(0.3)
        await ws.send(json.dumps([3, frame[1], {"status": "Accepted"}]))
        status, answer = await command
        assert (status, answer["outcome"]) == (200, "accepted"), answer
        await stopping
        assert ws.close_code == 1001  # and only then the charger is sent elsewhere


# --- the sweep: dead nodes only, each by one node -----------------------------------------------

async def _fleet(pool: asyncpg.Pool, held: dict[str, int]) -> dict[str, list[str]]:
    """Chargers recorded as connected, so many per node, each node with a live lease."""
    fleet = {}
    for node, count in held.items():
        ids = [f"{node}-CP{n:05}" for n in range(count)]
        await store.insert_charge_points(pool, ids)
        await pool.execute("UPDATE charge_points SET connected = true, node_id = $1 "
                           "WHERE id = ANY($2::text[])", node, ids)
        await store.join_nodes(pool, node, 15)
        fleet[node] = ids
    await pool.execute("ANALYZE charge_points")  # the planner knows the table, as in production
    return fleet


async def _expire(pool: asyncpg.Pool, node: str) -> None:
    await pool.execute("UPDATE nodes SET lease_until = now() - interval '1 second' WHERE id = $1",
                       node)


def _registry(pool: asyncpg.Pool, node_id: str, published: list[str],
              subscriber: Subscriber | None = None) -> NodeRegistry:
    """A node's registry whose disconnections are recorded in `published`."""
    events = EventBus()

    async def record(_: asyncpg.Connection, event: DomainEvent) -> None:
        if isinstance(event, ChargePointDisconnected):
            published.append(event.charge_point_id)
    events.subscribe(record)
    if subscriber is not None:
        events.subscribe(subscriber)
    return NodeRegistry(pool, events, node_id, 15, list)


async def _rows(pool: asyncpg.Pool) -> dict[str, bool]:
    """The nodes' rows: whether each is a swept node's tombstone."""
    return {row["id"]: row["swept"]
            for row in await pool.fetch("SELECT id, swept_at IS NOT NULL AS swept FROM nodes")}


async def _disconnected(pool: asyncpg.Pool) -> set[str]:
    rows = await pool.fetch("SELECT id FROM charge_points WHERE NOT connected AND node_id IS NULL")
    return {row["id"] for row in rows}


async def test_one_node_sweeps_a_dead_node_the_others_skip_it_without_waiting(
        db_url: str) -> None:
    pools = {name: await asyncpg.create_pool(db_url, min_size=1, max_size=2,
                                             server_settings={"application_name": name})
             for name in ("sweeper-a", "sweeper-b")}
    published: list[str] = []
    inside, go_on = asyncio.Event(), asyncio.Event()

    async def hold(_: asyncpg.Connection, event: DomainEvent) -> None:
        inside.set()  # a is mid-sweep: the dead node's row locked, its chargers released
        await go_on.wait()
    a = _registry(pools["sweeper-a"], "a", published, hold)
    b = _registry(pools["sweeper-b"], "b", published)
    sweeping_a = sweeping_b = None
    try:
        fleet = await _fleet(pools["sweeper-a"], {"a": 40, "b": 40, "dead": 60})
        await _expire(pools["sweeper-a"], "dead")
        sweeping_a = asyncio.create_task(a.sweep())
        await eventually(lambda: _async(inside.is_set()))
        sweeping_b = asyncio.create_task(b.sweep())

        async def b_done_or_waiting() -> bool:
            return sweeping_b.done() or bool(await pools["sweeper-a"].fetchval(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE application_name = 'sweeper-b' AND wait_event_type = 'Lock'"))
        await eventually(b_done_or_waiting)
        assert sweeping_b.done(), "b waits for a's sweep instead of skipping the node a sweeps"
        assert await sweeping_b == []
        go_on.set()
        assert sorted(await sweeping_a) == fleet["dead"]
        assert sorted(published) == fleet["dead"]  # each disconnection once, by a
        assert await _disconnected(pools["sweeper-a"]) == set(fleet["dead"])
        assert await _rows(pools["sweeper-a"]) == {"a": False, "b": False, "dead": True}
        assert await b.sweep() == [] and await a.sweep() == []  # done with: nothing twice
        assert sorted(published) == fleet["dead"]
    finally:
        go_on.set()
        for task in (sweeping_a, sweeping_b):
            if task is not None:
                with contextlib.suppress(Exception):
                    await task
        for pool in pools.values():
            await pool.close()


async def test_a_charger_recorded_under_a_swept_node_that_then_dies_is_released_by_the_next_sweep(
        db_url: str) -> None:
    """A node stalls past its lease and is swept; unaware, it records a new connection, then dies
    before its renewal would have made its row again: the next sweep, by any node, releases that
    charger and publishes its disconnection, once."""
    pool = await asyncpg.create_pool(db_url, min_size=1, max_size=2)
    published: list[str] = []
    a, b = _registry(pool, "a", published), _registry(pool, "b", published)
    try:
        fleet = await _fleet(pool, {"a": 2, "b": 2, "stalled": 3})
        await _expire(pool, "stalled")
        assert sorted(await a.sweep()) == fleet["stalled"]
        await store.insert_charge_points(pool, ["late"])
        assert await store.set_connected(pool, [("late", "ocpp2.0.1")], "stalled") \
            == {"late": None}
        # No live node holds it: a command to it is not relayed to the dead node.
        assert await a.holder("late") is None and await b.holder("late") is None
        assert await b.sweep() == ["late"]
        assert await a.sweep() == [] and await b.sweep() == []
        assert sorted(published) == sorted(fleet["stalled"] + ["late"])  # each once
        assert await _disconnected(pool) == set(fleet["stalled"] + ["late"])
    finally:
        await pool.close()


async def _swept_ago(pool: asyncpg.Pool, node: str, seconds: float) -> None:
    await pool.execute("UPDATE nodes SET swept_at = now() - make_interval(secs => $2) "
                       "WHERE id = $1", node, seconds)


async def test_a_swept_nodes_row_goes_after_ten_leases(db_url: str) -> None:
    pool = await asyncpg.create_pool(db_url, min_size=1, max_size=2)
    published: list[str] = []
    a = _registry(pool, "a", published)  # a lease of 15 s: the tombstone stays 150 s
    try:
        fleet = await _fleet(pool, {"a": 1, "dead": 2})
        await _expire(pool, "dead")
        assert sorted(await a.sweep()) == fleet["dead"]
        assert await pool.fetchval("SELECT array_agg(id ORDER BY id) FROM nodes") == ["a", "dead"]
        assert await _rows(pool) == {"a": False, "dead": True}
        await _swept_ago(pool, "dead", (TOMBSTONE_LEASES - 1) * 15)
        assert await a.sweep() == []
        assert await _rows(pool) == {"a": False, "dead": True}
        # Its last sweep still releases what the dead node recorded meanwhile, then forgets it.
        await _swept_ago(pool, "dead", (TOMBSTONE_LEASES + 1) * 15)
        await store.insert_charge_points(pool, ["late"])
        await store.set_connected(pool, [("late", "ocpp2.0.1")], "dead")
        assert await a.sweep() == ["late"]
        assert await _rows(pool) == {"a": False}
        assert await a.sweep() == []
        assert sorted(published) == sorted(fleet["dead"] + ["late"])
    finally:
        await pool.close()


async def test_a_swept_node_that_renews_takes_its_row_back_and_claims_its_chargers(
        db_url: str) -> None:
    """Even when it renews while the sweep of it is under way: it waits for that sweep, then sees
    its row marked swept."""
    pools = {name: await asyncpg.create_pool(db_url, min_size=1, max_size=2,
                                             server_settings={"application_name": name})
             for name in ("sweeper", "stalled")}
    pool = pools["sweeper"]
    published: list[str] = []
    inside, go_on = asyncio.Event(), asyncio.Event()

    async def hold(_: asyncpg.Connection, event: DomainEvent) -> None:
        inside.set()  # mid-sweep: the stalled node's row locked, its chargers released
        await go_on.wait()
    sweeper = _registry(pool, "sweeper", published, hold)
    sweeping = renewing = None
    try:
        fleet = await _fleet(pool, {"sweeper": 1, "stalled": 3})
        stalled = NodeRegistry(pools["stalled"], EventBus(), "stalled", 15,
                               lambda: fleet["stalled"])
        await _expire(pool, "stalled")
        sweeping = asyncio.create_task(sweeper.sweep())
        await eventually(lambda: _async(inside.is_set()))
        renewing = asyncio.create_task(stalled.renew())

        async def renewal_waits() -> bool:
            return bool(await pool.fetchval(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE application_name = 'stalled' AND wait_event_type = 'Lock'"))
        await eventually(renewal_waits)
        go_on.set()
        assert sorted(await sweeping) == fleet["stalled"]
        await renewing
        assert await _rows(pool) == {"sweeper": False, "stalled": False}
        assert await pool.fetchval("SELECT lease_until > now() FROM nodes WHERE id = 'stalled'")
        for charge_point_id in fleet["stalled"]:
            assert await sweeper.holder(charge_point_id) == "stalled"
        assert await sweeper.sweep() == []
        assert sorted(published) == fleet["stalled"]
        # Its row its own again: the next renewal claims nothing.
        assert not await store.join_nodes(pool, "stalled", 15)
    finally:
        go_on.set()
        for task in (sweeping, renewing):
            if task is not None:
                with contextlib.suppress(Exception):
                    await task
        for each in pools.values():
            await each.close()


_CHARGER_READS = """SELECT seq_scan, seq_tup_read, COALESCE(idx_tup_fetch, 0) AS idx_tup_fetch,
                           n_tup_upd
                    FROM pg_stat_xact_user_tables WHERE relname = 'charge_points'"""


async def _reads(conn: asyncpg.Connection, sweep: Awaitable[list[str]]
                 ) -> tuple[list[str], dict[str, int]]:
    """What the sweep returns, and how it read and wrote charge_points, as PostgreSQL counted it:
    the backend's counts before and after, in one transaction (nothing is flushed in one)."""
    before = await conn.fetchrow(_CHARGER_READS)
    released = await sweep
    after = await conn.fetchrow(_CHARGER_READS)
    return released, {key: after[key] - before[key] for key in after.keys()}


async def test_a_sweep_reads_no_charger_while_no_node_is_dead_and_then_only_the_dead_ones(
        db_url: str) -> None:
    pool = await asyncpg.create_pool(db_url, min_size=1, max_size=2)
    published: list[str] = []
    registry = _registry(pool, "a", published)
    try:
        fleet = await _fleet(pool, {"a": 2000, "b": 2000, "c": 500})
        async with pool.acquire() as conn, conn.transaction():
            assert await _reads(conn, registry.sweep_within(conn)) == ([], {
                "seq_scan": 0, "seq_tup_read": 0, "idx_tup_fetch": 0, "n_tup_upd": 0})

        await _expire(pool, "c")
        async with pool.acquire() as conn, conn.transaction():
            released, reads = await _reads(conn, registry.sweep_within(conn))
        assert sorted(released) == fleet["c"]
        # Through the indexes, the dead node's 500 only, not the 4,000 others': each read twice,
        # locked in id order, then updated by its key (tests/runtime/test_lock_order.py).
        assert reads["seq_scan"] == 0 and reads["n_tup_upd"] == 500, reads
        assert reads["idx_tup_fetch"] <= 2 * 500, reads
        assert sorted(published) == fleet["c"]

        # c's tombstone is swept again each round: an index probe, no charger read.
        async with pool.acquire() as conn, conn.transaction():
            assert await _reads(conn, registry.sweep_within(conn)) == ([], {
                "seq_scan": 0, "seq_tup_read": 0, "idx_tup_fetch": 0, "n_tup_upd": 0})
        assert await _rows(pool) == {"a": False, "b": False, "c": True}
    finally:
        await pool.close()


async def test_a_leaving_node_releases_what_it_still_held(db_url: str) -> None:
    """No sweep looks for chargers under a node without a row: the leaving node releases them."""
    pool = await asyncpg.create_pool(db_url, min_size=1, max_size=2)
    published: list[str] = []
    try:
        fleet = await _fleet(pool, {"a": 3, "b": 2})
        await _registry(pool, "a", published).leave()
        assert sorted(published) == fleet["a"]
        assert await _disconnected(pool) == set(fleet["a"])
        assert await pool.fetchval("SELECT array_agg(id) FROM nodes") == ["b"]
    finally:
        await pool.close()


async def test_a_starting_node_releases_chargers_of_no_live_node(db_url: str) -> None:
    """At its start a node (restarted with the same id) releases what an earlier life of it held,
    and any charger recorded under no node or under one whose row is gone."""
    pool = await asyncpg.create_pool(db_url, min_size=1, max_size=2)
    published: list[str] = []
    try:
        fleet = await _fleet(pool, {"a": 2, "b": 2, "gone": 2, "dead": 2})
        await pool.execute("DELETE FROM nodes WHERE id = 'gone'")
        await _expire(pool, "dead")
        await store.insert_charge_points(pool, ["nobody"])
        await pool.execute("UPDATE charge_points SET connected = true WHERE id = 'nobody'")
        await _registry(pool, "a", published).join()
        strays = fleet["a"] + fleet["gone"] + fleet["dead"] + ["nobody"]
        assert sorted(published) == sorted(strays)
        assert await _disconnected(pool) == set(strays)
        assert await _rows(pool) == {"a": False, "b": False, "dead": True}
    finally:
        await pool.close()


async def test_a_node_whose_pool_is_taken_still_renews_its_lease(db_url: str) -> None:
    """In a connection storm every handler waits for the pool; the lease must not wait behind
    them, or a live node is swept as dead (seen: 3 of 8 nodes at 100,000 chargers connecting)."""
    pool = await asyncpg.create_pool(db_url, min_size=1, max_size=2)
    watcher = await asyncpg.connect(db_url)
    registry = NodeRegistry(pool, EventBus(), "busy", 15, list, db_url)
    await registry.join()
    taken = [await pool.acquire() for _ in range(2)]  # every pool connection busy
    try:
        await watcher.execute("UPDATE nodes SET lease_until = now() WHERE id = 'busy'")
        async with asyncio.timeout(30):  # the pool would never free up: fail, do not hang
            await registry.renew()
        assert await watcher.fetchval(
            "SELECT lease_until > now() + interval '10 seconds' FROM nodes WHERE id = 'busy'")
    finally:
        for conn in taken:
            await pool.release(conn)
        await registry.leave()
        await watcher.close()
        await pool.close()
