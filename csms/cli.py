"""The `csms` command: run the system, migrate the database, manage charge points and tokens."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from typing import Any

from csms import store
from csms.charge_points import parse_evse_option, register
from csms.config import ConfigError, Settings, load_settings
from csms.database import create_pool, database_url, migrate_url
from csms.logs import configure_logging


def _settings(args: argparse.Namespace) -> Settings:
    path = args.config or os.environ.get("CSMS_CONFIG")
    if path is None and Path("config.toml").exists():
        path = "config.toml"
    return load_settings(path)


async def _with_database(settings: Settings, work: Any) -> Any:
    url = database_url(settings.database)
    await migrate_url(url)
    pool = await create_pool(url, 1, 2)
    try:
        return await work(pool)
    finally:
        await pool.close()


def _run(settings: Settings, args: argparse.Namespace) -> int:
    from csms.app import serve_forever

    asyncio.run(serve_forever(settings))
    return 0


def _migrate(settings: Settings, args: argparse.Namespace) -> int:
    applied = asyncio.run(migrate_url(database_url(settings.database)))
    print("applied: " + ", ".join(applied) if applied else "database is up to date")
    return 0


def _add_charge_point(settings: Settings, args: argparse.Namespace) -> int:
    try:
        evses = dict(parse_evse_option(option) for option in args.evse or ["1"])
    except ValueError as exc:
        print(f"--evse: {exc} (expected NUMBER or NUMBER=EVSEID)", file=sys.stderr)
        return 2

    async def work(pool: Any) -> None:
        await register(pool, args.id, args.password, evses, args.registration)

    asyncio.run(_with_database(settings, work))
    print(f"registered {args.id} with EVSEs "
          + ", ".join(f"{n}={e or '-'}" for n, e in sorted(evses.items())))
    return 0


def _list_charge_points(settings: Settings, args: argparse.Namespace) -> int:
    async def work(pool: Any) -> list[Any]:
        return [(cp, await store.list_evses(pool, cp["id"]))
                for cp in await store.list_charge_points(pool)]

    for cp, evses in asyncio.run(_with_database(settings, work)):
        state = "connected" if cp["connected"] else "offline"
        print(f"{cp['id']}\t{state}\t{cp['protocol'] or '-'}\t{cp['vendor'] or '-'}"
              f"\t{cp['model'] or '-'}\t{cp['firmware_version'] or '-'}\t"
              + " ".join(f"{e['evse_number']}={e['evse_id'] or '-'}:{e['status']}"
                         for e in evses))
    return 0


def _add_token(settings: Settings, args: argparse.Namespace) -> int:
    async def work(pool: Any) -> None:
        await store.upsert_token(pool, args.uid, args.type, args.status)

    asyncio.run(_with_database(settings, work))
    print(f"token {args.uid} {args.status}")
    return 0


def parser() -> argparse.ArgumentParser:
    config_help = "TOML settings file (default: ./config.toml if present)"
    top = argparse.ArgumentParser(prog="csms", description=__doc__)
    top.add_argument("--config", help=config_help)
    # Accepted after the sub-command as well: `csms run --config PATH`.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", default=argparse.SUPPRESS, help=config_help)
    commands = top.add_subparsers(dest="command", required=True)

    commands.add_parser("run", parents=[common], help="run the OCPP server and the admin API").set_defaults(
        handler=_run)
    commands.add_parser("migrate", parents=[common], help="apply database migrations").set_defaults(
        handler=_migrate)

    charge_points = commands.add_parser("charge-points", parents=[common],
                                        help="register and list charge points")
    cp_commands = charge_points.add_subparsers(dest="action", required=True)
    add = cp_commands.add_parser("add", parents=[common], help="register a charge point (or update it)")
    add.add_argument("id")
    add.add_argument("--evse", action="append",
                     help="NUMBER=EVSEID, e.g. '1=DE*ABC*E0001*1' (repeatable; default: 1)")
    add.add_argument("--password", help="OCPP Basic auth password (stored as a salted hash)")
    add.add_argument("--registration", default="accepted",
                     choices=["accepted", "pending", "rejected"])
    add.set_defaults(handler=_add_charge_point)
    cp_commands.add_parser("list", parents=[common], help="list charge points").set_defaults(
        handler=_list_charge_points)

    tokens = commands.add_parser("tokens", parents=[common], help="manage local tokens")
    token_commands = tokens.add_subparsers(dest="action", required=True)
    add_token = token_commands.add_parser("add", parents=[common], help="add or update a token")
    add_token.add_argument("uid")
    add_token.add_argument("--type", default="RFID")
    add_token.add_argument("--status", default="accepted",
                           choices=["accepted", "blocked", "expired", "invalid"])
    add_token.set_defaults(handler=_add_token)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        settings = _settings(args)
    except (ConfigError, OSError) as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log.level, settings.log.format)
    return int(args.handler(settings, args))


if __name__ == "__main__":
    sys.exit(main())
