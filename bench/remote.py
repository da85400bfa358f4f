"""Remote start: an OICP remote start in to the OCPP call out, and StopTransaction in to the CDR out."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import asyncpg
from websockets.asyncio.client import connect

from bench import target
from bench.load import Charger, Outcome
from csms.charge_points import register
from simulators.hubject import Received, SimulatedHubject

CDR = "eRoamingChargeDetailRecord_V2.2"
CHARGERS = 10


def _percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {"p50_ms": round(ordered[len(ordered) // 2], 1),
            "p99_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 1)}


async def _sessions(server: target.Process, hubject: SimulatedHubject, cpo_url: str, n: int,
                    count: int, cdrs: dict[str, asyncio.Event], start_ms: list[float],
                    cdr_ms: list[float]) -> None:
    async with connect(f"{server.url}/REMOTE{n:03d}", subprotocols=["ocpp1.6"],  # type: ignore[list-item]
                       compression=None) as ws:
        # Measured from the outside: each figure also holds one HTTP or WebSocket hop.
        charger = Charger(ws, Outcome())
        await charger.call("BootNotification", {"chargePointVendor": "Bench",
                                                "chargePointModel": "B"})
        await charger.call("StatusNotification", {"connectorId": 1, "errorCode": "NoError",
                                                  "status": "Available"})
        for k in range(count):
            session_id = str(uuid.uuid4())
            cdrs[session_id] = asyncio.Event()
            body = {"SessionID": session_id, "EMPPartnerSessionID": f"bench-{n}-{k}",
                    "ProviderID": "DE-8EO", "EvseID": f"DE*ABC*E{n:05d}*1",
                    "Identification": {"RemoteIdentification": {"EvcoID": "DE-8EO-CAet5e4XY-3"}}}
            sent = time.perf_counter()
            answer = asyncio.create_task(hubject.remote_start(cpo_url, body))
            message_id, request = await charger.next_call("RemoteStartTransaction")
            start_ms.append((time.perf_counter() - sent) * 1000)
            await ws.send(json.dumps([3, message_id, {"status": "Accepted"}]))
            await answer
            started = await charger.call("StartTransaction", {
                "connectorId": 1, "idTag": request["idTag"], "meterStart": 0,
                "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
            stopping = time.perf_counter()
            await charger.call("StopTransaction", {
                "transactionId": started["transactionId"], "meterStop": 5000,
                "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
            await asyncio.wait_for(cdrs[session_id].wait(), 30)
            cdr_ms.append((time.perf_counter() - stopping) * 1000)


async def remote_start(database: target.Database, count: int) -> dict[str, Any]:
    hubject = SimulatedHubject()
    await hubject.start()
    cdrs: dict[str, asyncio.Event] = {}

    def received(request: Received) -> None:
        if request.operation == CDR and isinstance(request.body, dict):
            cdrs.get(request.body.get("SessionID", ""), asyncio.Event()).set()
    hubject.on_receive = received

    pool = await asyncpg.create_pool(database.url, min_size=1, max_size=2)
    for n in range(CHARGERS):
        await register(pool, f"REMOTE{n:03d}", None, {1: f"DE*ABC*E{n:05d}*1"})
    await pool.close()
    oicp_port = target.free_port()
    server = target.csms(database.url, oicp_enabled="true", oicp_base_url=hubject.base_url,
                         oicp_allow_plain_http="true", oicp_listen_host="127.0.0.1",
                         oicp_listen_port=str(oicp_port), oicp_operator_id="DE*ABC",
                         oicp_retry_base_delay="0.05", oicp_retry_max_delay="0.5")
    start_ms: list[float] = []
    cdr_ms: list[float] = []
    await server.start()
    try:
        await asyncio.gather(*(_sessions(server, hubject, f"http://127.0.0.1:{oicp_port}", n,
                                         max(1, count // CHARGERS), cdrs, start_ms, cdr_ms)
                               for n in range(CHARGERS)))
    finally:
        await server.stop()
        await hubject.stop()
    start = _percentiles(start_ms)
    cdr = _percentiles(cdr_ms)
    return {"sessions": len(start_ms), "chargers": CHARGERS,
            "start_p50_ms": start["p50_ms"], "start_p99_ms": start["p99_ms"],
            "cdr_p50_ms": cdr["p50_ms"], "cdr_p99_ms": cdr["p99_ms"],
            "rejected_by_hubject": len(hubject.invalid)}
