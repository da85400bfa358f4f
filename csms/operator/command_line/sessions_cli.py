"""`csms sessions list|show|stop`: sessions, one with its meter, cost and roaming ids, a remote stop."""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import UUID

from csms.config import Settings
from csms.domain.billing.session_costs import SessionCosts
from csms.domain.model import ENERGY_REGISTER, SessionStatus
from csms.operator.command_line.fleet.reservations_cli import _report, _with_commands
from csms.operator.command_line.help_format import count
from csms.operator.command_line.tables import add_json_option, show, show_record
from csms.storage import store

if TYPE_CHECKING:
    from argparse import _SubParsersAction

    import asyncpg

COLUMNS = [("SESSION", "id"), ("CHARGE POINT", "charge_point_id"), ("EVSE", "evse_number"),
           ("STATUS", "status"), ("TOKEN", "token_uid"), ("STARTED", "started_at"),
           ("STOPPED", "stopped_at"), ("ENERGY WH", "energy_wh"), ("REASON", "stop_reason")]
_AGO = re.compile(r"(\d+)([mhd])")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def since(text: str) -> datetime:
    """`--since`: an RFC 3339 time or date (UTC if it names no offset), or an age: 30m, 12h, 7d."""
    ago = _AGO.fullmatch(text.strip())
    if ago:
        return datetime.now(UTC) - timedelta(**{_UNITS[ago[2]]: int(ago[1])})
    try:
        at = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither a time (2026-12-01, 2026-12-01T08:00Z) nor an age (30m, 12h, 7d)"
        ) from None
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _session_id(text: str) -> str | None:
    try:
        return str(UUID(text))
    except ValueError:
        return None


async def with_energy(pool: asyncpg.Pool, rows: list[Any]) -> list[dict[str, Any]]:
    """energy_wh: charged so far (an active session: up to its latest meter reading), as the API's."""
    active = [row["id"] for row in rows if row["meter_stop_wh"] is None]
    latest = await store.latest_energy_registers(pool, active) if active else {}
    items = []
    for row in rows:
        end = row["meter_stop_wh"] if row["meter_stop_wh"] is not None else latest.get(row["id"])
        start = row["meter_start_wh"]
        items.append({**dict(row), "energy_wh": end - start if None not in (end, start) else None})
    return items


def _list(settings: Settings, args: argparse.Namespace) -> int:
    from csms.operator.command_line.cli import _with_database

    async def work(pool: asyncpg.Pool) -> list[dict[str, Any]]:
        return await with_energy(pool, await store.list_sessions(
            pool, args.status, args.charge_point, args.evse, args.limit, args.offset, args.since))

    show(asyncio.run(_with_database(settings, work)), COLUMNS, args.as_json)
    return 0


def roaming_ids(attributes: dict[str, Any]) -> dict[str, Any]:
    """The ids partners know the session by: Hubject's SessionID and EvcoID, the OCPI token's party."""
    ids: dict[str, Any] = {}
    oicp = attributes.get("oicp") or {}
    if oicp:
        identification = oicp.get("Identification") or {}
        evco = next((v["EvcoID"] for v in identification.values()
                     if isinstance(v, dict) and "EvcoID" in v), None)
        ids.update({"oicp_session_id": oicp.get("SessionID"),
                    "oicp_provider_id": oicp.get("ProviderID"), "oicp_evco_id": evco})
    ocpi = attributes.get("ocpi") or {}
    if ocpi:
        token = ocpi.get("token") or {}
        party = f"{token.get('country_code', '')}*{token.get('party_id', '')}" if token else None
        ids.update({"ocpi_partner": ocpi.get("partner"), "ocpi_token_uid": token.get("uid"),
                    "ocpi_token_party": party, "ocpi_contract_id": token.get("contract_id"),
                    "ocpi_authorization_reference": ocpi.get("authorization_reference")})
    return {k: v for k, v in ids.items() if v is not None}


