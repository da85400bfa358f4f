"""The `csms` command: run the system, migrate the database, manage charge points, sites, tokens."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import ssl
import sys
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg

from csms import runtime
from csms.config import ConfigError, Settings, load_settings
from csms.domain.charge_points import assign_sites, parse_evse_option, register, retire
from csms.domain.sites import SiteError, parse_sites
from csms.logs import configure_logging
from csms.operator.command_line import cdrs_cli, sessions_cli, tables, tokens_cli, users_cli
from csms.operator.command_line.energy import profiles_cli, site_limits_cli
from csms.operator.command_line.fleet import (
    certificates_cli,
    command_cli,
    device_model_cli,
    jobs_cli,
    local_list_cli,
    registration_cli,
    reservations_cli,
)
from csms.operator.command_line.help_format import Parser, count, uuid_text
from csms.storage import store
from csms.storage.database import DatabaseUnavailable, create_pool, database_url, migrate_url

if TYPE_CHECKING:
    from csms.app import App


# The checkout's own config.toml (the one `make run` uses), found from the package, not the
# current directory: `csms` run from anywhere works on the same database.
CHECKOUT_CONFIG = Path(__file__).resolve().parents[3] / "config.toml"


def config_path(args: argparse.Namespace) -> Path | None:
    """--config, else $CSMS_CONFIG, else the checkout's config.toml if there is one."""
    given = getattr(args, "config", None) or os.environ.get("CSMS_CONFIG")
    if given:
        return Path(given)
    return CHECKOUT_CONFIG if CHECKOUT_CONFIG.exists() else None


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(config_path(args))


async def _with_database(settings: Settings, work: Any) -> Any:
    """Management commands work on a database that exists: they never make one."""
    url = database_url(settings.database, create=False)
    await migrate_url(url)
    pool = await create_pool(url, 1, 2)
    try:
        return await work(pool)
    finally:
        await pool.close()


async def _with_app(settings: Settings, work: Any) -> Any:
    """The wired system without its servers: changes publish their events, so roaming
    partners hear of them (the running process's outbox workers deliver)."""
    from csms.app import App

    app = await App.open(settings, database_url(settings.database, create=False))
    try:
        return await work(app)
    finally:
        await app.pool.close()


def _run(settings: Settings, args: argparse.Namespace) -> int:
    from csms.app import serve_forever

    # Each charger is an open file: take all the system allows (the soft limit is often 1,024).
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    runtime.run(serve_forever(settings), settings.process.event_loop)
    return 0


def _settings_reference(settings: Settings, args: argparse.Namespace) -> int:
    from csms.config import reference

    path = config_path(args)
    if path is None:
        raise ConfigError("no config file to document: give one with --config")
    with open(path, encoding="utf-8") as handle:
        print(reference(handle.read()), end="")
    return 0


def _check_config(settings: Settings, args: argparse.Namespace) -> int:
    from csms.security.exposure import violations

    found = violations(settings)
    for violation in found:
        print(violation.line())
    if not found:
        print("no violations: nothing an internet-facing deployment must keep is relaxed")
    return 1 if found else 0


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

    profile = args.security_profile
    if args.no_password:
        if args.password or profile not in (None, 0):
            print("--no-password goes with neither --password nor a security profile other than 0",
                  file=sys.stderr)
            return 2
        profile = 0

    async def work(app: App) -> Any:
        await register(app.pool, args.id, args.password, evses, args.registration, app.events,
                       profile)
        return await store.get_charge_point(app.pool, args.id)

    stored = asyncio.run(_with_app(settings, work))
    print(f"registered {args.id} with EVSEs "
          + ", ".join(f"{n}={e or '-'}" for n, e in sorted(evses.items())))
    if (stored["password_hash"] is None and stored["security_profile"] in (1, 2)
            and not settings.ocpp.allow_unauthenticated):
        print(f"note: {args.id} has no password, so it is refused: give --password, or "
              "--no-password to let it connect without credentials", file=sys.stderr)
    return 0


