"""`python -m bench`: saturation against a baseline, fleet, boot storm, remote start, site, cluster."""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import platform
import subprocess
import tempfile
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import asyncpg

from bench import profile, target
from bench.cluster import cluster_load, cpu_seconds, postgres_pids
from bench.load import Job, Outcome, run_job
from bench.remote import remote_start
from bench.site import site_load
from csms.logs import configure_logging
from csms.storage import store

Figures = dict[str, Any]


def percentile(values: Sequence[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


async def _register(url: str, ids: list[str]) -> None:
    conn = await asyncpg.connect(url)
    try:
        for start in range(0, len(ids), 10_000):
            await store.insert_charge_points(conn, ids[start:start + 10_000])
    finally:
        await conn.close()


def _jobs(job: Job, workers: int) -> list[Job]:
    """The chargers dealt out to worker processes, each with a source address of its own."""
    ids = job.charge_point_ids
    return [replace(job, charge_point_ids=ids[k::workers], local_host=f"127.0.0.{k + 1}")
            for k in range(workers) if ids[k::workers]]


async def _drive(job: Job, workers: int) -> Outcome:
    loop = asyncio.get_running_loop()
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        parts = await asyncio.gather(*(loop.run_in_executor(pool, run_job, part)
                                       for part in _jobs(job, workers)))
    total = Outcome()
    for part in parts:
        total.add(part)
    return total


def _ids(prefix: str, count: int) -> list[str]:
    return [f"{prefix}{n:06d}" for n in range(count)]


async def _cpu_while_measured(server: target.Process, start_at: float, seconds: float) -> float:
    await asyncio.sleep(max(0.0, start_at - time.time()))
    before = server.cpu_seconds()
    await asyncio.sleep(seconds)
    return server.cpu_seconds() - before


async def _postgres_cpu_while_measured(start_at: float, seconds: float) -> float:
    """CPU seconds of every PostgreSQL process on this machine over the measured seconds (0 when
    the server runs elsewhere: none is seen)."""
    await asyncio.sleep(max(0.0, start_at - time.time()))
    before = {pid: cpu_seconds(pid) for pid in postgres_pids()}
    await asyncio.sleep(seconds)
    return sum(cpu_seconds(pid) - before.get(pid, 0.0) for pid in postgres_pids())


async def _profile_while_measured(server: target.Process, start_at: float, seconds: float,
                                  path: Path) -> Figures:
    await asyncio.sleep(max(0.0, start_at - time.time()))
    assert server.process is not None
    return profile.summarize(await profile.record(server.process.pid, seconds, path))


async def saturation(server: target.Process, chargers: int, seconds: float,
                     workers: int, profile_to: Path | None = None) -> Figures:
    await server.start()
    profiled: asyncio.Task[Figures] | None = None
    try:
        job = Job("saturation", server.url, _ids("SAT", chargers), time.time() + 3 + workers,
                  seconds, ramp=5.0)
        cpu = asyncio.create_task(_cpu_while_measured(server, job.start_at + job.ramp, seconds))
        postgres_cpu = asyncio.create_task(_postgres_cpu_while_measured(job.start_at + job.ramp,
                                                                        seconds))
        if profile_to is not None:
            profiled = asyncio.create_task(_profile_while_measured(
                server, job.start_at + job.ramp, seconds, profile_to))
        outcome = await _drive(job, workers)
        cpu_s = await cpu
        postgres_s = await postgres_cpu
        profile_figures = await profiled if profiled is not None else None
    finally:
        await server.stop()
    extra = {"profile": profile_figures} if profile_figures is not None else {}
    return {"chargers": chargers, "seconds": seconds, "calls": outcome.calls,
            "calls_per_s": round(outcome.calls / seconds),
            # The server's own CPU per call: how the cores were shared in a run matters less here.
            "server_cpu_share": round(cpu_s / seconds, 2),
            "cpu_us_per_call": round(cpu_s / max(1, outcome.calls) * 1e6),
            # What else each call cost the machine: the load processes driving it and every
            # PostgreSQL process here (others' work too, on a shared server). Their sum against
            # the cores bounds the calls per second any server could be measured at.
            "load_cpu_us_per_call": round(outcome.cpu_s / max(1, outcome.calls) * 1e6),
            "postgres_cpu_us_per_call": round(postgres_s / max(1, outcome.calls) * 1e6),
            "p50_ms": round(percentile(outcome.latencies_ms, 0.50), 1),
            "p99_ms": round(percentile(outcome.latencies_ms, 0.99), 1),
            "failures": len(outcome.failures), "first_failure": outcome.failures[:1], **extra}


async def fleet(database: target.Database, chargers: int, seconds: float, ramp: float) -> Figures:
    ids = _ids("FLEET", chargers)
    await _register(database.url, ids)
    server = target.csms(database.url)
    await server.start()
    try:
        idle_kib = server.rss_kib()
        workers = max(1, -(-chargers // 10_000))
        job = Job("fleet", server.url, ids, time.time() + 2 + workers, seconds, ramp=ramp)
        outcome_task = asyncio.create_task(_drive(job, workers))
        await asyncio.sleep(job.start_at - time.time() + ramp + seconds - 1)
        loaded_kib = server.rss_kib()
        outcome = await outcome_task
    finally:
        await server.stop()
    # The steady state only: from the moment the last charger was set up.
    steady_from = job.start_at + outcome.all_booted_s
    timed = [(at, ms) for at, ms in zip(outcome.sent_at, outcome.latencies_ms, strict=True)
             if at >= steady_from]
    steady = [ms for _, ms in timed]
    steady_seconds = job.start_at + ramp + seconds - steady_from
    return {"chargers": chargers, "steady_seconds": round(steady_seconds, 1),
            "calls": len(steady),
            "calls_per_s": round(len(steady) / steady_seconds, 1) if steady_seconds > 0 else 0,
            "p50_ms": round(percentile(steady, 0.50), 1),
            "p99_ms": round(percentile(steady, 0.99), 1),
            "max_ms": round(max(steady, default=float("nan")), 1),
            # when the slowest calls were sent (s into the steady state): pauses line up with a cause
            "slowest": [[round(at - steady_from, 1), round(ms)] for at, ms in
                        sorted(timed, key=lambda t: t[1], reverse=True)[:5]],
            "all_connected_s": round(outcome.all_booted_s, 1),
            "rss_per_charger_kib": round((loaded_kib - idle_kib) / chargers, 1),
            "failures": len(outcome.failures), "first_failure": outcome.failures[:1]}


async def boot_storm(database: target.Database, chargers: int) -> Figures:
    ids = _ids("BOOT", chargers)
    await _register(database.url, ids)
    server = target.csms(database.url)
    await server.start()
    try:
        workers = max(1, -(-chargers // 10_000))
        outcome = await _drive(Job("boot", server.url, ids, time.time() + 2 + workers), workers)
    finally:
        await server.stop()
    return {"chargers": chargers, "all_accepted_s": round(outcome.all_booted_s, 2),
            "connect_p99_ms": round(percentile(outcome.connect_ms, 0.99), 1),
            "boot_p50_ms": round(percentile(outcome.boot_ms, 0.50), 1),
            "boot_p99_ms": round(percentile(outcome.boot_ms, 0.99), 1),
            "booted": len(outcome.boot_ms), "failures": len(outcome.failures),
            "first_failure": outcome.failures[:1]}


async def _with_database(work: Any) -> Figures:
    database = target.Database()
    await database.create()
    try:
        return await work(database)  # type: ignore[no-any-return]
    finally:
        await database.drop()


def _ratio(ours: Figures, reference: Figures, figure: str) -> float:
    return round(ours[figure] / max(1e-9, reference[figure]), 2)


async def saturation_against_references(args: argparse.Namespace) -> dict[str, Figures]:
    """The same load on the baseline, the bare server and ours, one after the other in this run:
    the ratios are what compares across machines and runs, not the figures themselves."""
    results: dict[str, Figures] = {}
    results["baseline"] = await saturation(target.baseline(), args.chargers, args.seconds,
                                           args.workers)
    print(_line("baseline", results["baseline"]), flush=True)
    loops = ["asyncio", "uvloop"] if args.event_loop == "both" else [args.event_loop]
    results["bare"] = await saturation(target.bare(loops[0]), args.chargers, args.seconds,
                                       args.workers)
    print(_line("bare", results["bare"]), flush=True)
    for loop in loops:
        async def saturate(database: target.Database, loop: str = loop) -> Figures:
            await _register(database.url, _ids("SAT", args.chargers))
            profile_to = Path(f"{args.profile}.{loop}" if len(loops) > 1 else args.profile
                              ) if args.profile else None
            return await saturation(target.csms(database.url, process_event_loop=loop),
                                    args.chargers, args.seconds, args.workers, profile_to)
        name = "saturation" if loop == loops[0] else f"saturation_{loop}"
        ours = results[name] = {"event_loop": loop, **await _with_database(saturate)}
        for reference in ("baseline", "bare"):
            ours[f"vs_{reference}_calls"] = _ratio(ours, results[reference], "calls_per_s")
            ours[f"vs_{reference}_p99"] = _ratio(ours, results[reference], "p99_ms")
            ours[f"vs_{reference}_cpu_per_call"] = _ratio(ours, results[reference],
                                                          "cpu_us_per_call")
        print(_line(name, ours), flush=True)
    if args.compare_with:
        with tempfile.TemporaryDirectory(prefix="csms-bench-") as folder:
            root = target.checkout(args.compare_with, Path(folder))

            async def then(database: target.Database) -> Figures:
                await _register(database.url, _ids("SAT", args.chargers))
                # an earlier commit may not know process.event_loop: its default, asyncio
                server = target.csms(database.url, root=root)
                server.env.pop("CSMS_PROCESS_EVENT_LOOP", None)
                return await saturation(server, args.chargers, args.seconds, args.workers)
            earlier = results["saturation_at_commit"] = {"commit": args.compare_with,
                                                         **await _with_database(then)}
        for name in ("baseline", "bare"):
            earlier[f"vs_{name}_calls"] = _ratio(earlier, results[name], "calls_per_s")
            earlier[f"vs_{name}_cpu_per_call"] = _ratio(earlier, results[name], "cpu_us_per_call")
        now = results["saturation"]
        now["vs_commit_calls"] = _ratio(now, earlier, "calls_per_s")
        now["vs_commit_cpu_per_call"] = _ratio(now, earlier, "cpu_us_per_call")
        print(_line("at " + args.compare_with[:10], earlier), flush=True)
    return results


def _commit() -> dict[str, Any]:
    """The commit the figures came from, and whether the tree had changes on top of it."""
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=target.ROOT, capture_output=True,
                                  text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""
    return {"commit": git("rev-parse", "HEAD"), "changed_files": len(git("status", "--porcelain",
                                                                          "--untracked-files=no"
                                                                          ).splitlines())}


def _machine() -> dict[str, Any]:
    return {"node": platform.node(), "cores": os.cpu_count(), "python": platform.python_version(),
            "load_average": [round(x, 2) for x in os.getloadavg()]}


async def run(args: argparse.Namespace) -> dict[str, Figures]:
    results: dict[str, Figures] = {}
    wanted = set(args.scenario or ["saturation", "boot", "fleet", "remote", "site"])
    if "saturation" in wanted:
        results.update(await saturation_against_references(args))
    if "boot" in wanted:
        results["boot_storm"] = await _with_database(lambda db: boot_storm(db, args.boot))
        print(_line("boot_storm", results["boot_storm"]), flush=True)
    if "fleet" in wanted:
        results["fleet"] = await _with_database(
            lambda db: fleet(db, args.fleet, args.fleet_seconds, args.fleet_ramp))
        print(_line("fleet", results["fleet"]), flush=True)
    if "remote" in wanted:
        results["remote_start"] = await _with_database(
            lambda db: remote_start(db, args.remote, args.remote_rate))
        print(_line("remote_start", results["remote_start"]), flush=True)
        if args.compare_with:
            with tempfile.TemporaryDirectory(prefix="csms-bench-") as folder:
                root = target.checkout(args.compare_with, Path(folder))
                earlier = results["remote_start_at_commit"] = {
                    "commit": args.compare_with, **await _with_database(
                        lambda db: remote_start(db, args.remote, args.remote_rate, root))}
            for figure in ("start_p50_ms", "start_p99_ms"):
                results["remote_start"][f"vs_commit_{figure}"] = _ratio(
                    results["remote_start"], earlier, figure)
            print(_line("at " + args.compare_with[:10], earlier), flush=True)
    if "site" in wanted:
        results["site"] = await _with_database(lambda db: site_load(
            db, args.site, args.site_amps, args.site_seconds, args.site_session, args.site_idle,
            args.site_meter_interval))
        print(_line("site", results["site"]), flush=True)
    if "cluster" in wanted:
        results["cluster"] = await _with_database(lambda db: cluster_load(
            db, _drive, _register, nodes=args.nodes, chargers=args.cluster_chargers,
            ramp=args.cluster_ramp, seconds=args.cluster_seconds, relays=args.cluster_relays,
            relay_rate=args.remote_rate, reconnect_within=args.cluster_reconnect_within))
        print(_line("cluster", results["cluster"]), flush=True)
    return results


def _line(name: str, figures: Figures) -> str:
    shown = ", ".join(f"{k} {v}" for k, v in figures.items()
                      if k not in ("first_failure", "profile") and v != [])
    failure = f"\n    first failure: {figures['first_failure'][0]}" if figures.get(
        "first_failure") else ""
    # the profile's areas only: its functions are in the JSON
    areas = figures.get("profile", {}).get("areas_pct")
    profiled = f"\n    profile (% of samples): {areas}" if areas else ""
    return f"{name:13} {shown}{failure}{profiled}"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--scenario", action="append",
                        choices=["saturation", "boot", "fleet", "remote", "site", "cluster"],
                        help="repeatable; default: all but cluster (saturation includes the "
                             "baseline)")
    parser.add_argument("--chargers", type=int,
                        help="saturation: chargers (default 1000); cluster: chargers held "
                             "(default 100,000)")
    parser.add_argument("--seconds", type=float, default=10.0, help="saturation: seconds")
    parser.add_argument("--workers", type=int, default=2, help="saturation: load processes")
    parser.add_argument("--boot", type=int, default=10_000, help="boot storm: chargers")
    parser.add_argument("--fleet", type=int, default=10_000, help="fleet: chargers")
    parser.add_argument("--fleet-seconds", type=float, default=60.0,
                        help="fleet: seconds measured (from when the last charger is set up)")
    parser.add_argument("--fleet-ramp", type=float, default=120.0,
                        help="fleet: seconds over which chargers connect and start sessions")
    parser.add_argument("--remote", type=int, default=200, help="remote starts (and CDRs)")
    parser.add_argument("--remote-rate", type=float, default=20.0,
                        help="remote starts begun per second, over ten chargers")
    parser.add_argument("--site", type=int, default=200,
                        help="site: chargers (half OCPP 1.6, half 2.0.1) on one limited site")
    parser.add_argument("--site-amps", type=float, default=400.0,
                        help="site: the grid connection's limit, A per phase")
    parser.add_argument("--site-seconds", type=float, default=60.0, help="site: seconds measured")
    parser.add_argument("--site-session", type=float, default=30.0,
                        help="site: mean seconds a session lasts")
    parser.add_argument("--site-idle", type=float, default=30.0,
                        help="site: mean seconds a charger stays idle between sessions")
    parser.add_argument("--site-meter-interval", type=float, default=5.0,
                        help="site: seconds between a charging EVSE's meter values")
    parser.add_argument("--nodes", type=int, default=6, help="cluster: `csms run` nodes")
    parser.add_argument("--cluster-ramp", type=float, default=120.0,
                        help="cluster: seconds over which chargers connect and start sessions")
    parser.add_argument("--cluster-seconds", type=float, default=60.0,
                        help="cluster: seconds of steady state measured")
    parser.add_argument("--cluster-relays", type=int, default=200,
                        help="cluster: remote starts to chargers other nodes hold (at "
                             "--remote-rate per second)")
    parser.add_argument("--cluster-reconnect-within", type=float, default=90.0,
                        help="cluster: seconds the fleet has to come back after a node is killed")
    parser.add_argument("--event-loop", choices=["asyncio", "uvloop", "both"], default="asyncio",
                        help="the event loop of our server (process.event_loop) and of the bare "
                             "one; both: saturation on each in the same run (the bare server and "
                             "the other scenarios on asyncio); the baseline keeps asyncio's")
    parser.add_argument("--profile", metavar="FILE",
                        help="saturation: record our server with py-spy while it is measured "
                             "(collapsed stacks to FILE) and add where its time went to the figures")
    parser.add_argument("--compare-with", metavar="COMMIT",
                        help="saturation and remote: also run `csms run` of that commit (e.g. main) in the "
                             "same run, for before/after ratios on a machine whose speed varies")
    parser.add_argument("--json", default="bench-results.json", help="where to write figures")
    args = parser.parse_args()
    args.cluster_chargers = args.chargers or 100_000
    args.chargers = args.chargers or 1000
    configure_logging("warning", "console")
    print(f"{platform.node()}: {os.cpu_count()} cores, Python {platform.python_version()}; "
          "server, load generator and PostgreSQL share this machine", flush=True)
    if args.event_loop == "uvloop":  # every `csms run` the scenarios start
        os.environ["CSMS_PROCESS_EVENT_LOOP"] = "uvloop"
    before = _machine()
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    code = _commit()  # what the run starts with (a long run outlasts later commits)
    results = asyncio.run(run(args))
    machine = {**before, "load_average_after": _machine()["load_average"], "when": started,
               "run": uuid.uuid4().hex[:8], **code,
               "arguments": {k: v for k, v in vars(args).items() if v is not None}}
    Path(args.json).write_text(json.dumps({"machine": machine, **results}, indent=2) + "\n")
    print(f"figures written to {args.json}")


if __name__ == "__main__":
    main()
