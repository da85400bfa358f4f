"""`csms tokens list|block|unblock`: our own tokens, refused at Authorize once blocked."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import TYPE_CHECKING, Any

from csms.config import Settings
from csms.operator.command_line.help_format import count
from csms.operator.command_line.tables import add_json_option, show
from csms.storage import store

if TYPE_CHECKING:
    from argparse import _SubParsersAction

    import asyncpg

STATUSES = ["accepted", "blocked", "expired", "invalid"]
COLUMNS = [("UID", "uid"), ("TYPE", "type"), ("STATUS", "status"), ("GROUP", "group_id"),
           ("EXPIRES", "expires_at"), ("OWNER", "owner")]


def _list(settings: Settings, args: argparse.Namespace) -> int:
    from csms.operator.command_line.cli import _with_database

    async def work(pool: asyncpg.Pool) -> list[Any]:
        return list(await store.list_tokens(pool, args.limit, args.offset, own=not args.all,
                                            status=args.status))

    show([dict(row) for row in asyncio.run(_with_database(settings, work))], COLUMNS,
         args.as_json)
    return 0


def _set_status(settings: Settings, args: argparse.Namespace) -> int:
    """Our own token only: a partner's copy of the UID is the partner's to block. The change
    reaches chargers' local lists by the tokens table's trigger, as any token change does."""
    from csms.operator.command_line.cli import _with_database

    status = "blocked" if args.action == "block" else "accepted"
    row = asyncio.run(_with_database(settings, lambda pool: store.set_own_token_status(
        pool, args.uid, status)))
    if row is None:
        print(f"no token {args.uid} of ours (see csms tokens list --all)", file=sys.stderr)
        return 1
    print(f"token {args.uid} {status}")
    return 0


def add(token_commands: _SubParsersAction[Any], common: argparse.ArgumentParser) -> None:
    """Registered under `csms tokens` (one line in cli.py)."""
    listing = token_commands.add_parser("list", parents=[common], help="our tokens, by UID")
    listing.add_argument("--all", action="store_true",
                         help="roaming partners' tokens as well (OWNER names the partner)")
    listing.add_argument("--status", choices=STATUSES)
    listing.add_argument("--limit", type=count(1, 10000), default=1000)
    listing.add_argument("--offset", type=count(0, 10**9), default=0)
    add_json_option(listing)
    listing.set_defaults(handler=_list)
    for name, text in (("block", "refuse the token from now on (Authorize, starts, local lists)"),
                       ("unblock", "accept the token again")):
        sub = token_commands.add_parser(name, parents=[common], help=text)
        sub.add_argument("uid")
        sub.set_defaults(handler=_set_status)
