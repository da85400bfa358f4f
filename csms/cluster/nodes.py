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

log = structlog.get_logger(__name__)


def default_node_id() -> str:
    """Unique even for two processes on one host; configure a stable id to recognise restarts."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class NodeRegistry:
    """A node renews its lease every third of it. Any node sweeps the chargers of nodes whose lease
    ran out (a crashed process, a lost machine): they count as disconnected until they reconnect."""

    def __init__(self, pool: asyncpg.Pool, events: EventBus, node_id: str, lease: float,
                 held: Callable[[], list[str]]) -> None:
        self.pool = pool
        self.events = events
        self.node_id = node_id
        self.lease = lease
        self.held = held  # the charge point ids whose connections this process holds
        self.log = log.bind(node_id=node_id)

    async def join(self) -> None:
        await store.join_nodes(self.pool, self.node_id, self.lease)
        await self.sweep(restarted=True)
        self.log.info("node joined", lease=self.lease)

    async def leave(self) -> None:
        await store.leave_nodes(self.pool, self.node_id)

    async def holder(self, charge_point_id: str) -> str | None:
        return await store.holder_of(self.pool, charge_point_id)

    async def renew(self) -> None:
        if await store.join_nodes(self.pool, self.node_id, self.lease):
            # We were swept (a stall longer than the lease): say again what we hold.
            self.log.warning("lease had run out; chargers claimed again")
            await store.claim_charge_points(self.pool, self.node_id, self.held())

    async def sweep(self, restarted: bool = False) -> list[str]:
        async with self.pool.acquire() as conn, conn.transaction():
            # The sweep reads every connected charger; from some 10,000 its cost estimate passes
            # jit_above_cost and PostgreSQL compiled it anew on every run (60 of 115 ms at 30,000,
            # every node every lease/3: bench/README.md, "Cluster"), for a scan that finds nothing.
            await conn.execute("SET LOCAL jit = off")
            released = await store.release_orphans(conn, self.node_id, restarted)
            for charge_point_id in released:
                await self.events.publish(conn, ChargePointDisconnected(charge_point_id))
        if released:
            self.log.info("chargers of dead nodes released", charge_points=released)
        return released

    async def keep_forever(self) -> None:
        while True:
            await asyncio.sleep(self.lease / 3)
            try:
                await self.renew()
                await self.sweep()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                self.log.warning("lease not renewed", error=repr(exc))
