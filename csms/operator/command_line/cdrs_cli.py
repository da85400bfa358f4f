"""`csms cdrs list|show|credit`: the CDRs we sent, and an OCPI CDR credited (and reissued, corrected)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import TYPE_CHECKING, Any

from csms.config import Settings
from csms.domain.billing.cdr_corrections import CorrectionRefused, UnknownCdr
from csms.operator.command_line.help_format import count
from csms.operator.command_line.tables import add_json_option, show, show_record
from csms.storage import cdr_store

if TYPE_CHECKING:
    from argparse import _SubParsersAction

    import asyncpg

COLUMNS = [("CDR", "id"), ("ROAMING", "protocol"), ("PARTNER", "partner"),
           ("SESSION", "session_id"), ("CREDITS", "credit_reference_id"),
           ("REISSUE OF", "reissue_of"), ("COST", "cost"), ("DELIVERY", "delivery"),
           ("SENT", "created_at")]


def _row(row: asyncpg.Record) -> dict[str, Any]:
    cost = row["body"].get("total_cost") if row["protocol"] == "ocpi" else None
    return {**{k: row[k] for k in ("id", "protocol", "partner", "session_id", "credit",
                                    "credit_reference_id", "reissue_of", "created_at")},
            "cost": (f"{cost['excl_vat']} {row['body'].get('currency', '')}".strip()
                     if isinstance(cost, dict) else None),
            "delivery": row.get("status"), "body": row["body"]}


def _list(settings: Settings, args: argparse.Namespace) -> int:
    from csms.operator.command_line.cli import _with_database

    async def work(pool: asyncpg.Pool) -> list[Any]:
        rows, _ = await cdr_store.page(pool, args.session, args.protocol, args.limit, args.offset)
        return rows

    show([_row(row) for row in asyncio.run(_with_database(settings, work))], COLUMNS,
         args.as_json)
    return 0


def _show(settings: Settings, args: argparse.Namespace) -> int:
    from csms.operator.command_line.cli import _with_database

    row = asyncio.run(_with_database(settings, lambda pool: cdr_store.one(pool, args.id)))
    if row is None:
        print(f"error: unknown CDR {args.id!r} (see csms cdrs list)", file=sys.stderr)
        return 1
    show_record(_row(row), args.as_json)
    return 0


def _credit(settings: Settings, args: argparse.Namespace) -> int:
    from csms.app import ROAMING
    from csms.operator.command_line.cli import _with_database

    try:
        made = asyncio.run(_with_database(settings, lambda pool: ROAMING.correct_cdr(
            pool, settings, args.id, args.reissue)))
    except UnknownCdr as error:
        print(f"error: {error} (see csms cdrs list)", file=sys.stderr)
        return 1
    except CorrectionRefused as error:
        print(f"error: {args.id} not credited: {error}", file=sys.stderr)
        return 1
    for row in made:
        what = "credit CDR" if row["credit"] else "corrected CDR"
        print(f"queued {what} {row['id']} for {row['partner']}; the running csms delivers it")
    return 0


def add_commands(commands: _SubParsersAction[Any], common: argparse.ArgumentParser) -> None:
    """Registered as `csms cdrs` (one line in cli.py)."""
    cdrs = commands.add_parser("cdrs", parents=[common],
                               help="the CDRs sent to roaming partners, and their correction")
    actions = cdrs.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", parents=[common],
                                 help="CDRs sent, credits and corrected ones included, newest first")
    listing.add_argument("--session", help="one session's CDRs")
    listing.add_argument("--protocol", choices=["ocpi", "oicp"])
    listing.add_argument("--limit", type=count(1, 10000), default=100)
    listing.add_argument("--offset", type=count(0, 10**9), default=0)
    add_json_option(listing)
    listing.set_defaults(handler=_list)
    one = actions.add_parser("show", parents=[common], help="one CDR as it was sent")
    one.add_argument("id")
    add_json_option(one)
    one.set_defaults(handler=_show)
    credit = actions.add_parser(
        "credit", parents=[common],
        help="send an OCPI CDR's credit CDR (its costs negated); OICP has none")
    credit.add_argument("id", help="the CDR's id (csms cdrs list)")
    credit.add_argument("--reissue", action="store_true",
                        help="then the session's CDR again, costed afresh, under a new id")
    credit.set_defaults(handler=_credit)
