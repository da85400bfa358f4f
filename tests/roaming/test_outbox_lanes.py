"""Outbox lanes: data pushes one at a time, sessions side by side, every lane in order."""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict

import aiohttp
import asyncpg
from aiohttp import web

from bridge import outbox
from csms.storage.notifications import Listener
from tests.runtime import test_cluster as cluster
from tests.runtime.test_cluster import _jsonb
from tests.support import eventually


class Partner(cluster.Partner):
    """A partner's endpoint: records what arrives per session, refuses (503) the sessions in
    `refusing`, and counts overlapping requests per lane."""

    def __init__(self) -> None:
        super().__init__()
        self.by_session: dict[str, list[int]] = defaultdict(list)
        self.refusing: set[str] = set()
        self.lanes_in_flight: dict[str, int] = defaultdict(int)
        self.most_in_lane: dict[str, int] = defaultdict(int)

    async def _receive(self, request: web.Request) -> web.Response:
        body = await request.json()
        lane = body["lane"]
        self.lanes_in_flight[lane] += 1
        self.in_flight += 1
        self.most_in_lane[lane] = max(self.most_in_lane[lane], self.lanes_in_flight[lane])
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(0.01)
            if body["session"] in self.refusing:
                return web.json_response({"busy": True}, status=503)
            self.by_session[body["session"]].append(body["n"])
            return web.json_response({"ok": True})
        finally:
            self.lanes_in_flight[lane] -= 1
            self.in_flight -= 1


def _sessions_in_other_lanes(than: str, count: int) -> list[str]:
    found: list[str] = []
    while len(found) < count:
        candidate = str(uuid.uuid4())
        if outbox.session_lane(candidate) != outbox.session_lane(than):
            found.append(candidate)
    return found


def test_a_sessions_lane_is_the_same_for_all_its_messages() -> None:
    ids = [str(uuid.uuid4()) for _ in range(200)]
    assert all(outbox.session_lane(i) == outbox.session_lane(i) for i in ids)
    assert {outbox.session_lane(i) for i in ids} == set(outbox.LANES) - {""}


async def test_a_stuck_session_holds_up_only_its_lane_and_every_lane_keeps_order(db_url: str) -> None:
    partner = Partner()
    await partner.start()
    http = aiohttp.ClientSession()

    async def send(message: asyncpg.Record) -> outbox.Delivery:
        async with http.post(partner.url, json={**message["body"], "lane": message["lane"]}) as response:
            return outbox.Delivery(response.status == 200, retry=True)

    pool = await asyncpg.create_pool(db_url, min_size=1, max_size=8, init=_jsonb)
    listener = Listener(db_url)
    await listener.start()
    lanes = outbox.Lanes(pool, listener, "partner", send, base_delay=0.05, max_delay=0.2)
    await lanes.start()
    stuck = str(uuid.uuid4())
    others = _sessions_in_other_lanes(stuck, 6)
    partner.refusing.add(stuck)
    try:
        async with pool.acquire() as conn, conn.transaction():
            for n in range(8):
                for session in [stuck, *others]:
                    await outbox.enqueue(conn, "partner", "session", "/push",
                                         {"session": session, "n": n},
                                         lane=outbox.session_lane(session))
                await outbox.enqueue(conn, "partner", "status", "/push", {"session": "data", "n": n})

        async def others_delivered() -> bool:
            return all(len(partner.by_session[s]) == 8 for s in [*others, "data"])
        await eventually(others_delivered)
        assert partner.by_session[stuck] == []  # refused and retried, in its own lane
        partner.refusing.clear()

        async def all_delivered() -> bool:
            # Marked delivered: nothing is sent again, so what the partner has is all it gets.
            return not await pool.fetchval("SELECT count(*) FROM outbox WHERE status <> 'delivered'")
        await eventually(all_delivered)
        for session in [stuck, *others, "data"]:
            assert partner.by_session[session] == list(range(8))  # in order, each once
        assert all(most == 1 for most in partner.most_in_lane.values())  # one at a time per lane
        assert partner.most_in_lane[""] == 1
        assert partner.most_in_flight > 1  # lanes do overlap
    finally:
        await lanes.stop()
        await listener.stop()
        await pool.close()
        await http.close()
        await partner.stop()


async def test_deliveries_take_at_most_a_third_of_the_pool(db_url: str) -> None:
    """Two partners with five lanes each, all busy: a slow partner must not take the pool the
    chargers' writes need, nor leave a sender's own lookup without a connection."""
    partner = Partner()
    await partner.start()
    http = aiohttp.ClientSession()
    pool = await asyncpg.create_pool(db_url, min_size=1, max_size=6, init=_jsonb)
    in_use: list[int] = []

    async def send(message: asyncpg.Record) -> outbox.Delivery:
        async with pool.acquire():  # a sender's own lookup, as the OCPI sender does
            in_use.append(pool.get_size() - pool.get_idle_size())
            async with http.post(partner.url, json={**message["body"], "lane": message["lane"]}) as answer:
                return outbox.Delivery(answer.status == 200)

    listener = Listener(db_url)
    await listener.start()
    both = [outbox.Lanes(pool, listener, name, send) for name in ("one", "two")]
    for lanes in both:
        await lanes.start()
    try:
        async with pool.acquire() as conn, conn.transaction():
            for n in range(6):
                for name in ("one", "two"):
                    for session in (f"{name}-a", f"{name}-b", f"{name}-c"):
                        await outbox.enqueue(conn, name, "session", "/push", {"session": session, "n": n},
                                             lane=outbox.session_lane(session))

        async def delivered() -> bool:
            return sum(len(v) for v in partner.by_session.values()) == 36
        await eventually(delivered)
        assert partner.most_in_flight <= 2  # a third of the pool of six
        assert max(in_use) <= 4  # two attempts, each with its lookup: two connections left over
    finally:
        for lanes in both:
            await lanes.stop()
        await listener.stop()
        await pool.close()
        await http.close()
        await partner.stop()
