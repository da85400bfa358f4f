"""CLI for chargers' local authorization lists: `csms local-list show|sync CHARGE_POINT`."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from csms.config import Settings
from csms.storage import store
from csms.storage.fleet import local_list_store as lists


def _run(settings: Settings, args: argparse.Namespace) -> int:
    from csms.operator.command_line.cli import _with_database
    from csms.operator.http.fleet.local_list_api import view

    async def work(pool: Any) -> dict[str, Any] | None:
        if await store.get_charge_point(pool, args.charge_point) is None:
            return None
        if args.action == "sync":
            return view(args.charge_point, await lists.request_full(pool, args.charge_point))
        return view(args.charge_point, await lists.get(pool, args.charge_point))

    shown = asyncio.run(_with_database(settings, work))
    if shown is None:
        print(f"no charge point {args.charge_point}", file=sys.stderr)
        return 1
    if args.action == "sync":
        print(f"{args.charge_point}: full local list requested (sent by the node holding it)")
    print(f"{args.charge_point}\tversion {shown['version']}\t{shown['state']}\t"
          f"{shown['entries']} entries\tsynced {shown['synced_at'] or '-'}"
          + (f"\t{shown['detail']}" if shown["detail"] else ""))
    return 0


def add_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    local_list = commands.add_parser("local-list", parents=[common],
                                     help="chargers' local authorization lists")
    actions = local_list.add_subparsers(dest="action", required=True)
    for name, text in (("show", "version and sync state of a charger's list"),
                       ("sync", "send the charger a full list (by the node holding it)")):
        sub = actions.add_parser(name, parents=[common], help=text)
        sub.add_argument("charge_point")
        sub.set_defaults(handler=_run)