def _list_charge_points(settings: Settings, args: argparse.Namespace) -> int:
    async def work(pool: Any) -> list[Any]:
        return [(cp, await store.list_evses(pool, cp["id"]))
                for cp in await store.list_charge_points(pool)]

    tables.show([{**dict(cp), "state": "connected" if cp["connected"] else "offline",
                  "evses": [f"{e['evse_number']}={e['evse_id'] or '-'}:{e['status']}"
                            for e in evses]}
                 for cp, evses in asyncio.run(_with_database(settings, work))],
                [("ID", "id"), ("STATE", "state"), ("OCPP", "protocol"), ("VENDOR", "vendor"),
                 ("MODEL", "model"), ("FIRMWARE", "firmware_version"), ("EVSES", "evses")],
                args.as_json)
    return 0


def _retire(settings: Settings, args: argparse.Namespace) -> int:
    async def work(app: App) -> int:
        return await retire(app.pool, app.events, args.id, args.evse)

    print(f"retired {asyncio.run(_with_app(settings, work))} EVSE(s) of {args.id}")
    return 0


def _load_sites(settings: Settings, args: argparse.Namespace) -> int:
    try:
        with open(args.file, "rb") as handle:
            sites = parse_sites(tomllib.load(handle))
    except (OSError, tomllib.TOMLDecodeError, SiteError) as exc:
        print(f"{args.file}: {exc}", file=sys.stderr)
        return 2

    async def work(app: App) -> list[str]:
        return await assign_sites(app.pool, app.events, sites)

    unknown = asyncio.run(_with_app(settings, work))
    print(f"stored {len(sites)} site(s)")
    if unknown:
        print("not registered, so not placed: " + ", ".join(unknown), file=sys.stderr)
        return 1
    return 0


def _oicp_push(settings: Settings, args: argparse.Namespace) -> int:
    if not settings.oicp.enabled:
        print("oicp is not enabled (oicp.enabled / CSMS_OICP_ENABLED)", file=sys.stderr)
        return 2

    async def work(app: App) -> int:
        assert app.oicp is not None
        if args.what == "push-evse-status":
            return await app.oicp.push_all_statuses()
        if args.what == "push-pricing":
            return await app.oicp.push_all_pricing()
        if args.full:
            return await app.oicp.push_all_evse_data()
        return await app.oicp.sync_all_evse_data()

    count = asyncio.run(_with_app(settings, work))
    if args.what == "push-pricing":
        print(f"queued {count} pricing fullLoad(s) for Hubject; the running csms delivers them")
        return 0
    kind = "full load" if args.full or args.what == "push-evse-status" else "changes"
    print(f"queued {kind} of {count} EVSE(s) for Hubject; the running csms delivers it")
    return 0


def _ocpi(settings: Settings, args: argparse.Namespace) -> int:
    if not settings.ocpi.enabled:
        print("ocpi is not enabled (ocpi.enabled / CSMS_OCPI_ENABLED)", file=sys.stderr)
        return 2

    async def work(app: App) -> int:
        assert app.ocpi is not None
        return await app.ocpi.operator_command(args)  # bridge/ocpi/cli.py

    return int(asyncio.run(_with_app(settings, work)))


def _load_tariffs(settings: Settings, args: argparse.Namespace) -> int:
    from csms.domain.billing.tariffs import TariffError, put_tariffs

    try:
        with open(args.file) as handle:
            tariffs = json.load(handle)
        if not isinstance(tariffs, list):
            raise TariffError("the file holds a JSON list of tariffs")

        async def work(app: App) -> int:
            return await put_tariffs(app.pool, app.events, tariffs)
        changed = asyncio.run(_with_app(settings, work))
    except (OSError, ValueError) as exc:
        print(f"{args.file}: {exc}", file=sys.stderr)
        return 2
    print(f"{changed} of {len(tariffs)} tariff(s) new or changed")
    return 0


def _delete_tariff(settings: Settings, args: argparse.Namespace) -> int:
    from csms.domain.billing.tariffs import TariffInUse, UnknownTariff, withdraw_tariff

    async def work(app: App) -> None:
        await withdraw_tariff(app.pool, app.events, args.id)
    try:  # the API's checks: nothing assigned, named by a site or in progress is priced by it
        asyncio.run(_with_app(settings, work))
    except (UnknownTariff, TariffInUse) as exc:
        print(exc.args[0] if exc.args else exc, file=sys.stderr)
        return 1
    print(f"tariff {args.id} deleted (sessions priced by it keep their price)")
    return 0


