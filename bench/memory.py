"""`python -m bench.memory`: what one more idle charger costs the server, by source line (tracemalloc)."""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
import time
import tracemalloc
from pathlib import Path

from websockets.asyncio.client import ClientConnection, connect

from bench import target
from bench.__main__ import _register
from bench.load import Charger, Outcome, _now_z, meter_values, more_open_files
from csms.logs import configure_logging


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def _set_up(url: str, charge_point_id: str, charging: bool) -> Charger:
    """As the fleet's chargers: booted, a status, and for some a session with a meter value."""
    ws: ClientConnection = await connect(f"{url}/{charge_point_id}", subprotocols=["ocpp1.6"],  # type: ignore[list-item]
                                         compression=None, ping_interval=None, max_size=None)
    charger = Charger(ws, Outcome())
    await charger.call("BootNotification", {"chargePointVendor": "Bench", "chargePointModel": "B"})
    await charger.call("StatusNotification", {"connectorId": 1, "errorCode": "NoError",
                                              "status": "Available"})
    if charging:
        await charger.call("StatusNotification", {"connectorId": 1, "errorCode": "NoError",
                                                  "status": "Charging"})
        started = await charger.call("StartTransaction", {
            "connectorId": 1, "idTag": "BENCH", "meterStart": 0, "timestamp": _now_z()})
        await charger.call("MeterValues", meter_values(1, started["transactionId"]))
    await charger.call("Heartbeat", {})
    return charger


async def hold(url: str, ids: list[str]) -> None:
    """The load side (a process of its own): set the chargers up, say so, answer the server's
    calls until stdin closes."""
    gate = asyncio.Semaphore(50)

    async def one(n: int, charge_point_id: str) -> Charger:
        async with gate:
            return await _set_up(url, charge_point_id, charging=n % 2 == 1)

    chargers = await asyncio.gather(*(one(n, cp) for n, cp in enumerate(ids)))
    idle = [asyncio.create_task(charger.idle(time.time() + 86_400)) for charger in chargers]
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    for task in idle:
        task.cancel()


async def _settled(within: float = 60.0) -> None:
    """Until the server's follow-ups to the set-up (local list checks: calls to each charger)
    are over: as many tasks for a few checks in a row."""
    counts: list[int] = []
    deadline = time.monotonic() + within
    while time.monotonic() < deadline and (len(counts) < 4 or len(set(counts[-4:])) > 1):
        await asyncio.sleep(0.5)
        counts.append(len(asyncio.all_tasks()))


async def measure(chargers: int, top: int, trace: bool) -> None:
    """The server in this process: N chargers connected, then N more; what the second N cost."""
    from csms.app import App
    from csms.config import load_settings
    from csms.memory import tune_collector

    database = target.Database()
    await database.create()
    ids = [f"MEM{n:06d}" for n in range(2 * chargers)]
    await _register(database.url, ids)
    port, api_port = target.free_port(), target.free_port()
    os.environ.update({
        "CSMS_DATABASE_URL": database.url, "CSMS_LOG_LEVEL": "warning",
        "CSMS_OCPP_HOST": "127.0.0.1", "CSMS_OCPP_PORT": str(port),
        "CSMS_API_HOST": "127.0.0.1", "CSMS_API_PORT": str(api_port),
        "CSMS_OCPP_MAX_CONNECTIONS_PER_IP": "0", "CSMS_OCPP_METER_VALUE_INTERVAL": "0"})
    app = await App.open(load_settings())
    holders: list[asyncio.subprocess.Process] = []
    try:
        await app.start()
        tune_collector()
        url = f"ws://127.0.0.1:{port}/ocpp"

        async def connect_share(share: list[str]) -> None:
            holder = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bench.memory", "--hold", url, *share,
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
            holders.append(holder)
            assert holder.stdout is not None
            assert (await holder.stdout.readline()).startswith(b"ready")
            await _settled()
            gc.collect()

        await connect_share(ids[:chargers])
        gc.freeze()  # as the server's collector policy does with what lives on
        if trace:
            tracemalloc.start()
        before_kib, before = rss_kib(), tracemalloc.take_snapshot() if trace else None
        await connect_share(ids[chargers:])
        after_kib, after = rss_kib(), tracemalloc.take_snapshot() if trace else None
        print(f"RSS per charger: {(after_kib - before_kib) / chargers:.2f} KiB"
              + (" (tracing adds its own)" if trace else ""))
        if before is not None and after is not None:
            stats = after.compare_to(before, "lineno")
            total = sum(stat.size_diff for stat in stats)
            print(f"traced per charger: {total / chargers / 1024:.2f} KiB")
            for stat in stats[:top]:
                frame = stat.traceback[0]
                where = frame.filename.split("site-packages/")[-1].split("lib/python3")[-1]
                print(f"{stat.size_diff / chargers:8.0f} B {stat.count_diff / chargers:6.2f} "
                      f"blocks  {where}:{frame.lineno}")
    finally:
        for holder in holders:
            if holder.stdin is not None:
                holder.stdin.close()
            await holder.wait()
        await app.stop()
        await database.drop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.memory", description=__doc__)
    parser.add_argument("--chargers", type=int, default=1000,
                        help="chargers connected first, and as many measured after")
    parser.add_argument("--top", type=int, default=40, help="source lines shown")
    parser.add_argument("--rss-only", action="store_true",
                        help="no tracemalloc: RSS per charger as the server has it")
    parser.add_argument("--hold", nargs="+", metavar=("URL", "ID"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.hold:
        more_open_files()
        asyncio.run(hold(args.hold[0], args.hold[1:]))
        return
    more_open_files()
    configure_logging("warning", "console")
    asyncio.run(measure(args.chargers, args.top, trace=not args.rss_only))


if __name__ == "__main__":
    main()
