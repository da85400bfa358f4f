"""`python -m bench.sweep`: one lease sweep over N connected chargers, the old query against the new."""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg

from bench.target import Database
from csms.cluster.nodes import NodeRegistry
from csms.domain.events import EventBus
from csms.logs import configure_logging
from csms.storage import store

LEASE = 15.0

# The sweep as it was before 0041 (csms/storage/store.py, release_orphans): the baseline, kept
# here only to be measured against in the same run.
OLD_SWEEP = """WITH dead AS (DELETE FROM nodes WHERE lease_until < now() RETURNING id)
               UPDATE charge_points cp SET connected = false, node_id = NULL
               WHERE connected AND (node_id IS NULL OR node_id IN (SELECT id FROM dead)
                                    OR NOT EXISTS (SELECT 1 FROM nodes n WHERE n.id = cp.node_id)
                                    OR ($2 AND node_id = $1))
               RETURNING id"""

READS = """SELECT seq_tup_read + COALESCE(idx_tup_fetch, 0) AS rows, n_tup_upd AS updated
           FROM pg_stat_xact_user_tables WHERE relname = 'charge_points'"""

Sweep = Callable[[asyncpg.Connection], Awaitable[list[str]]]


async def _old(conn: asyncpg.Connection) -> list[str]:
    await conn.execute("SET LOCAL jit = off")  # as nodes.py ran it
    return [row["id"] for row in await conn.fetch(OLD_SWEEP, "node0", False)]


async def _fleet(conn: asyncpg.Connection, chargers: int, nodes: int) -> None:
    """N chargers recorded as connected, spread evenly over the nodes, each with a live lease."""
    ids = [f"CP{n:07}" for n in range(chargers)]
    for start in range(0, chargers, 10_000):
        await store.insert_charge_points(conn, ids[start:start + 10_000])
    await conn.execute(
        """UPDATE charge_points SET connected = true,
               node_id = 'node' || (substr(id, 3)::int % $1)""", nodes)
    for node in range(nodes):
        await store.join_nodes(conn, f"node{node}", LEASE)
    await conn.execute("VACUUM ANALYZE charge_points")  # as autovacuum leaves a settled table


async def _once(conn: asyncpg.Connection, sweep: Sweep, dead: str | None
                ) -> tuple[float, int, int, int]:
    """One sweep, rolled back (the fleet stays as it was): ms, released, rows read, updated."""
    transaction = conn.transaction()
    await transaction.start()
    try:
        if dead is not None:
            await conn.execute("UPDATE nodes SET lease_until = now() - interval '1 second' "
                               "WHERE id = $1", dead)
        before = await conn.fetchrow(READS)
        began = time.perf_counter()
        released = await sweep(conn)
        took = (time.perf_counter() - began) * 1000
        after = await conn.fetchrow(READS)
    finally:
        await transaction.rollback()
    return took, len(released), after["rows"] - before["rows"], after["updated"] - before["updated"]


async def _measure(conn: asyncpg.Connection, sweep: Sweep, dead: str | None,
                   repeats: int) -> dict[str, float | int]:
    runs = []
    for n in range(repeats + 1):  # the first warms the cache and is left out
        figures = await _once(conn, sweep, dead)
        if n:
            runs.append(figures)
        if dead is not None:
            await conn.execute("VACUUM charge_points")  # the rolled-back rows: not read next time
    return {"ms_median": round(statistics.median(r[0] for r in runs), 2),
            "ms_min": round(min(r[0] for r in runs), 2),
            "released": runs[0][1], "rows_read": runs[0][2], "rows_updated": runs[0][3]}


async def _one_of_many(pool: asyncpg.Pool, sweep: Sweep) -> tuple[list[str], int]:
    async with pool.acquire() as conn, conn.transaction():
        before = await conn.fetchval("SELECT rows FROM (" + READS + ") r")
        released = await sweep(conn)
        return released, await conn.fetchval("SELECT rows FROM (" + READS + ") r") - before


