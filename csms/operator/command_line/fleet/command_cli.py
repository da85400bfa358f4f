"""`csms charge-points command CP1 Action JSON`: a raw OCPP command, sent by the node holding the charger."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import TYPE_CHECKING, Any

from csms.config import Settings
from csms.domain.commands import CommandResult, Outcome

if TYPE_CHECKING:
    from csms.app import App


def add_parser(commands: Any, common: argparse.ArgumentParser) -> None:
    """Registered under `csms charge-points` (one line in cli.py)."""
    command = commands.add_parser(
        "command", parents=[common],
        help="send any action of the charger's OCPP version with a raw JSON payload; prints the "
             "charger's answer (the running node that holds it sends it)")
    command.add_argument("id")
    command.add_argument("action", help="e.g. Reset, GetConfiguration, GetVariables")
    command.add_argument("payload", nargs="?", default="{}", help="JSON object (default {})")
    command.set_defaults(handler=_command)


async def _send(app: App, args: argparse.Namespace, payload: dict[str, Any]) -> CommandResult:
    # The relay, to reach the node holding the charger, and hear its answer.
    await app.listener.start()
    await app.relay.start()
    try:
        return await app.commands.raw_command(args.id, args.action, payload)
    finally:
        await app.relay.stop()
        await app.listener.stop()


def _command(settings: Settings, args: argparse.Namespace) -> int:
    from csms.operator.command_line.cli import _with_app

    try:
        payload = json.loads(args.payload)
    except ValueError as exc:
        print(f"payload: not JSON ({exc})", file=sys.stderr)
        return 2
    if not isinstance(payload, dict):
        print("payload: must be a JSON object", file=sys.stderr)
        return 2
    settings.cluster.node_id = ""  # a node of its own: never the id of the node holding it
    result: CommandResult = asyncio.run(_with_app(settings, lambda app: _send(app, args, payload)))
    if result.outcome in (Outcome.ACCEPTED, Outcome.FAILED):
        print(json.dumps(result.detail, ensure_ascii=False))
        return 0 if result.outcome is Outcome.ACCEPTED else 1
    reason = result.detail.get("reason")
    print(f"{args.id}: {result.outcome.value}" + (f": {reason}" if reason else ""),
          file=sys.stderr)
    return 2 if result.outcome is Outcome.INVALID else 1
