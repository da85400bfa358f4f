"""Remote start: an OICP remote start in to the OCPP call out, and StopTransaction in to the CDR out."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from websockets.asyncio.client import connect

from bench import target
from bench.load import Charger, Outcome
from bridge.oicp import cdr
from csms.domain.charge_points import register

CHARGERS = 10
PROVIDER = "DE-8EO"


def _percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {"p50_ms": round(ordered[len(ordered) // 2], 1),
            "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 1)}


def hubject_process() -> target.Process:
    """The Hubject stand-in in a process of its own: it validates every push against Hubject's
    schema, which costs milliseconds of CPU that must not delay the timed chargers."""
    port = target.free_port()
    return target.Process([sys.executable, "-m", "simulators", "hubject", "--port", str(port)],
                          dict(os.environ), port, None)


async def _sessions(server: target.Process, http: aiohttp.ClientSession, cpo_url: str, n: int,
                    count: int, rate: float, start_ms: list[float],
                    stopped_at: dict[str, float]) -> None:
    async with connect(f"{server.url}/REMOTE{n:03d}", subprotocols=["ocpp1.6"],  # type: ignore[list-item]
                       compression=None) as ws:
        # Measured from the outside: each figure also holds one HTTP or WebSocket hop.
        charger = Charger(ws, Outcome())
        begin = time.monotonic() + n / rate  # the chargers take turns
        await charger.call("BootNotification", {"chargePointVendor": "Bench",
                                                "chargePointModel": "B"})
        await charger.call("StatusNotification", {"connectorId": 1, "errorCode": "NoError",
                                                  "status": "Available"})
        for k in range(count):
            await asyncio.sleep(max(0.0, begin + k * CHARGERS / rate - time.monotonic()))
            session_id = str(uuid.uuid4())
            # Hubject relays an EMP's request: the bench plays that part over one kept-alive session.
            body = {"SessionID": session_id, "EMPPartnerSessionID": f"bench-{n}-{k}",
                    "ProviderID": PROVIDER, "EvseID": f"DE*ABC*E{n:05d}*1",
                    "Identification": {"RemoteIdentification": {"EvcoID": "DE-8EO-CAet5e4XY-3"}}}
            sent = time.perf_counter()
            answer = asyncio.create_task(_remote_start(http, cpo_url, body))
            message_id, request = await charger.next_call("RemoteStartTransaction")
            start_ms.append((time.perf_counter() - sent) * 1000)
            await ws.send(json.dumps([3, message_id, {"status": "Accepted"}]))
            if not (await answer).get("Result"):
                raise RuntimeError(f"remote start refused: {await answer}")
            # The meter register goes on from one session to the next, as in firmware: two
            # sessions in one second are two transactions, not a StartTransaction sent again.
            started = await charger.call("StartTransaction", {
                "connectorId": 1, "idTag": request["idTag"], "meterStart": k * 5000,
                "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
            stopped_at[session_id] = time.time()
            await charger.call("StopTransaction", {
                "transactionId": started["transactionId"], "meterStop": (k + 1) * 5000,
                "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})


async def _remote_start(http: aiohttp.ClientSession, cpo_url: str, body: dict[str, Any]) -> Any:
    path = f"/api/oicp/charging/v21/providers/{PROVIDER}/authorize-remote/start"
    async with http.post(cpo_url + path, json=body) as response:
        return await response.json(content_type=None)


async def _cdr_delivery_ms(database: target.Database, stopped_at: dict[str, float]) -> list[float]:
    """StopTransaction sent to CDR acknowledged by the stand-in, read from the outbox once every
    CDR is delivered: the server stamps each delivery, so waiting costs the timed path nothing."""
    conn = await asyncpg.connect(database.url)
    try:
        deadline = time.monotonic() + 60
        while True:
            rows = await conn.fetch(
                """SELECT body->>'SessionID' AS session_id, status,
                          extract(epoch FROM delivered_at)::float8 AS delivered
                   FROM outbox WHERE operation = $1""", cdr.OPERATION)
            if len(rows) >= len(stopped_at) and all(r["status"] != "pending" for r in rows):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{len(rows)} of {len(stopped_at)} CDRs out after 60 s")
            await asyncio.sleep(0.2)
    finally:
        await conn.close()
    refused = [r["session_id"] for r in rows if r["status"] != "delivered"]
    if refused:
        raise RuntimeError(f"the Hubject stand-in refused CDRs of sessions {refused}")
    return [(r["delivered"] - stopped_at[r["session_id"]]) * 1000 for r in rows]


async def remote_start(database: target.Database, count: int, rate: float,
                       root: Path = target.ROOT) -> dict[str, Any]:
    """`count` sessions begun at `rate` per second over all chargers: 20/s is what 10,000 chargers
    with sessions of about eight minutes would start."""
    hubject = hubject_process()
    pool = await asyncpg.create_pool(database.url, min_size=1, max_size=2)
    for n in range(CHARGERS):
        await register(pool, f"REMOTE{n:03d}", None, {1: f"DE*ABC*E{n:05d}*1"},
                       security_profile=0)
    await pool.close()
    oicp_port = target.free_port()
    server = target.csms(database.url, root=root, oicp_enabled="true",
                         oicp_base_url=f"http://127.0.0.1:{hubject.port}",
                         oicp_allow_plain_http="true", oicp_listen_host="127.0.0.1",
                         oicp_listen_port=str(oicp_port), oicp_operator_id="DE*ABC",
                         oicp_retry_base_delay="0.05", oicp_retry_max_delay="0.5")
    start_ms: list[float] = []
    stopped_at: dict[str, float] = {}
    await hubject.start()
    await server.start()
    try:
        async with aiohttp.ClientSession() as http:
            await asyncio.gather(*(_sessions(server, http, f"http://127.0.0.1:{oicp_port}", n,
                                             max(1, count // CHARGERS), rate, start_ms, stopped_at)
                                   for n in range(CHARGERS)))
        cdr_ms = await _cdr_delivery_ms(database, stopped_at)
    finally:
        await server.stop()
        await hubject.stop()
    start = _percentiles(start_ms)
    cdr = _percentiles(cdr_ms)
    return {"sessions": len(start_ms), "chargers": CHARGERS, "sessions_per_s": rate,
            "start_p50_ms": start["p50_ms"], "start_p99_ms": start["p99_ms"],
            "cdr_p50_ms": cdr["p50_ms"], "cdr_p99_ms": cdr["p99_ms"]}