async def _together(pool: asyncpg.Pool, sweep: Sweep, dead: str, sweepers: int
                    ) -> dict[str, object]:
    """The other nodes all sweep the dead node at the same moment, committed: ms until all are
    done, disconnections published over all of them, charger rows each read. Then the dead
    node's chargers and row are put back as they were."""
    await pool.execute("UPDATE nodes SET lease_until = now() - interval '1 second' WHERE id = $1",
                       dead)
    began = time.perf_counter()
    results = await asyncio.gather(*(_one_of_many(pool, sweep) for _ in range(sweepers)))
    took = (time.perf_counter() - began) * 1000
    released = [charger for chargers, _ in results for charger in chargers]
    async with pool.acquire() as conn:
        after = await _rounds_after(conn, sweep, sweepers)
    await pool.execute("UPDATE charge_points SET connected = true, node_id = $1 "
                       "WHERE id = ANY($2::text[])", dead, released)
    await store.join_nodes(pool, dead, LEASE)
    await pool.execute("VACUUM charge_points")
    return {"ms_all_done": round(took, 1), "released_over_all": len(released),
            "rows_read_each": sorted(rows for _, rows in results),
            "the next rounds, nothing vacuumed": after}


async def _rounds_after(conn: asyncpg.Connection, sweep: Sweep, rounds: int
                        ) -> dict[str, object]:
    """The next rounds of sweeps just after a death, nothing vacuumed yet (the released chargers'
    entries still in the index), each rolled back: ms of each, and rows read and updated."""
    runs = [await _once(conn, sweep, None) for _ in range(rounds)]
    return {"ms_each": [round(r[0], 2) for r in runs], "released": sum(r[1] for r in runs),
            "rows_read": sorted({r[2] for r in runs}), "rows_updated": sum(r[3] for r in runs)}


async def sweep_figures(chargers: int, nodes: int, repeats: int) -> dict[str, object]:
    database = Database()
    await database.create()
    try:
        pool = await asyncpg.create_pool(database.url, min_size=1, max_size=nodes + 1)
        try:
            conn = await pool.acquire()
            began = time.perf_counter()
            await _fleet(conn, chargers, nodes)
            setup = time.perf_counter() - began
            registry = NodeRegistry(pool, EventBus(), "node0", LEASE, list)
            starting = NodeRegistry(pool, EventBus(), "starting", LEASE, list)
            figures: dict[str, object] = {"chargers": chargers, "nodes": nodes,
                                          "repeats": repeats, "setup_s": round(setup, 1)}
            dead = f"node{nodes - 1}"
            for case, victim in (("nothing dead", None), (f"{dead} dead", dead)):
                figures[case] = {"old": await _measure(conn, _old, victim, repeats),
                                 "new": await _measure(conn, registry.sweep_within, victim,
                                                       repeats)}
            figures[f"{dead} dead, the other {nodes - 1} nodes sweeping at once"] = {
                "old": await _together(pool, _old, dead, nodes - 1),
                "new": await _together(pool, registry.sweep_within, dead, nodes - 1)}
            # What the old design read over the cluster while nothing died: every node's sweep.
            figures["old rows read per second, whole cluster"] = round(
                chargers * nodes / (LEASE / 3))
            # A node's start (release_strays) still reads every connected charger, once.
            figures["a new node's start"] = await _measure(
                conn, lambda c: starting.sweep_within(c, restarted=True), None, repeats)
            await pool.release(conn)
        finally:
            await pool.close()
    finally:
        await database.drop()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.sweep", description=__doc__)
    parser.add_argument("--chargers", type=int, default=100_000)
    parser.add_argument("--nodes", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=5, help="sweeps timed per case")
    parser.add_argument("--json", metavar="FILE", help="also write the figures there")
    args = parser.parse_args()
    configure_logging("warning", "console")
    figures = json.dumps(asyncio.run(sweep_figures(args.chargers, args.nodes, args.repeats)),
                         indent=2)
    print(figures)
    if args.json:
        Path(args.json).write_text(figures + "\n")


if __name__ == "__main__":
    main()
