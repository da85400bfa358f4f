"""Many nodes: `csms run` processes on one PostgreSQL behind the balancer, a fleet at real rates."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import asyncpg

from bench import target
from bench.load import Job, Outcome, more_open_files

API_TOKEN = "bench-cluster-token"
# seconds: every node's and balancer's stall that could reach the p99 is logged, with where
STALL_WARNING = 0.08
Drive = Callable[[Job, int], Coroutine[Any, Any, Outcome]]
Register = Callable[[str, list[str]], Coroutine[Any, Any, None]]


def _percentiles(values: Sequence[float], prefix: str) -> dict[str, float | None]:
    ordered = sorted(values)
    if not ordered:
        return {f"{prefix}_p50_ms": None, f"{prefix}_p99_ms": None, f"{prefix}_max_ms": None}
    return {f"{prefix}_p50_ms": round(ordered[len(ordered) // 2], 1),
            f"{prefix}_p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 1),
            f"{prefix}_max_ms": round(ordered[-1], 1)}


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def postgres_pids() -> list[int]:
    """Every PostgreSQL process on this machine (the server may serve other databases too)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() in ("postgres", "postmaster"):
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


class PostgresWatch:
    """PostgreSQL's side: connections to the bench's database, sampled; CPU from /proc when the
    server runs on this machine (its backends for our database, and all its processes)."""

    def __init__(self, database: target.Database) -> None:
        self.database = database
        self.local = urlsplit(database.url).hostname in (None, "", "127.0.0.1", "localhost", "::1")
        self.connections: list[int] = []
        self._task: asyncio.Task[None] | None = None
        self._conn: asyncpg.Connection | None = None
        self._lock = asyncio.Lock()  # one connection: one query at a time

    async def start(self) -> None:
        self._conn = await asyncpg.connect(self.database.server_url)
        self._task = asyncio.create_task(self._sample())

    async def _sample(self) -> None:
        assert self._conn is not None
        while True:
            async with self._lock:
                self.connections.append(await self._conn.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = $1",
                    self.database.name))
            await asyncio.sleep(1.0)

    async def backends(self) -> list[int]:
        assert self._conn is not None
        async with self._lock:
            return [row["pid"] for row in await self._conn.fetch(
                "SELECT pid FROM pg_stat_activity WHERE datname = $1", self.database.name)]

    async def cpu(self) -> dict[int, float] | None:
        """CPU seconds so far of our backends (keyed by pid) and, under -1, of all postgres."""
        if not self.local:
            return None
        ours = {pid: cpu_seconds(pid) for pid in await self.backends()}
        return {**ours, -1: sum(cpu_seconds(pid) for pid in postgres_pids())}

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        if self._conn is not None:
            await self._conn.close()


def balancers(backends: list[int], count: int) -> list[target.Process]:
    """The project's balancer (`python -m simulators balancer`) in `count` processes sharing one
    port: each holds two open files per connection, and one process may not hold them all."""
    port = target.free_port()
    return [target.Process([sys.executable, "-m", "simulators", "balancer", "--port", str(port),
                            "--reuse-port", f"--stall-warning={STALL_WARNING}",
                            *(f"--backend=127.0.0.1:{backend}" for backend in backends)],
                           dict(os.environ), port, None) for _ in range(count)]


async def _held(pool: asyncpg.Pool) -> dict[str, int]:
    rows = await pool.fetch("""SELECT node_id, count(*) AS n FROM charge_points
                               WHERE connected GROUP BY node_id""")
    return {row["node_id"]: row["n"] for row in rows}


async def _idle_chargers(pool: asyncpg.Pool, node: str, on_node: bool, count: int) -> list[str]:
    """Connected chargers held by `node` (or by any other node) with no session in the way."""
    rows = await pool.fetch(
        """SELECT id FROM charge_points c WHERE connected AND (node_id = $1) = $2
           AND NOT EXISTS (SELECT 1 FROM sessions s WHERE s.charge_point_id = c.id
                           AND s.status IN ('pending', 'active'))
           ORDER BY id LIMIT $3""", node, on_node, count)
    return [row["id"] for row in rows]


async def _remote_starts(api_port: int, ids: list[str], rate: float) -> tuple[list[float], list[str]]:
    """Remote starts through one node's admin API, `rate` per second; each one's round trip."""
    took: list[float] = []
    refused: list[str] = []

    async def one(http: aiohttp.ClientSession, k: int, charge_point_id: str) -> None:
        await asyncio.sleep(k / rate)
        sent = time.perf_counter()
        async with http.post(f"http://127.0.0.1:{api_port}/api/v1/charge-points/"
                             f"{charge_point_id}/evses/1/start", json={"token": "BENCHCARD"}) as r:
            answer = await r.json(content_type=None)
        took.append((time.perf_counter() - sent) * 1000)
        if r.status != 200 or answer.get("outcome") != "accepted":
            refused.append(f"{charge_point_id}: {r.status} {answer}")
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {API_TOKEN}"}) as http:
        await asyncio.gather(*(one(http, k, cp) for k, cp in enumerate(ids)))
    return took, refused


