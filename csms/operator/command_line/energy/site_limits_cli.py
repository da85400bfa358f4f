"""`csms sites limit` and `csms sites show-limit`: a site's grid limit, its schedule and fallback."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import TYPE_CHECKING, Any

from csms.domain.energy import site_limit_service as service
from csms.domain.energy.site_limits import LimitError

if TYPE_CHECKING:
    from argparse import _SubParsersAction

    from csms.app import App
    from csms.config import Settings


def _amps(text: str) -> object:
    """'400' or '400/400/300' (L1/L2/L3)."""
    return text.split("/") if "/" in text else text


def _group(text: str) -> tuple[str, int]:
    group, _, priority = text.partition("=")
    try:
        return group.strip(), int(priority)
    except ValueError:
        raise LimitError(f"--group-priority {text!r}: write GROUP=PRIORITY, e.g. fleet=10") from None


def _limit(settings: Settings, args: argparse.Namespace) -> int:
    from csms.operator.command_line.cli import _with_app

    if args.clear:
        if args.amps is not None or args.kw is not None or args.schedule or args.fallback is not None:
            print("--clear goes alone", file=sys.stderr)
            return 2

        async def clear(app: App) -> bool:
            return await service.clear_limits(app.pool, app.events, args.site)

        try:
            cleared = asyncio.run(_with_app(settings, clear))
        except service.UnknownSite as error:
            print(error, file=sys.stderr)
            return 1
        print(f"{args.site}: limit cleared" if cleared else f"{args.site}: had no limit")
        return 0
    try:
        body: dict[str, Any] = {"schedule": args.schedule or []}
        if args.amps is not None:
            body["amps"] = _amps(args.amps)
        if args.kw is not None:
            body["kw"] = args.kw
        if args.fallback is not None:
            body["fallback_amps"] = args.fallback
        if args.group_priority:
            body["group_priorities"] = dict(_group(text) for text in args.group_priority)

        async def work(app: App) -> dict[str, Any]:
            return await service.set_limits(app.pool, app.events, args.site, body)

        shown = asyncio.run(_with_app(settings, work))
    except LimitError as error:
        print(error, file=sys.stderr)
        return 2
    except service.UnknownSite as error:
        print(error, file=sys.stderr)
        return 1
    _print(shown)
    return 0


def _show(settings: Settings, args: argparse.Namespace) -> int:
    from csms.operator.command_line.cli import _with_database

    try:
        shown = asyncio.run(_with_database(settings, lambda pool: service.show(pool, args.site)))
    except service.UnknownSite as error:
        print(error, file=sys.stderr)
        return 1
    if shown is None:
        print(f"{args.site}: no limit")
        return 0
    if args.json:
        print(json.dumps(shown, sort_keys=True))
    else:
        _print(shown)
    return 0


def _phases(amps: list[float]) -> str:
    return f"{amps[0]:g} A" if len(set(amps)) == 1 else "/".join(f"{a:g}" for a in amps) + " A"


def _print(shown: dict[str, Any]) -> None:
    """What an operator reads: the limit, the schedule, the fallback, what holds now."""
    kw = f" ({shown['kw']:g} kW)" if shown["kw"] is not None else ""
    print(f"{shown['site_id']}: {_phases(shown['amps'])} per phase{kw}, time zone {shown['time_zone']}")
    for period in shown["schedule"]:
        kw = f" ({period['kw']:g} kW)" if period["kw"] is not None else ""
        print(f"  {period['days']} {period['from']}-{period['to']}: {_phases(period['amps'])}{kw}")
    default = " (default: the lowest limit / the EVSE count)" if shown["fallback_is_default"] else ""
    print(f"  fallback per EVSE: {shown['fallback_amps']:g} A{default}")
    for group, priority in sorted(shown["group_priorities"].items()):
        print(f"  token group {group}: priority {priority}")
    now = shown["in_force"]
    until = f" until {now['until']}" if now["until"] else ""
    print(f"  now: {_phases(now['amps'])}{until}")


def add_commands(sites: _SubParsersAction[Any], common: argparse.ArgumentParser) -> None:
    """Under `csms sites`."""
    limit = sites.add_parser("limit", parents=[common],
                             help="set a site's grid connection limit (replaces it), or --clear it")
    limit.add_argument("site", help="site id")
    size = limit.add_mutually_exclusive_group()
    size.add_argument("--amps", help="A per phase: 400, or L1/L2/L3 as 400/400/300")
    size.add_argument("--kw", help="kW over three phases of 230 V")
    size.add_argument("--clear", action="store_true", help="take the site's limit away")
    limit.add_argument("--schedule", action="append",
                       help="'DAYS FROM-TO=AMPS' in the site's time zone, e.g. 'Mo-Fr 08:00-18:00=200' "
                            "(=100kW in kW; repeatable)")
    limit.add_argument("--fallback", help="A per EVSE a charger we cannot reach may draw "
                                          "(default: the lowest limit / the EVSE count, 0 below 6 A)")
    limit.add_argument("--group-priority", action="append",
                       help="GROUP=PRIORITY: token group's priority (higher first; repeatable)")
    limit.set_defaults(handler=_limit)
    show = sites.add_parser("show-limit", parents=[common],
                            help="a site's limit, schedule, fallback and the limit in force now")
    show.add_argument("site", help="site id")
    show.add_argument("--json", action="store_true", help="as the API shows it")
    show.set_defaults(handler=_show)
