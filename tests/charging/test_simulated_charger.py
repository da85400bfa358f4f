"""The simulated charger as firmware behaves: a transaction message outlives a connection lost mid-call."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from websockets.asyncio.server import ServerConnection, serve
from websockets.typing import Subprotocol

from simulators.chargepoint import SimConfig
from simulators.chargepoint16 import ChargePoint16

ANSWERS: dict[str, dict[str, Any]] = {
    "BootNotification": {"status": "Accepted", "currentTime": datetime.now(UTC).isoformat(),
                         "interval": 300},
    "Authorize": {"idTagInfo": {"status": "Accepted"}},
    "StartTransaction": {"transactionId": 7, "idTagInfo": {"status": "Accepted"}},
}


async def test_a_meter_value_whose_connection_drops_mid_call_is_sent_again() -> None:
    """Seen under a killed cluster node: the call's wait ended in an error of its own, and the
    charger never sent a queued transaction message again."""
    connections: list[ServerConnection] = []
    stored: list[dict[str, Any]] = []

    async def csms(ws: ServerConnection) -> None:
        """Answers everything, except the first MeterValues: it drops the connection instead."""
        connections.append(ws)
        async for text in ws:
            message_type, unique_id, action, payload = json.loads(text)
            if action == "MeterValues" and len(connections) == 1:
                await ws.close()
                return
            if action == "MeterValues":
                stored.append(payload)
            await ws.send(json.dumps([3, unique_id, ANSWERS.get(action, {})]))

    async with serve(csms, "127.0.0.1", 0, subprotocols=[Subprotocol("ocpp1.6")]) as server:
        port = server.sockets[0].getsockname()[1]
        sim = ChargePoint16(SimConfig("CP1", f"ws://127.0.0.1:{port}/ocpp"))
        try:
            await sim.start()
            await sim.start_local_session(1, "TAG")
            await sim.send_meter_now(1)
            await sim.flush(timeout=30)
        finally:
            await sim.stop()
    assert len(connections) == 2  # dropped mid-call, reconnected
    assert [p["transactionId"] for p in stored] == [7]
