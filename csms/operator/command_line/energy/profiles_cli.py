"""`csms profiles` subcommands: set, clear and list a charger's charging profiles, its composite schedule."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import TYPE_CHECKING, Any

from csms.config import Settings
from csms.domain.energy.smart_charging import (
    ChargingProfile,
    Purpose,
    RateUnit,
    problem,
    profile_from_dict,
    remote_start_problem,
)
from csms.operator.command_line.fleet.reservations_cli import _report, _with_commands
from csms.operator.command_line.tables import add_json_option, show
from csms.storage.energy import profile_store

if TYPE_CHECKING:
    from argparse import _SubParsersAction


def _set(settings: Settings, args: argparse.Namespace) -> int:
    try:
        raw = json.loads(args.profile)
        profile = profile_from_dict(raw)
    except (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as error:
        print(f"PROFILE is not a charging profile's JSON: {error}", file=sys.stderr)
        return 2
    reason = problem(profile) or ("--evse is 0 (the whole charger) or more" if args.evse < 0
                                  else None)
    if reason:
        print(reason, file=sys.stderr)
        return 2
    return _report(asyncio.run(_with_commands(settings, lambda app: app.commands
                                              .set_charging_profile(args.id, args.evse, profile))))


def _clear(settings: Settings, args: argparse.Namespace) -> int:
    purpose = Purpose(args.purpose) if args.purpose else None
    return _report(asyncio.run(_with_commands(settings, lambda app: app.commands
                                              .clear_charging_profile(args.id, args.profile_id,
                                                                      args.evse, purpose,
                                                                      args.stack_level))))


def _parsed(text: str) -> ChargingProfile | str:
    """A profile from its JSON, or the one line saying why it is none."""
    try:
        return profile_from_dict(json.loads(text))
    except (json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as error:
        return f"PROFILE is not a charging profile's JSON: {error}"


def _start(settings: Settings, args: argparse.Namespace) -> int:
    """Remote start with a Tx profile for the transaction (1.6 §5.16, 2.0.1 F01/K05)."""
    profile = _parsed(args.profile) if args.profile else None
    reason = profile if isinstance(profile, str) else (
        remote_start_problem(profile) if profile else None)
    if reason or args.evse < 1 or not args.token:
        print(reason or "--evse is 1 or more, --token not empty", file=sys.stderr)
        return 2
    assert not isinstance(profile, str)
    return _report(asyncio.run(_with_commands(settings, lambda app: app.commands.start_session(
        args.id, args.evse, args.token, profile=profile))))


def _list(settings: Settings, args: argparse.Namespace) -> int:
    from csms.operator.command_line.cli import _with_database

    if args.from_charger:  # what the charger holds, as it reports it (2.0.1 K09)
        purpose = Purpose(args.purpose) if args.purpose else None
        result = asyncio.run(_with_commands(settings, lambda app: app.commands
                                            .get_charging_profiles(args.id, args.evse, purpose)))
        if not result.accepted:
            return _report(result)
        show([{**item, "reported_by": result.detail["reported_by"]}
              for item in result.detail["profiles"]],
             [("EVSE", "evse"), ("SOURCE", "source"), ("REPORTED BY", "reported_by"),
              ("PROFILE", "profile"), ("EXTERNAL", "external")], args.as_json)
        return 0
    show(asyncio.run(_with_database(settings, lambda pool: profile_store.shown(
        pool, args.id, args.evse))), [("EVSE", "evse"), ("STATUS", "status"),
                                      ("UPDATED", "updated_at"), ("DETAIL", "detail"),
                                      ("PROFILE", "profile")], args.as_json)
    return 0


def _composite(settings: Settings, args: argparse.Namespace) -> int:
    if args.evse < 0 or args.duration <= 0:
        print("--evse is 0 or more, --duration positive", file=sys.stderr)
        return 2
    unit = RateUnit(args.unit) if args.unit else None
    result = asyncio.run(_with_commands(settings, lambda app: app.commands.composite_schedule(
        args.id, args.evse, args.duration, unit)))
    if result.accepted:
        print(json.dumps(result.detail.get("schedule"), sort_keys=True))
        return 0
    return _report(result)


def add_commands(commands: _SubParsersAction[Any], common: argparse.ArgumentParser) -> None:
    profiles = commands.add_parser("profiles", parents=[common],
                                   help="chargers' charging profiles (smart charging)")
    actions = profiles.add_subparsers(dest="action", required=True)
    put = actions.add_parser("set", parents=[common],
                             help="send a charging profile to a charger's EVSE")
    put.add_argument("id", help="charge point id")
    put.add_argument("profile", help='the profile as JSON, e.g. \'{"id": 1, "stack_level": 0, '
                                     '"purpose": "TxDefault", "kind": "Relative", "unit": "A", '
                                     '"periods": [{"start": 0, "limit": 16}]}\'')
    put.add_argument("--evse", type=int, default=0, help="EVSE number (0: the whole charger)")
    put.set_defaults(handler=_set)

    clear = actions.add_parser("clear", parents=[common],
                               help="clear the profiles matching every option given (none: all)")
    clear.add_argument("id", help="charge point id")
    clear.add_argument("--profile-id", type=int)
    clear.add_argument("--evse", type=int)
    clear.add_argument("--purpose", choices=[p.value for p in Purpose])
    clear.add_argument("--stack-level", type=int)
    clear.set_defaults(handler=_clear)

    listing = actions.add_parser("list", parents=[common],
                                 help="the profiles sent to a charger and what it answered")
    listing.add_argument("id", help="charge point id")
    listing.add_argument("--evse", type=int)
    add_json_option(listing)
    listing.add_argument("--from-charger", action="store_true",
                         help="what the charger holds, as it reports it (a 1.6 charger cannot "
                              "tell: what we hold, reported_by csms)")
    listing.add_argument("--purpose", choices=[p.value for p in Purpose],
                         help="with --from-charger: only profiles of this purpose")
    listing.set_defaults(handler=_list)

    composite = actions.add_parser("composite", parents=[common],
                                   help="the composite schedule the charger computes")
    composite.add_argument("id", help="charge point id")
    composite.add_argument("--evse", type=int, default=0, help="EVSE number (0: the charger)")
    composite.add_argument("--duration", type=int, default=86400, help="seconds from now")
    composite.add_argument("--unit", choices=["A", "W"])
    composite.set_defaults(handler=_composite)

    start = actions.add_parser("start", parents=[common],
                               help="start a session remotely with a Tx profile for it")
    start.add_argument("id", help="charge point id")
    start.add_argument("--evse", type=int, default=1)
    start.add_argument("--token", required=True)
    start.add_argument("--profile", help='a Tx profile as JSON, e.g. \'{"id": 7, "stack_level": '
                                         '1, "purpose": "Tx", "kind": "Relative", "periods": '
                                         '[{"start": 0, "limit": 10}]}\'')
    start.set_defaults(handler=_start)
