"""The baseline: the central system of the ocpp library's documented example, no database."""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime
from typing import Any

import websockets
from ocpp.routing import on
from ocpp.v16 import ChargePoint as cp
from ocpp.v16 import call_result
from ocpp.v16.enums import Action, RegistrationStatus


class ChargePoint(cp):
    @on(Action.boot_notification)
    def on_boot_notification(self, charge_point_vendor: str, charge_point_model: str,
                             **kwargs: Any) -> call_result.BootNotification:
        return call_result.BootNotification(current_time=datetime.now(UTC).isoformat(),
                                            interval=10, status=RegistrationStatus.accepted)

    @on(Action.heartbeat)
    def on_heartbeat(self) -> call_result.Heartbeat:
        return call_result.Heartbeat(current_time=datetime.now(UTC).isoformat())

    @on(Action.meter_values)
    def on_meter_values(self, **kwargs: Any) -> call_result.MeterValues:
        return call_result.MeterValues()

    @on(Action.status_notification)
    def on_status_notification(self, **kwargs: Any) -> call_result.StatusNotification:
        return call_result.StatusNotification()


async def on_connect(websocket: Any) -> None:
    charge_point_id = websocket.request.path.strip("/").split("/")[-1]
    await ChargePoint(charge_point_id, websocket).start()


async def main(port: int) -> None:
    server = await websockets.serve(on_connect, "127.0.0.1", port, subprotocols=["ocpp1.6"])  # type: ignore[list-item]
    await server.wait_closed()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=9000)
    asyncio.run(main(parser.parse_args().port))
