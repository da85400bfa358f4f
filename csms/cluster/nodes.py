"""This process as one node of several: its lease in the database and the chargers it holds."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import Callable

import asyncpg
import structlog

from csms.domain.events import ChargePointDisconnected, EventBus
from csms.storage import store
from csms.storage.outage import outage

log = structlog.get_logger(__name__)


def default_node_id() -> str:
    """Unique even for two processes on one host; configure a stable id to recognise restarts."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


# How long a swept node's row stays as a tombstone, in the sweeping node's leases: each sweep
# until then releases any charger the dead node recorded after it was swept.
TOMBSTONE_LEASES = 10


class NodeRegistry:
    """A node renews its lease every third of it. Any node sweeps the chargers of nodes whose lease
    ran out (a crashed process, a lost machine): they count as disconnected until they reconnect.
    A sweep reads the nodes first and the chargers of dead ones only, each dead node swept by one
    node: with nothing dead it reads no charger at all, however many there are. A swept node's
    row stays a while, marked swept: a node that stalled past its lease may record a connection
    before it notices, then die; the sweeps that follow find that charger through the row
    (an index probe each, that reads nothing when nothing is there)."""

    def __init__(self, pool: asyncpg.Pool, events: EventBus, node_id: str, lease: float,
                 held: Callable[[], list[str]], url: str | None = None) -> None:
        self.pool = pool
        self.events = events
        self.node_id = node_id
        self.lease = lease
        self.held = held  # the charge point ids whose connections this process holds
        self.log = log.bind(node_id=node_id)
        # The lease is renewed on a connection of its own (given `url`): in a connection storm
        # every handler waits its turn for the pool, and a renewal queued behind thousands of
        # them ran out the lease of a node that was alive (8 nodes, 100,000 chargers connecting:
        # three nodes swept mid-ramp). Without `url`, the pool's.
        self._url = url
        self._lease_conn: asyncpg.Connection | None = None

    async def _renewing(self) -> asyncpg.Connection | asyncpg.Pool:
        if self._url is None:
            return self.pool
        if self._lease_conn is None or self._lease_conn.is_closed():
            self._lease_conn = await asyncpg.connect(self._url)
        return self._lease_conn

    async def join(self) -> None:
        await store.join_nodes(await self._renewing(), self.node_id, self.lease)
        await self.sweep(restarted=True)
        self.log.info("node joined", lease=self.lease)

    async def leave(self) -> None:
        """Our row goes, and the chargers still recorded as ours with it: no sweep would find
        them once the row is gone."""
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                await store.leave_nodes(conn, [self.node_id])
                released = await store.release_chargers_of(conn, [self.node_id])
                await self._disconnected(conn, released)
        finally:
            if self._lease_conn is not None:
                await self._lease_conn.close()
                self._lease_conn = None

    async def holder(self, charge_point_id: str) -> str | None:
        return await store.holder_of(self.pool, charge_point_id)

    async def renew(self) -> None:
        if await store.join_nodes(await self._renewing(), self.node_id, self.lease):
            # We were swept (a stall longer than the lease): say again what we hold.
            self.log.warning("lease had run out; chargers claimed again")
            await store.claim_charge_points(self.pool, self.node_id, self.held())

    async def sweep(self, restarted: bool = False) -> list[str]:
        """Releases the chargers of dead nodes and marks their rows swept; `restarted` (at our start):
        also those left under our own id by an earlier life of ours, or under no live node."""
        async with self.pool.acquire() as conn, conn.transaction():
            released = await self.sweep_within(conn, restarted)
        if released:
            self.log.info("chargers of dead nodes released", charge_points=released)
        return released

    async def sweep_within(self, conn: asyncpg.Connection, restarted: bool = False) -> list[str]:
        """The sweep, in the caller's transaction (the disconnections are published in it)."""
        # The start's check reads every connected charger: from some 10,000 its cost estimate
        # passes jit_above_cost, and compiling it took 60 of 115 ms at 30,000 (bench/README.md,
        # "Cluster"); a dead node's share can be as many.
        await conn.execute("SET LOCAL jit = off")
        released = await store.release_strays(conn, self.node_id) if restarted else []
        # Locked until the transaction ends: another node sweeping at once skips them, and a
        # stalled node renewing waits, then finds its row marked swept and claims its chargers
        # back. Swept ones stay expired until their tombstone goes: swept again, each time.
        expired = await store.expired_nodes(conn)
        if expired:
            released += await store.release_chargers_of(conn, expired)
            dead = await store.mark_swept(conn, expired)
            if dead:
                self.log.info("dead nodes swept", nodes=dead)
            gone = await store.forget_swept(conn, expired, TOMBSTONE_LEASES * self.lease)
            if gone:
                self.log.info("swept nodes forgotten", nodes=gone)
        await self._disconnected(conn, released)
        return released

    async def _disconnected(self, conn: asyncpg.Connection, released: list[str]) -> None:
        for charge_point_id in released:
            await self.events.publish(conn, ChargePointDisconnected(charge_point_id))

    async def keep_forever(self) -> None:
        while True:
            await asyncio.sleep(self.lease / 3)
            try:
                await self.renew()
                await self.sweep()
                outage.reachable()  # a database that held for a while ends an outage here too
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                if not outage.noted(exc):
                    self.log.warning("lease not renewed", error=repr(exc))
