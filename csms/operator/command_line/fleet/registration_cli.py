"""`csms charge-points set`: a charger's registration policy: Accepted, Pending with an interval, Rejected."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from csms.config import Settings
from csms.domain.charge_points import set_registration


def add_parser(cp_commands: Any, common: argparse.ArgumentParser) -> None:
    cp_set = cp_commands.add_parser(
        "set", parents=[common],
        help="set the registration policy, answered from the charger's next BootNotification")
    cp_set.add_argument("id")
    cp_set.add_argument("--registration", required=True, choices=["accepted", "pending", "rejected"])
    cp_set.add_argument("--interval", type=int,
                        help="seconds until a Pending or Rejected charger boots again "
                        "(default: the heartbeat interval)")
    cp_set.set_defaults(handler=_set)


def _set(settings: Settings, args: argparse.Namespace) -> int:
    from csms.operator.command_line.cli import _with_database

    async def work(pool: Any) -> Any:
        return await set_registration(pool, args.id, args.registration, args.interval)

    try:
        row = asyncio.run(_with_database(settings, work))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if row is None:
        print(f"no charge point {args.id}", file=sys.stderr)
        return 1
    every = f", boots again every {args.interval} s" if args.interval else ""
    print(f"{args.id}: registration {args.registration}{every}")
    if args.registration == "accepted" and row["boot_status"] not in (None, "Accepted"):
        print(f"note: {args.id} was answered {row['boot_status']}; its next BootNotification is "
              "accepted (the admin API's POST …/registration also asks it to boot at once)")
    return 0