async def summary(pool: asyncpg.Pool, session_id: str) -> dict[str, Any] | None:
    """One session: its fields, energy, meter summary, cost (as its CDR stated it, else as a
    charger would show it) and roaming ids."""
    row = await store.get_session(pool, session_id)
    if row is None:
        return None
    session = (await with_energy(pool, [row]))[0]
    samples = await store.list_samples(pool, session_id)
    power = [s["value"] for s in samples if s["measurand"] == "Power.Active.Import"
             and s["phase"] is None]
    registers = [s for s in samples if s["measurand"] == ENERGY_REGISTER and s["phase"] is None]
    shown = {key: session[key] for key in (
        "id", "charge_point_id", "evse_number", "evse_id", "connector_number", "transaction_id",
        "token_uid", "status", "remote", "requested_at", "started_at", "stopped_at",
        "stop_reason", "meter_start_wh", "meter_stop_wh", "energy_wh")}
    shown.update({"samples": len(samples),
                  "last_reading_at": registers[-1]["sampled_at"] if registers else None,
                  "max_power_w": max(power) if power else None})
    costs = await store.session_costs(pool, session_id, 10)
    if costs:
        total = costs[0]["costing"]["total_cost"]
        shown.update({"cost_excl_vat": total.get("excl_vat"), "cost_incl_vat": total.get("incl_vat"),
                      "currency": costs[0]["currency"], "tariff_id": costs[0]["tariff_id"]})
    elif row["transaction_id"] is not None and row["started_at"] is not None:
        cost_of = SessionCosts(pool)
        cost = (await cost_of.final(row["charge_point_id"], row["transaction_id"])
                if row["stopped_at"] is not None else
                await cost_of.so_far(row["charge_point_id"], row["transaction_id"],
                                     datetime.now(UTC), None))
        if cost is not None:
            shown.update({"cost": cost.total, "currency": cost.currency})
    return {**shown, **roaming_ids(dict(row["attributes"]))}


def _show(settings: Settings, args: argparse.Namespace) -> int:
    from csms.operator.command_line.cli import _with_database

    session_id = _session_id(args.id)
    found = session_id and asyncio.run(_with_database(settings, lambda pool: summary(
        pool, session_id)))
    if not found:
        print(f"no session {args.id}", file=sys.stderr)
        return 1
    show_record(found, args.as_json)
    return 0


def _stop(settings: Settings, args: argparse.Namespace) -> int:
    session_id = _session_id(args.id)
    if session_id is None:
        print(f"no session {args.id}", file=sys.stderr)
        return 1
    return _report(asyncio.run(_with_commands(settings, lambda app: app.commands.stop_session(
        session_id))))


def add(session_commands: _SubParsersAction[Any], common: argparse.ArgumentParser) -> None:
    """Registered under `csms sessions` (one line in cli.py; `close` is there)."""
    listing = session_commands.add_parser("list", parents=[common],
                                          help="sessions, newest first")
    listing.add_argument("--status", choices=[s.value for s in SessionStatus])
    listing.add_argument("--charge-point", dest="charge_point", help="charge point id")
    listing.add_argument("--evse", type=count(1, 10**6), help="EVSE number (with --charge-point)")
    listing.add_argument("--since", type=since,
                         help="started since: a time (2026-12-01T08:00Z) or an age (30m, 12h, 7d)")
    listing.add_argument("--limit", type=count(1, 1000), default=50)
    listing.add_argument("--offset", type=count(0, 10**9), default=0)
    add_json_option(listing)
    listing.set_defaults(handler=_list)

    one = session_commands.add_parser(
        "show", parents=[common],
        help="one session: meter summary, cost, roaming ids (Hubject SessionID, EvcoID, OCPI token)")
    one.add_argument("id", help="the session's id")
    add_json_option(one)
    one.set_defaults(handler=_show)

    stop = session_commands.add_parser(
        "stop", parents=[common],
        help="ask the charger to stop the session (remote stop, by the node holding it)")
    stop.add_argument("id", help="the session's id")
    stop.set_defaults(handler=_stop)