async def cluster_load(database: target.Database, drive: Drive, register: Register, *,
                       nodes: int, chargers: int, ramp: float, seconds: float, relays: int,
                       relay_rate: float, reconnect_within: float) -> dict[str, Any]:
    open_files = more_open_files()
    ids = [f"CL{n:06d}" for n in range(chargers)]
    await register(database.url, ids)
    pool_size = pool_size_for(nodes, await _max_connections(database))
    servers = [target.csms(database.url, cluster_node_id=f"node{k}", api_token=API_TOKEN,
                           database_pool_max_size=str(pool_size),
                           process_stall_warning=str(STALL_WARNING)) for k in range(nodes)]
    logs = Path(tempfile.mkdtemp(prefix="bench-cluster-"))
    for k, server in enumerate(servers):
        server.log = logs / f"node{k}.log"
    await asyncio.gather(*(server.start() for server in servers))
    # the share of the fleet each balancer process takes, with room to spare (the kernel's
    # dealing is not exact)
    fronts = balancers([server.port for server in servers],
                       max(1, -(-chargers * 3 // open_files)))
    for k, front in enumerate(fronts):
        front.log = logs / f"balancer{k}.log"
        await front.start()
    watch = PostgresWatch(database)
    await watch.start()
    pool = await asyncpg.create_pool(database.url, min_size=1, max_size=2)
    try:
        idle_kib = [server.rss_kib() for server in servers]
        workers = max(2, -(-chargers // 10_000))
        job = Job("cluster", f"ws://127.0.0.1:{fronts[0].port}/ocpp", ids, time.time() + 3 + workers,
                  seconds + relays / relay_rate + reconnect_within + 20, ramp=ramp)
        driving = asyncio.create_task(drive(job, workers))
        steady_from = job.start_at + ramp
        await asyncio.sleep(steady_from - time.time())
        connected_at_steady = sum((await _held(pool)).values())
        node_cpu = [server.cpu_seconds() for server in servers]
        pg_cpu = await watch.cpu()
        await asyncio.sleep(seconds)
        steady_to = time.time()
        node_cpu = [server.cpu_seconds() - before for server, before in zip(servers, node_cpu,
                                                                            strict=True)]
        pg_after = await watch.cpu()
        loaded_kib = [server.rss_kib() for server in servers]
        held = await _held(pool)
        # A remote start through node0's API to chargers other nodes hold (relayed), and to
        # chargers node0 holds itself (the same path without the relay), to compare.
        remote = await _idle_chargers(pool, "node0", False, relays)
        local = await _idle_chargers(pool, "node0", True, max(1, relays // 4))
        api_port = int(servers[0].env["CSMS_API_PORT"])
        relay_ms, relay_refused = await _remote_starts(api_port, remote, relay_rate)
        local_ms, local_refused = await _remote_starts(api_port, local, relay_rate)
        # The fleet after one node dies: its chargers come back through the balancer.
        victim = nodes - 1
        name = f"node{victim}"
        before = await _held(pool)
        moving = before.get(name, 0)
        total = sum(before.values())
        killed_at = time.time()
        process = servers[victim].process
        assert process is not None
        process.kill()
        back_s = None
        while time.time() - killed_at < reconnect_within:
            now = await _held(pool)
            if sum(n for node, n in now.items() if node != name) >= total:
                back_s = round(time.time() - killed_at, 1)
                break
            await asyncio.sleep(0.5)
        after = await _held(pool)
        outcome = await driving
    finally:
        await pool.close()
        await watch.stop()
        await asyncio.gather(*(front.stop() for front in fronts))
        await asyncio.gather(*(server.stop() for server in servers))
    timed = [(at, ms) for at, ms in zip(outcome.sent_at, outcome.latencies_ms, strict=True)
             if steady_from <= at <= steady_to]
    steady = [ms for _, ms in timed]
    back = [at for dropped, at in outcome.reconnects if dropped >= killed_at]
    figures: dict[str, Any] = {
        "nodes": nodes, "chargers": chargers, "load_processes": workers,
        "balancer_processes": len(fronts), "open_files_limit": open_files,
        "connected_at_steady": connected_at_steady, "steady_seconds": round(steady_to - steady_from, 1),
        # the times below are seconds from here: to be read beside PostgreSQL's own log
        "steady_from_utc": datetime.fromtimestamp(steady_from, UTC).isoformat(timespec="milliseconds"),
        "calls": len(steady), "calls_per_s": round(len(steady) / (steady_to - steady_from), 1),
        **_percentiles(steady, "calls"),
        # when the slowest calls ended (s into the steady state): pauses line up with a cause
        "slowest": [[round(at - steady_from, 1), round(ms)] for at, ms in
                    sorted(timed, key=lambda t: t[1], reverse=True)[:8]],
        "calls_over_100ms": sum(ms > 100 for ms in steady),
        # the load processes' own pauses (s into the steady state, ms): a slow call that lines up
        # with one was the harness's
        "load_stalls": _worst(outcome.stalls, steady_from, steady_to),
        "load_collections": _worst(outcome.collections, steady_from, steady_to),
        # the nodes' and balancers' own (csms/stalls.py's lines in their logs): s into the
        # steady state, which process, ms held, its CPU ms meanwhile (far less: it waited for a
        # core), the collector's ms, where it was held
        "process_stalls": stalls_logged(logs, steady_from, steady_to),
        "logs": str(logs),
        "held_per_node": [held.get(f"node{k}", 0) for k in range(nodes)],
        "rss_per_charger_kib_per_node": [
            round((loaded - idle) / max(1, held.get(f"node{k}", 0)), 1)
            for k, (idle, loaded) in enumerate(zip(idle_kib, loaded_kib, strict=True))],
        "rss_mib_per_node": [round(kib / 1024) for kib in loaded_kib],
        "node_cpu_share": [round(cpu / (steady_to - steady_from), 3) for cpu in node_cpu],
        "pg_connections_max": max(watch.connections, default=0),
        "pg_connections_last": watch.connections[-1] if watch.connections else 0,
        "pg_max_connections": await _max_connections(database),
        "pool_max_size_per_node": int(servers[0].env["CSMS_DATABASE_POOL_MAX_SIZE"]),
        **_relay_figures(relay_ms, relay_refused, local_ms, local_refused),
        "killed_node_held": moving, "fleet_back_s": back_s,
        "held_per_node_after_kill": [after.get(f"node{k}", 0) for k in range(nodes)],
        "reconnected_by_chargers": len(back),
        "reconnected_last_s": round(max(back) - killed_at, 1) if back else None,
        "connect_retries": outcome.retries,
        "failures": len(outcome.failures), "first_failure": outcome.failures[:1]}
    if pg_cpu is not None and pg_after is not None:
        seconds_measured = steady_to - steady_from
        ours = sum(pg_after[pid] - pg_cpu.get(pid, 0.0) for pid in pg_after if pid != -1)
        figures["pg_cpu_share_our_backends"] = round(ours / seconds_measured, 3)
        figures["pg_cpu_share_all_postgres"] = round((pg_after[-1] - pg_cpu[-1]) / seconds_measured, 3)
    return figures


# PostgreSQL's connections kept for superusers (its default) and for the bench's own and others.
RESERVED_CONNECTIONS = 3 + 10


def pool_size_for(nodes: int, max_connections: int, default: int = 10) -> int:
    """Each node's pool: the default where nodes × (pool + its LISTEN and lease connections)
    fits the server's connections (bench/README.md, "Pool sizes per node count"), smaller where
    not."""
    fits = (max_connections - RESERVED_CONNECTIONS) // nodes - 2
    return max(2, min(default, fits))


def _worst(pauses: list[tuple[float, float]], start: float, end: float, top: int = 8
           ) -> list[list[float]]:
    return [[round(at - start, 1), ms] for at, ms in
            sorted(((at, ms) for at, ms in pauses if start <= at <= end),
                   key=lambda p: p[1], reverse=True)[:top]]


def stalls_logged(logs: Path, start: float, end: float, top: int = 12) -> list[list[Any]]:
    """The longest "event loop held" lines the processes whose logs are in `logs` wrote between
    `start` and `end` (epoch seconds)."""
    found: list[list[Any]] = []
    for path in sorted(logs.glob("*.log")):
        for line in path.read_text(errors="replace").splitlines():
            if '"event loop held"' not in line:
                continue
            try:
                entry = json.loads(line)
                at = datetime.fromisoformat(entry["timestamp"]).timestamp()
            except (ValueError, KeyError):
                continue
            if start <= at <= end:
                found.append([round(at - start, 1), path.stem, entry.get("held_ms"),
                              entry.get("cpu_ms"), entry.get("collector_ms"),
                              entry.get("where", [])[:4]])
    return sorted(found, key=lambda stall: stall[2] or 0, reverse=True)[:top]


async def _max_connections(database: target.Database) -> int:
    conn = await asyncpg.connect(database.server_url)
    try:
        return int(await conn.fetchval("SHOW max_connections"))
    finally:
        await conn.close()


def _relay_figures(relay_ms: list[float], relay_refused: list[str], local_ms: list[float],
                   local_refused: list[str]) -> dict[str, Any]:
    return {"relay_starts": len(relay_ms), **_percentiles(relay_ms, "relay"),
            "relay_refused": len(relay_refused), "relay_first_refused": relay_refused[:1],
            "local_starts": len(local_ms), **_percentiles(local_ms, "local"),
            "local_refused": len(local_refused), "local_first_refused": local_refused[:1]}
