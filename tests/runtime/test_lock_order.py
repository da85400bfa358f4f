"""Statements that change several chargers' rows lock them in id order: two batches never deadlock."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import asyncpg
import pytest

from csms.storage import store
from tests.support import eventually

# Inserted in this order, so the table's own order is not the ids' (Z before A).
IDS = ["LOCK-Z", "LOCK-M", "LOCK-A"]
NODE = "n1"
Statement = Callable[[asyncpg.Connection], Awaitable[object]]

STATEMENTS: dict[str, Statement] = {
    "touch (heartbeats)": lambda c: store.touch(c, IDS),
    "set_last_seen (frames heard)": lambda c: store.set_last_seen(
        c, [(i, datetime.now(UTC)) for i in IDS]),
    "set_connected (connects)": lambda c: store.set_connected(
        c, [(i, "ocpp1.6") for i in IDS], NODE),
    "set_disconnected (disconnects)": lambda c: store.set_disconnected(c, IDS, NODE),
    "record_boots (boots)": lambda c: store.record_boots(
        c, [(i, "V", "M", None, None, "Accepted") for i in IDS]),
    "claim_charge_points (a swept node's claim)": lambda c: store.claim_charge_points(
        c, NODE, IDS),
    "release_chargers_of (the sweep)": lambda c: store.release_chargers_of(c, [NODE]),
    "release_strays (a node's start)": lambda c: store.release_strays(c, NODE),
}


@pytest.mark.parametrize("statement", STATEMENTS.values(), ids=STATEMENTS.keys())
async def test_rows_are_locked_in_id_order(db_url: str, statement: Statement) -> None:
    """With the middle row held elsewhere, the statement holds the first row and waits: it has
    not taken the last. In any other order, two such batches could each hold what the other
    waits for (PostgreSQL notices after deadlock_timeout, a second of every charger's time)."""
    conns = [await asyncpg.connect(db_url) for _ in range(3)]
    holder, worker, probe = conns
    try:
        await store.insert_charge_points(holder, IDS)
        await holder.execute("UPDATE charge_points SET connected = true, node_id = $1", NODE)
        held = holder.transaction()
        await held.start()
        await holder.execute("SELECT 1 FROM charge_points WHERE id = 'LOCK-M' FOR UPDATE")
        work = worker.transaction()
        await work.start()
        running = asyncio.create_task(statement(worker))
        worker_pid = worker.get_server_pid()
        await eventually(lambda: _waits_for_lock(probe, worker_pid))
        with pytest.raises(asyncpg.LockNotAvailableError):  # taken first, before LOCK-M
            await probe.execute("SELECT 1 FROM charge_points WHERE id = 'LOCK-A' FOR UPDATE NOWAIT")
        # not yet taken (each probe's lock ends with its statement)
        await probe.execute("SELECT 1 FROM charge_points WHERE id = 'LOCK-Z' FOR UPDATE NOWAIT")
        await held.rollback()
        await running
        await work.rollback()
    finally:
        for conn in conns:
            await conn.close()


async def _waits_for_lock(probe: asyncpg.Connection, pid: int) -> bool:
    return bool(await probe.fetchval(
        "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $1", pid))


@pytest.mark.parametrize("statement", STATEMENTS.values(), ids=STATEMENTS.keys())
async def test_a_foreign_keys_share_lock_does_not_hold_them_up(db_url: str,
                                                                statement: Statement) -> None:
    """Another batch inserting rows that refer to these chargers (meter samples, sessions) holds
    key-share locks on them in its own order; an UPDATE waits for none of those, and neither
    may the lock taken to order it (FOR UPDATE would, and deadlocked with such batches)."""
    holder, worker = await asyncpg.connect(db_url), await asyncpg.connect(db_url)
    try:
        await store.insert_charge_points(holder, IDS)
        await holder.execute("UPDATE charge_points SET connected = true, node_id = $1", NODE)
        async with holder.transaction():
            await holder.execute("SELECT 1 FROM charge_points WHERE id = ANY($1::text[]) "
                                 "FOR KEY SHARE", IDS)
            async with worker.transaction(), asyncio.timeout(30):  # fails rather than hangs
                await statement(worker)
    finally:
        await holder.close()
        await worker.close()