def _assign_tariff(settings: Settings, args: argparse.Namespace) -> int:
    from csms.domain.billing.tariffs import TariffError, assign

    tariff_id = None if args.action == "unassign" else args.id

    async def work(app: App) -> list[str]:
        return await assign(app.pool, app.events, tariff_id, args.evse or [], args.provider)
    try:
        unknown = asyncio.run(_with_app(settings, work))
    except TariffError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    where = ", ".join(args.evse) if args.evse else "every EVSE"
    emp = "every EMP" if args.provider == "*" else f"EMP {args.provider}"
    print(f"{where}: {'tariff ' + tariff_id if tariff_id else 'assignment removed'} for {emp}")
    if unknown:
        print("no EVSE has these EvseIDs yet (the assignment waits for them): " + ", ".join(unknown),
              file=sys.stderr)
    return 0


def _list_tariffs(settings: Settings, args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from csms.app import ROAMING
    from csms.domain.billing.tariffs import assignments_at

    async def work(pool: Any) -> tuple[list[Any], dict[tuple[str, str], str]]:
        return await store.current_tariffs(pool), await assignments_at(pool)

    rows, assignments = asyncio.run(_with_database(settings, work))
    today = datetime.now(UTC).date()
    # One row per tariff and per assignment: a tariff's rows name no EVSE, an assignment's do.
    listed = [{"tariff_id": row["data"]["id"], "currency": row["data"]["currency"],
               "valid_from": row["valid_from"],
               "hubject_pricing": "; ".join(ROAMING.tariff_for_hubject(row["data"], today))}
              for row in rows]
    listed += [{"tariff_id": tariff_id, "evse_id": evse_id, "provider_id": provider}
               for (provider, evse_id), tariff_id in sorted(assignments.items())]
    tables.show(listed, [("TARIFF", "tariff_id"), ("CURRENCY", "currency"),
                         ("SINCE", "valid_from"), ("ASSIGNED TO EVSE", "evse_id"),
                         ("FOR EMP", "provider_id"), ("HUBJECT PRICING", "hubject_pricing")],
                args.as_json)
    return 0


def _session_costs(settings: Settings, args: argparse.Namespace) -> int:
    async def work(pool: Any) -> list[Any]:
        return await store.session_costs(pool, args.session, args.limit)

    tables.show([{**dict(row), "excl_vat": row["costing"]["total_cost"]["excl_vat"],
                  "incl_vat": row["costing"]["total_cost"].get("incl_vat"),
                  "energy_kwh": row["costing"]["total_energy"]}
                 for row in asyncio.run(_with_database(settings, work))],
                [("SESSION", "session_id"), ("ROAMING", "protocol"), ("EMP", "provider_id"),
                 ("TARIFF", "tariff_id"), ("PRODUCT", "product_id"), ("EXCL VAT", "excl_vat"),
                 ("INCL VAT", "incl_vat"), ("CURRENCY", "currency"), ("KWH", "energy_kwh")],
                args.as_json)
    return 0


def _add_token(settings: Settings, args: argparse.Namespace) -> int:
    async def work(pool: Any) -> None:
        await store.upsert_token(pool, args.uid, args.type, args.status)
        if args.group is not None:
            await store.set_token_group(pool, args.uid, args.group)

    asyncio.run(_with_database(settings, work))
    print(f"token {args.uid} {args.status}")
    return 0


def _close_session(settings: Settings, args: argparse.Namespace) -> int:
    from uuid import UUID

    try:
        session_id = str(UUID(args.id))
    except ValueError:
        print(f"no session {args.id}", file=sys.stderr)
        return 1

    async def work(app: App) -> Any:
        return await app.services.sessions.close(session_id)
    session, closed = asyncio.run(_with_app(settings, work))
    if session is None:
        print(f"no session {args.id}", file=sys.stderr)
        return 1
    if not closed:
        print(f"session {session_id} is {session['status']}, not active", file=sys.stderr)
        return 1
    print(f"session {session_id} closed at {session['meter_stop_wh']} Wh")
    return 0


def parser() -> argparse.ArgumentParser:
    config_help = "TOML settings file (default: $CSMS_CONFIG, else the checkout's config.toml)"
    top: argparse.ArgumentParser = Parser(prog="csms", description=__doc__)
    top.add_argument("--config", help=config_help)
    # Accepted after the sub-command as well: `csms run --config PATH`.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", default=argparse.SUPPRESS, help=config_help)
    commands = top.add_subparsers(dest="command", required=True)

    commands.add_parser("run", parents=[common], help="run the OCPP server and the admin API").set_defaults(
        handler=_run)
    commands.add_parser("migrate", parents=[common], help="apply database migrations").set_defaults(
        handler=_migrate)
    commands.add_parser("check-config", parents=[common],
                        help="what this configuration relaxes that an internet-facing deployment "
                             "must not (exit 1 if anything)").set_defaults(handler=_check_config)
    commands.add_parser("settings", parents=[common],
                        help="every setting of config.toml as a Markdown table (the README's)"
                        ).set_defaults(handler=_settings_reference)

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
    add.add_argument("--no-password", action="store_true",
                     help="let it connect without credentials (security profile 0): anyone can "
                     "then connect as it")
    add.add_argument("--security-profile", type=int, choices=[0, 1, 2, 3],
                     help="0 no credentials, 1 Basic auth, 2 TLS + Basic auth, 3 TLS client "
                     "certificate (CN = id)")
    add.set_defaults(handler=_add_charge_point)
    list_cp = cp_commands.add_parser("list", parents=[common], help="list charge points")
    list_cp.set_defaults(handler=_list_charge_points)
    tables.add_json_option(list_cp)
    registration_cli.add_parser(cp_commands, common)
    retire_cp = cp_commands.add_parser("retire", parents=[common],
                                       help="retire EVSEs for good (all of them without --evse)")
    retire_cp.add_argument("id")
    retire_cp.add_argument("--evse", type=int, action="append", help="EVSE number (repeatable)")
    retire_cp.set_defaults(handler=_retire)
    command_cli.add_parser(cp_commands, common)

    sites = commands.add_parser("sites", parents=[common], help="where charge points stand")
    site_commands = sites.add_subparsers(dest="action", required=True)
    load = site_commands.add_parser("load", parents=[common],
                                    help="store the [[site]] tables of a TOML file (see sites.example.toml)")
    load.add_argument("file")
    load.set_defaults(handler=_load_sites)
    site_limits_cli.add_commands(site_commands, common)

    oicp = commands.add_parser("oicp", parents=[common], help="Hubject (OICP) operations")
    oicp_commands = oicp.add_subparsers(dest="what", required=True)
    for name, text in (("push-evse-data", "push EVSE data: changes, or everything with --full"),
                       ("push-evse-status", "push every EVSE's status (a full load)")):
        push = oicp_commands.add_parser(name, parents=[common], help=text)
        push.add_argument("--full", action="store_true", help="a fullLoad replacing Hubject's copy")
        push.set_defaults(handler=_oicp_push)
    oicp_commands.add_parser(
        "push-pricing", parents=[common],
        help="push every pricing product and EVSE pricing (fullLoads)").set_defaults(handler=_oicp_push)

    ocpi = commands.add_parser("ocpi", parents=[common], help="OCPI partners (eMSPs, hubs)")
    ocpi_commands = ocpi.add_subparsers(dest="what", required=True)
    issue = ocpi_commands.add_parser("issue-token", parents=[common],
                                     help="a Token A for a partner that will register with us")
    register_ocpi = ocpi_commands.add_parser("register", parents=[common],
                                             help="register with a partner (csms run must be up)")
    register_ocpi.add_argument("url", help="the partner's versions URL")
    register_ocpi.add_argument("token_a", help="the Token A the partner gave us")
    for sub in (issue, register_ocpi):
        sub.add_argument("--party", action="append", required=True, dest="parties",
                         metavar="[ROLE:]CC*PID",
                         help="a party the partner acts for, e.g. NL*EMS or EMSP:NL*EMS (repeat for "
                              "each): its credentials may claim no other")
        sub.add_argument("--name", default="", help="a name to know the partner by")
        sub.add_argument("--plain", action="store_true",
                         help="send our token unencoded (peers that predate 2.2.1's base64)")
    tables.add_json_option(ocpi_commands.add_parser("partners", parents=[common],
                                                    help="list partners"))
    unregister = ocpi_commands.add_parser("unregister", parents=[common], help="end a partnership")
    unregister.add_argument("id", type=int)
    sync_ocpi = ocpi_commands.add_parser(
        "sync", parents=[common], help="push every Location and Tariff to a partner again "
                                       "(--tokens: pull its whole token list instead)")
    sync_ocpi.add_argument("party", help="the partner's id, or COUNTRY/PARTY of one of its roles")
    sync_ocpi.add_argument("--tokens", action="store_true",
                           help="pull the partner's token list in full now (GET on its Tokens "
                                "Sender), withdrawing the tokens it no longer lists")
    ocpi.set_defaults(handler=_ocpi)

    tariffs = commands.add_parser("tariffs", parents=[common], help="prices (OCPI's tariff model)")
    tariff_commands = tariffs.add_subparsers(dest="action", required=True)
    load_tariffs = tariff_commands.add_parser(
        "load", parents=[common], help="store the tariffs of a JSON file (a list of OCPI Tariffs); "
                                       "sites name the tariff their EVSEs charge by")
    load_tariffs.add_argument("file")
    load_tariffs.set_defaults(handler=_load_tariffs)
    delete = tariff_commands.add_parser("delete", parents=[common], help="withdraw a tariff")
    delete.add_argument("id")
    delete.set_defaults(handler=_delete_tariff)
    assign_tariff = tariff_commands.add_parser(
        "assign", parents=[common], help="price EVSEs by a tariff, for every EMP or one (Hubject "
                                         "pricing follows; the most specific assignment wins)")
    assign_tariff.add_argument("id", help="the tariff's id")
    unassign_tariff = tariff_commands.add_parser(
        "unassign", parents=[common], help="remove an assignment (the next general one applies)")
    for sub in (assign_tariff, unassign_tariff):
        sub.add_argument("--evse", action="append",
                         help="EvseID, e.g. 'DE*ABC*E0001*1' (repeatable; default: every EVSE)")
        sub.add_argument("--provider", default="*",
                         help="the EMP's Hubject ProviderID, e.g. DE-8EO (default *: every EMP)")
        sub.set_defaults(handler=_assign_tariff)
    list_tariffs = tariff_commands.add_parser(
        "list", parents=[common], help="tariffs, the pricing products Hubject gets, assignments")
    list_tariffs.set_defaults(handler=_list_tariffs)
    tables.add_json_option(list_tariffs)
    costs = tariff_commands.add_parser("costs", parents=[common],
                                       help="what roaming sessions cost, newest first")
    costs.add_argument("--session", type=uuid_text, help="one session's id")
    costs.add_argument("--limit", type=count(1, 1000), default=50)
    tables.add_json_option(costs)
    costs.set_defaults(handler=_session_costs)

    sessions = commands.add_parser("sessions", parents=[common], help="charging sessions")
    session_commands = sessions.add_subparsers(dest="action", required=True)
    close = session_commands.add_parser(
        "close", parents=[common],
        help="end a session the charger never will, at its last known meter value")
    close.add_argument("id")
    close.set_defaults(handler=_close_session)
    sessions_cli.add(session_commands, common)

    jobs_cli.add_commands(commands, common)

    tokens = commands.add_parser("tokens", parents=[common], help="manage local tokens")
    token_commands = tokens.add_subparsers(dest="action", required=True)
    add_token = token_commands.add_parser("add", parents=[common], help="add or update a token")
    add_token.add_argument("uid")
    add_token.add_argument("--type", default="RFID")
    add_token.add_argument("--status", default="accepted",
                           choices=["accepted", "blocked", "expired", "invalid"])
    add_token.add_argument("--group", help="its group (see `csms tokens group`)")
    add_token.set_defaults(handler=_add_token)
    tokens_cli.add(token_commands, common)
    local_list_cli.add_commands(commands, common)
    device_model_cli.add_commands(commands, common)
    reservations_cli.add(cp_commands, token_commands, common)
    certificates_cli.add_commands(commands, common)
    profiles_cli.add_commands(commands, common)
    users_cli.add_commands(commands, common)
    cdrs_cli.add_commands(commands, common)
    return top


def main(argv: list[str] | None = None) -> int:
    """Every failure an operator can fix is one line on stderr, no traceback: 2 for a wrong
    setting, 1 for what the system around us lacks (a database, a free port, a file)."""
    args = parser().parse_args(argv)
    try:
        settings = _settings(args)
        configure_logging(settings.log.level, settings.log.format)
        return users_cli.run_audited(settings, args)
    except (ConfigError, ssl.SSLError) as exc:  # e.g. OICP certificates that do not load
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    except (DatabaseUnavailable, OSError) as exc:  # OSError: a port taken, a file not there
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except asyncpg.DataError as exc:  # a value the database cannot take (its transaction undone)
        print(f"error: a value cannot be used: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
