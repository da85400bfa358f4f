"""`csms` subcommands for reservations (any EVSE, a connector type), availability and token groups."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from csms.config import Settings
from csms.domain.reservations import CONNECTOR_TYPES
from csms.storage import store
from csms.storage.database import database_url

if TYPE_CHECKING:
    from argparse import _SubParsersAction

    from csms.domain.commands import CommandResult


async def _with_commands(settings: Settings, work: Any) -> CommandResult:
    """The command service of a process that holds no charger: calls travel to the node that
    holds it (the relay), so it must listen for their answers."""
    from csms.app import App

    app = await App.open(settings, database_url(settings.database, create=False))
    try:
        await app.listener.start()
        await app.relay.start()
        try:
            return await work(app)  # type: ignore[no-any-return]
        finally:
            await app.relay.stop()
            await app.listener.stop()
    finally:
        await app.pool.close()


def _report(result: CommandResult) -> int:
    """One line: the outcome and the charger's status (e.g. 'accepted Scheduled'), 0 if accepted."""
    detail = " ".join(f"{k}={v}" for k, v in result.detail.items())
    line = f"{result.outcome.value} {detail}".strip()
    print(line, file=sys.stdout if result.accepted else sys.stderr)
    return 0 if result.accepted else 1


def _availability(settings: Settings, args: argparse.Namespace) -> int:
    if args.evse < 0 or (args.connector is not None and (args.evse == 0 or args.connector < 1)):
        print("--evse is 0 (the whole charge point) or more; --connector, 1 or more, names a "
              "connector of an EVSE", file=sys.stderr)
        return 2
    return _report(asyncio.run(_with_commands(settings, lambda app: app.commands.change_availability(
        args.id, args.evse, args.operative, args.connector))))


def _reserve(settings: Settings, args: argparse.Namespace) -> int:
    if not 0 < args.minutes <= 24 * 60:
        print("--minutes is 1 to 1440", file=sys.stderr)
        return 2
    expires_at = datetime.now(UTC) + timedelta(minutes=args.minutes)
    return _report(asyncio.run(_with_commands(settings, lambda app: app.commands.reserve(
        args.id, args.evse, args.token, expires_at, connector_type=args.connector_type))))


def _group(settings: Settings, args: argparse.Namespace) -> int:
    from csms.operator.command_line.cli import _with_database

    group = None if args.none else args.group
    if group is None and not args.none or group is not None and not 0 < len(group) <= 36:
        print("give a GROUP of 1 to 36 characters, or --none", file=sys.stderr)
        return 2
    row = asyncio.run(_with_database(settings, lambda pool: store.set_token_group(
        pool, args.uid, group)))
    if row is None:
        print(f"no token {args.uid}", file=sys.stderr)
        return 1
    print(f"token {args.uid} in group {group}" if group else f"token {args.uid} in no group")
    return 0


def add(cp_commands: _SubParsersAction[Any], token_commands: _SubParsersAction[Any],
        common: argparse.ArgumentParser) -> None:
    availability = cp_commands.add_parser(
        "availability", parents=[common],
        help="make the charger, an EVSE or one connector operative or inoperative (Scheduled: "
             "once its transaction ends)")
    availability.add_argument("id")
    state = availability.add_mutually_exclusive_group(required=True)
    state.add_argument("--operative", dest="operative", action="store_true")
    state.add_argument("--inoperative", dest="operative", action="store_false")
    availability.add_argument("--evse", type=int, default=0, help="EVSE number (0: the whole charger)")
    availability.add_argument("--connector", type=int, help="one connector of the EVSE")
    availability.set_defaults(handler=_availability)

    reserve = cp_commands.add_parser(
        "reserve", parents=[common],
        help="reserve an EVSE, or any EVSE of the charger (of --connector-type), for a token")
    reserve.add_argument("id")
    reserve.add_argument("token")
    reserve.add_argument("--evse", type=int, help="EVSE number (default: any EVSE)")
    reserve.add_argument("--connector-type", choices=sorted(CONNECTOR_TYPES))
    reserve.add_argument("--minutes", type=int, default=15)
    reserve.set_defaults(handler=_reserve)

    group = token_commands.add_parser(
        "group", parents=[common],
        help="put a token in a group: tokens of a group stop each other's sessions and use "
             "each other's reservations")
    group.add_argument("uid")
    group.add_argument("group", nargs="?")
    group.add_argument("--none", action="store_true", help="take the token out of its group")
    group.set_defaults(handler=_group)
