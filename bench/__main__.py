"""Saturation benchmark: N OCPP 1.6 chargers sending Heartbeat and MeterValues back to back."""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from pathlib import Path

from websockets.asyncio.client import connect

from csms.app import App
from csms.charge_points import register
from csms.config import load_settings
from csms.database import create_pool, database_url, migrate
from csms.logs import configure_logging


def _meter_values(i: int) -> list[object]:
    return [2, f"m{i}", "MeterValues", {"connectorId": 1, "meterValue": [{
        "timestamp": "2026-11-23T10:00:00Z",
        "sampledValue": [{"value": str(1000 + i), "measurand": "Energy.Active.Import.Register",
                          "unit": "Wh"}]}]}]


async def _charger(url: str, until: float, latencies: list[float]) -> None:
    async with connect(url, subprotocols=["ocpp1.6"]) as ws:  # type: ignore[list-item]
        await ws.send(json.dumps([2, "b", "BootNotification",
                                  {"chargePointVendor": "Bench", "chargePointModel": "B"}]))
        await ws.recv()
        i = 0
        while time.perf_counter() < until:
            frame = [2, f"h{i}", "Heartbeat", {}] if i % 2 else _meter_values(i)
            sent = time.perf_counter()
            await ws.send(json.dumps(frame))
            await ws.recv()
            latencies.append(time.perf_counter() - sent)
            i += 1


async def saturation(chargers: int, seconds: float) -> dict[str, float]:
    settings = load_settings(None)
    settings.ocpp.host = settings.api.host = "127.0.0.1"
    settings.ocpp.port = settings.api.port = 0
    settings.ocpp.meter_value_interval = 0
    # Saturation means back to back: the per-charger limit would refuse most of it.
    settings.ocpp.max_messages_per_second = 0
    settings.ocpp.max_connections_per_ip = 0
    if not settings.database.url:
        settings.database.data_dir = str(Path(tempfile.gettempdir()) / "csms-bench" / "data")
    url = database_url(settings.database)
    pool = await create_pool(url, 1, 2)
    async with pool.acquire() as conn:
        await migrate(conn)
        await conn.execute("DELETE FROM charge_points WHERE id LIKE 'BENCH%'")
    for n in range(chargers):
        await register(pool, f"BENCH{n:05d}", None, {1: None})
    await pool.close()

    app = await App.open(settings, url=url)
    await app.start()
    latencies: list[float] = []
    try:
        base = f"ws://127.0.0.1:{app.ocpp.port}/ocpp"
        start = time.perf_counter()
        until = start + seconds
        await asyncio.gather(*(_charger(f"{base}/BENCH{n:05d}", until, latencies)
                               for n in range(chargers)))
        elapsed = time.perf_counter() - start
    finally:
        await app.stop()
    latencies.sort()
    return {
        "chargers": chargers,
        "calls": len(latencies),
        "calls_per_s": len(latencies) / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--chargers", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    configure_logging("warning")
    result = asyncio.run(saturation(args.chargers, args.seconds))
    print("saturation (server and load generator share this machine)")
    for key, value in result.items():
        print(f"  {key:12} {value:12.1f}")


if __name__ == "__main__":
    main()
