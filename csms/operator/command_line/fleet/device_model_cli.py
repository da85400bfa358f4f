"""`csms device-model …`: ask a charger for a report; browse its inventory, monitors, events, messages."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
from typing import Any

from csms.cluster.nodes import default_node_id
from csms.config import Settings
from csms.domain.commands import CommandResult
from csms.domain.fleet import device_model as dm
from csms.operator.command_line.help_format import count
from csms.operator.command_line.tables import add_json_option, show
from csms.storage import store
from csms.storage.database import database_url
from csms.storage.fleet import device_store


class CliError(Exception):
    """One line for the operator, exit status 1."""


def _where(row: Any) -> str:
    """EVSE/1/Power, Connector/1.1/ConnectorType, OCPPCommCtrlr/MessageTimeout[Default]."""
    place = row["component"] + (f"[{row['component_instance']}]" if row["component_instance"] else "")
    if row["evse_id"]:
        place += f"/{row['evse_id']}" + (f".{row['connector_id']}" if row["connector_id"] else "")
    variable = row["variable"] + (f"[{row['variable_instance']}]"
                                  if row["variable_instance"] else "")
    return f"{place}/{variable}"


async def _browse(settings: Settings, charge_point_id: str, work: Any) -> Any:
    from csms.operator.command_line.cli import _with_database

    async def checked(pool: Any) -> Any:
        if await store.get_charge_point(pool, charge_point_id) is None:
            raise CliError(f"unknown charge point {charge_point_id!r}")
        return await work(pool)
    return await _with_database(settings, checked)


async def _ask(settings: Settings, work: Any) -> CommandResult:
    """A command through the node holding the charger (this process holds none: it joins as a
    node of its own for the call, so its answer finds its way back)."""
    from csms.app import App

    own = dataclasses.replace(settings, cluster=dataclasses.replace(settings.cluster,
                                                                    node_id=default_node_id()))
    app = await App.open(own, database_url(settings.database, create=False))
    try:
        await app.listener.start()
        await app.relay.start()
        return await work(app.commands)  # type: ignore[no-any-return]
    finally:
        await app.relay.stop()
        await app.listener.stop()
        await app.pool.close()


def _print_result(result: CommandResult) -> int:
    print(f"{result.outcome.value}\t{json.dumps(result.detail, sort_keys=True)}")
    return 0 if result.accepted else 1


def _report(settings: Settings, args: argparse.Namespace) -> int:
    addresses = [dm.Address(*(part.split("/", 1) + [""])[:2]) for part in args.variable or []]
    if args.base is None and not (args.criteria or addresses):
        raise CliError("give --base, or --criteria and/or --variable")
    return _print_result(asyncio.run(_ask(settings, lambda commands: commands.request_report(
        args.id, args.base, args.criteria or [], addresses))))


def _inventory(settings: Settings, args: argparse.Namespace) -> int:
    async def work(pool: Any) -> list[Any]:
        return await device_store.list_variables(pool, args.id, args.component, args.variable,
                                                 None, 10000)
    show([{"variable": _where(row),
           "attributes": " ".join(f"{a['type']}={a.get('value', '(write-only)')}"
                                  for a in row["attributes"]),
           "unit": (row["characteristics"] or {}).get("unit")}
          for row in asyncio.run(_browse(settings, args.id, work))],
         [("VARIABLE", "variable"), ("ATTRIBUTES", "attributes"), ("UNIT", "unit")], args.as_json)
    return 0


def _requests(settings: Settings, args: argparse.Namespace) -> int:
    async def work(pool: Any) -> list[Any]:
        return await device_store.list_requests(pool, args.id, None, 100)
    show([dict(row) for row in asyncio.run(_browse(settings, args.id, work))],
         [("REQUEST", "request_id"), ("KIND", "kind"), ("STATUS", "status"), ("PARTS", "parts")],
         args.as_json)
    return 0


def _monitors(settings: Settings, args: argparse.Namespace) -> int:
    async def work(pool: Any) -> list[Any]:
        return await device_store.list_monitors(pool, args.id, None)
    show([{**dict(row), "variable": _where(row)}
          for row in asyncio.run(_browse(settings, args.id, work))],
         [("MONITOR", "monitor_id"), ("VARIABLE", "variable"), ("TYPE", "type"),
          ("VALUE", "value"), ("SEVERITY", "severity")], args.as_json)
    return 0


def _events(settings: Settings, args: argparse.Namespace) -> int:
    async def work(pool: Any) -> list[Any]:
        return await device_store.list_events(pool, args.id, args.component, args.limit)
    show([{**dict(row), "variable": _where(row)}
          for row in asyncio.run(_browse(settings, args.id, work))],
         [("AT", "occurred_at"), ("VARIABLE", "variable"), ("TRIGGER", "trigger"),
          ("VALUE", "actual_value"), ("NOTIFICATION", "notification_type")], args.as_json)
    return 0


def _messages(settings: Settings, args: argparse.Namespace) -> int:
    async def work(pool: Any) -> list[Any]:
        return await device_store.list_display_messages(pool, args.id)
    show([dict(row) for row in asyncio.run(_browse(settings, args.id, work))],
         [("MESSAGE", "message_id"), ("PRIORITY", "priority"), ("STATE", "state"),
          ("CONTENT", "content")], args.as_json)
    return 0


def _customer(settings: Settings, args: argparse.Namespace) -> int:
    if args.request is not None:
        async def work(pool: Any) -> Any:
            return await device_store.get_request(pool, args.id, args.request)
        row = asyncio.run(_browse(settings, args.id, work))
        if row is None:
            raise CliError(f"no request {args.request} of {args.id}")
        print(f"{row['status']}\t{row['data']}")
        return 0
    if args.identifier is None:
        raise CliError("give the customer's identifier, or --request to show an answer")
    return _print_result(asyncio.run(_ask(settings, lambda commands: commands.customer_information(
        args.id, True, args.clear, args.identifier, None))))


def _handled(handler: Any) -> Any:
    """A wrong argument or a charger we do not know: one line, no traceback."""
    def run(settings: Settings, args: argparse.Namespace) -> int:
        try:
            return int(handler(settings, args))
        except (CliError, dm.Invalid) as exc:
            import sys
            print(f"error: {exc}", file=sys.stderr)
            return 1
    return run


def add_commands(commands: Any, common: argparse.ArgumentParser) -> None:
    """Registered by the CLI's parser."""
    device = commands.add_parser("device-model", parents=[common],
                                 help="a 2.0.1 charger's device model: reports, inventory, "
                                      "monitors, events, display messages, customer data")
    actions = device.add_subparsers(dest="action", required=True)

    def action(name: str, handler: Any, text: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = actions.add_parser(name, parents=[common], help=text)
        parser.add_argument("id", help="charge point id")
        parser.set_defaults(handler=_handled(handler))
        return parser

    report = action("report", _report, "ask the charger for a report (through its node)")
    report.add_argument("--base", choices=dm.REPORT_BASES)
    report.add_argument("--criteria", action="append", choices=dm.COMPONENT_CRITERIA)
    report.add_argument("--variable", action="append", metavar="COMPONENT[/VARIABLE]")
    inventory = action("inventory", _inventory, "the variables the charger reported")
    inventory.add_argument("--component")
    inventory.add_argument("--variable")
    requests = action("requests", _requests,
                      "reports and other requests answered in parts, and their state")
    monitors = action("monitors", _monitors, "the charger's monitors")
    events = action("events", _events, "events the charger notified, newest first")
    events.add_argument("--component")
    events.add_argument("--limit", type=count(1, 10000), default=50)
    messages = action("display-messages", _messages, "display messages set or reported")
    for listing in (inventory, requests, monitors, events, messages):
        add_json_option(listing)
    customer = action("customer-information", _customer,
                      "ask for what the charger holds of a customer (or show an answer)")
    customer.add_argument("identifier", nargs="?")
    customer.add_argument("--clear", action="store_true", help="and clear it on the charger")
    customer.add_argument("--request", type=int, help="show the answer of this request")
