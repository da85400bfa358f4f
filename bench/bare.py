"""The floor: a bare WebSocket server that answers every OCPP call at once, nothing validated or stored."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from websockets.asyncio.server import ServerConnection, serve
from websockets.typing import Subprotocol

from csms import runtime


def answer(frame: str) -> str | None:
    """The CALLRESULT for a CALL (what each action needs to be a valid answer), else None."""
    message = json.loads(frame)
    if not isinstance(message, list) or len(message) != 4 or message[0] != 2:
        return None
    _, unique_id, action, _ = message
    payload: dict[str, Any] = {}
    if action in ("Heartbeat", "BootNotification"):
        payload["currentTime"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    if action == "BootNotification":
        payload.update(interval=300, status="Accepted")
    elif action in ("Authorize", "StartTransaction", "StopTransaction"):
        payload["idTagInfo"] = {"status": "Accepted"}
        if action == "StartTransaction":
            payload["transactionId"] = 1
    return json.dumps([3, unique_id, payload], separators=(",", ":"))


async def _serve(websocket: ServerConnection) -> None:
    async for frame in websocket:
        reply = answer(frame if isinstance(frame, str) else frame.decode())
        if reply is not None:
            await websocket.send(reply)


async def main(port: int) -> None:
    # The same WebSocket settings as `csms run`: no compression, no per-connection pings.
    async with serve(_serve, "127.0.0.1", port, subprotocols=[Subprotocol("ocpp1.6")],
                     compression=None, ping_interval=None, max_size=65536) as server:
        await server.serve_forever()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--event-loop", choices=["asyncio", "uvloop"], default="asyncio")
    args = parser.parse_args()
    runtime.run(main(args.port), args.event_loop)
