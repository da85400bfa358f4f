"""`csms certificates`: chargers' certificates and security profiles from the command line."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from csms.config import Settings
from csms.domain.fleet.certificates import CertificateUse
from csms.operator.command_line.tables import add_json_option, show
from csms.storage.database import database_url
from csms.storage.fleet import certificate_store

if TYPE_CHECKING:
    from csms.app import App
    from csms.domain.commands import CommandResult

INSTALLABLE = ["csms_root", "manufacturer_root", "v2g_root", "mo_root"]


async def _with_commands(settings: Settings, work: Any) -> Any:
    """The command service of a process that holds no charger: each command travels to the
    node that holds its charger (the relay), as the admin API's do."""
    from csms.app import App

    app = await App.open(settings, database_url(settings.database, create=False))
    try:
        await app.listener.start()
        await app.relay.start()
        return await work(app)
    finally:
        await app.relay.stop()
        await app.listener.stop()
        await app.pool.close()


def _outcome(result: CommandResult) -> int:
    """One line: the outcome and what the charger said; exit 0 only when it accepted."""
    detail = json.dumps(result.detail, default=str) if result.detail else ""
    print(f"{result.outcome.value} {detail}".strip(), file=sys.stdout if result.accepted
          else sys.stderr)
    return 0 if result.accepted else 1


def _list(settings: Settings, args: argparse.Namespace) -> int:
    from csms.operator.command_line.cli import _with_database

    rows = asyncio.run(_with_database(settings, lambda pool: certificate_store.list_installed(
        pool, args.charge_point)))
    show([dict(row) for row in rows],
         [("TYPE", "certificate_type"), ("HASH", "hash_algorithm"), ("SERIAL", "serial_number"),
          ("ISSUER NAME HASH", "issuer_name_hash"), ("ISSUER KEY HASH", "issuer_key_hash"),
          ("UPDATED", "updated_at")], args.as_json)
    return 0


def _refresh(settings: Settings, args: argparse.Namespace) -> int:
    async def work(app: App) -> CommandResult:
        return await app.commands.installed_certificates(
            args.charge_point, [CertificateUse(kind) for kind in args.type or []])
    return _outcome(asyncio.run(_with_commands(settings, work)))


def _install(settings: Settings, args: argparse.Namespace) -> int:
    try:
        pem = Path(args.file).read_text()
    except (OSError, UnicodeDecodeError) as exc:
        print(f"cannot read {args.file}: {exc}", file=sys.stderr)
        return 1

    async def work(app: App) -> CommandResult:
        return await app.commands.install_certificate(args.charge_point,
                                                      CertificateUse(args.type), pem)
    return _outcome(asyncio.run(_with_commands(settings, work)))


def _delete(settings: Settings, args: argparse.Namespace) -> int:
    hashed = {"hash_algorithm": args.hash_algorithm, "issuer_name_hash": args.issuer_name_hash,
              "issuer_key_hash": args.issuer_key_hash, "serial_number": args.serial_number}

    async def work(app: App) -> CommandResult:
        return await app.commands.delete_certificate(args.charge_point, hashed)
    return _outcome(asyncio.run(_with_commands(settings, work)))


def _security_profile(settings: Settings, args: argparse.Namespace) -> int:
    async def work(app: App) -> CommandResult:
        return await app.commands.upgrade_security_profile(args.charge_point, args.profile,
                                                           reset=not args.no_reset)
    return _outcome(asyncio.run(_with_commands(settings, work)))


def _renew(settings: Settings, args: argparse.Namespace) -> int:
    async def work(app: App) -> CommandResult:
        return await app.commands.renew_certificate(args.charge_point, CertificateUse(args.type))
    return _outcome(asyncio.run(_with_commands(settings, work)))


def _hex(value: str) -> str:
    if not value or len(value) > 128 or any(c not in "0123456789abcdefABCDEF" for c in value):
        raise argparse.ArgumentTypeError("hexadecimal, at most 128 digits")
    return value


def add_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    """The `certificates` sub-commands, on the csms command's parser."""
    group = commands.add_parser("certificates", parents=[common],
                                help="chargers' certificates and security profiles")
    actions = group.add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", parents=[common],
                                 help="certificates a charger holds, as last reported or accepted")
    listing.add_argument("charge_point")
    add_json_option(listing)
    listing.set_defaults(handler=_list)
    refresh = actions.add_parser("refresh", parents=[common],
                                 help="ask the charger which certificates it holds, and keep that")
    refresh.add_argument("charge_point")
    refresh.add_argument("--type", action="append", choices=INSTALLABLE + ["v2g_chain"])
    refresh.set_defaults(handler=_refresh)
    install = actions.add_parser("install", parents=[common],
                                 help="install a root certificate (PEM file) on the charger")
    install.add_argument("charge_point")
    install.add_argument("file")
    install.add_argument("--type", required=True, choices=INSTALLABLE)
    install.set_defaults(handler=_install)
    delete = actions.add_parser("delete", parents=[common], help="delete one on the charger")
    delete.add_argument("charge_point")
    delete.add_argument("--serial-number", required=True, type=_hex)
    delete.add_argument("--issuer-name-hash", required=True, type=_hex)
    delete.add_argument("--issuer-key-hash", required=True, type=_hex)
    delete.add_argument("--hash-algorithm", default="SHA256", choices=["SHA256", "SHA384", "SHA512"])
    delete.set_defaults(handler=_delete)
    renew = actions.add_parser("renew", parents=[common],
                               help="ask the charger for a new CSR, which our CA then signs")
    renew.add_argument("charge_point")
    renew.add_argument("--type", default="charging_station", choices=["charging_station", "v2g"])
    renew.set_defaults(handler=_renew)
    profile = actions.add_parser("security-profile", parents=[common],
                                 help="raise the charger's security profile, then reset it")
    profile.add_argument("charge_point")
    profile.add_argument("profile", type=int, choices=[1, 2, 3])
    profile.add_argument("--no-reset", action="store_true",
                         help="the charger changes over at its next reboot")
    profile.set_defaults(handler=_security_profile)
