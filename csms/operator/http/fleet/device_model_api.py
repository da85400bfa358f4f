"""The admin API's device model routes: inventory, variables, monitors, events, messages, customer data."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from csms.domain.fleet import device_model as dm
from csms.operator.http import api as admin
from csms.operator.http.paging import answer, page_of, sliced
from csms.storage.fleet import device_store

if TYPE_CHECKING:
    from csms.operator.http.api import AdminApi

Handler = Callable[[web.Request], Awaitable[web.Response]]


def _address(row: Any) -> dict[str, Any]:
    """'' and 0 of the store are absent in the answer."""
    return {"component": row["component"],
            "component_instance": row["component_instance"] or None,
            "evse_id": row["evse_id"] or None, "connector_id": row["connector_id"] or None,
            "variable": row["variable"], "variable_instance": row["variable_instance"] or None}


def _checked(handler: Handler) -> Handler:
    """A request the device model cannot take is a 400 with its reason."""
    async def checked(request: web.Request) -> web.Response:
        try:
            return await handler(request)
        except dm.Invalid as invalid:
            raise admin.BadRequest(str(invalid)) from None
    return checked


def _addresses(data: dict[str, Any], variable_required: bool = False) -> list[dm.Address]:
    return [dm.address(item, variable_required)
            for item in dm.list_of(data.get("variables", []), "variables", 0)]


def _criteria(data: dict[str, Any], allowed: tuple[str, ...]) -> list[str]:
    return [dm.choice(c, allowed, "criteria")
            for c in dm.list_of(data.get("criteria", []), "criteria", 0, len(allowed))]


class DeviceModelRoutes:
    def __init__(self, api: AdminApi) -> None:
        self.api = api
        self.commands = api.commands
        self.pool = api.pool

    async def _known(self, request: web.Request) -> str:
        charge_point_id = request.match_info["cp"]
        await self.api._charge_point(charge_point_id)  # 404 for one we do not know
        return charge_point_id

    # --- inventory and reports ---------------------------------------------------------------

    async def inventory(self, request: web.Request) -> web.Response:
        charge_point_id = await self._known(request)
        evse = admin.query_int(request, "evse", None, 0, 2**31 - 1)
        page = page_of(request)
        rows, total = await device_store.page_variables(
            self.pool, charge_point_id, request.query.get("component"),
            request.query.get("variable"), evse, page.limit, page.offset)
        return admin.reply(answer([{**_address(r), "attributes": r["attributes"],
                                    "characteristics": r["characteristics"],
                                    "updated_at": admin._plain(r["updated_at"])} for r in rows],
                                  total, page))

    async def request_report(self, request: web.Request) -> web.Response:
        data = await admin.body(request)
        base = data.get("base")
        if base is not None:
            return admin.command_reply(await self.commands.request_report(
                request.match_info["cp"], dm.choice(base, dm.REPORT_BASES, "base")))
        criteria = _criteria(data, dm.COMPONENT_CRITERIA)
        addresses = _addresses(data)
        if not criteria and not addresses:
            raise admin.BadRequest("name a 'base', or 'criteria' and/or 'variables'")
        return admin.command_reply(await self.commands.request_report(
            request.match_info["cp"], None, criteria, addresses))

    async def requests(self, request: web.Request) -> web.Response:
        charge_point_id = await self._known(request)
        page = page_of(request)
        rows, total = await device_store.page_requests(self.pool, charge_point_id,
                                                       request.query.get("kind"), page.limit,
                                                       page.offset)
        return admin.reply(answer([admin.record(r) for r in rows], total, page))

    async def one_request(self, request: web.Request) -> web.Response:
        charge_point_id = await self._known(request)
        try:
            request_id = int(request.match_info["request_id"])
        except ValueError:
            raise admin.BadRequest("a request is addressed by its number") from None
        row = await device_store.get_request(self.pool, charge_point_id, request_id)
        if row is None:
            raise web.HTTPNotFound(reason="unknown request")
        return admin.reply(admin.record(row))

    # --- variables -------------------------------------------------------------------------

    async def get_variables(self, request: web.Request) -> web.Response:
        items = []
        for item in dm.list_of((await admin.body(request)).get("variables"), "variables"):
            where = dm.address(item).as_dict()
            where["attribute_type"] = dm.choice(item.get("attribute_type", "Actual"),
                                                dm.ATTRIBUTE_TYPES, "attribute_type")
            items.append(where)
        return admin.command_reply(await self.commands.read_variables(request.match_info["cp"],
                                                                      items))

    async def set_variables(self, request: web.Request) -> web.Response:
        items = []
        for item in dm.list_of((await admin.body(request)).get("variables"), "variables"):
            where = dm.address(item).as_dict()
            where["attribute_type"] = dm.choice(item.get("attribute_type", "Actual"),
                                                dm.ATTRIBUTE_TYPES, "attribute_type")
            value = item.get("value")
            if not isinstance(value, str) or len(value) > 1000:
                raise dm.Invalid("'value' must be a text of at most 1000 characters")
            where["value"] = value
            items.append(where)
        return admin.command_reply(await self.commands.write_variables(request.match_info["cp"],
                                                                       items))

    # --- monitoring ------------------------------------------------------------------------

    async def monitors(self, request: web.Request) -> web.Response:
        charge_point_id = await self._known(request)
        page = page_of(request)
        rows = await device_store.list_monitors(self.pool, charge_point_id,
                                                request.query.get("component"))
        return admin.reply(sliced([{"id": r["monitor_id"], **_address(r), "type": r["type"],
                                    "value": r["value"], "severity": r["severity"],
                                    "transaction": r["transaction"],
                                    "updated_at": admin._plain(r["updated_at"])} for r in rows],
                                  page))

    async def set_monitors(self, request: web.Request) -> web.Response:
        monitors = [dm.monitor_request(m) for m in
                    dm.list_of((await admin.body(request)).get("monitors"), "monitors")]
        return admin.command_reply(await self.commands.set_monitors(request.match_info["cp"],
                                                                    monitors))

    async def clear_monitors(self, request: web.Request) -> web.Response:
        ids = dm.list_of((await admin.body(request)).get("ids"), "ids")
        if not all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in ids):
            raise dm.Invalid("'ids' must be monitor numbers")
        return admin.command_reply(await self.commands.clear_monitors(request.match_info["cp"],
                                                                      ids))

    async def monitoring_report(self, request: web.Request) -> web.Response:
        data = await admin.body(request)
        return admin.command_reply(await self.commands.request_monitoring_report(
            request.match_info["cp"], _criteria(data, dm.MONITORING_CRITERIA),
            _addresses(data)))

    async def monitoring_base(self, request: web.Request) -> web.Response:
        base = dm.choice((await admin.body(request)).get("base"), dm.MONITORING_BASES, "base")
        return admin.command_reply(await self.commands.set_monitoring_base(
            request.match_info["cp"], base))

    async def monitoring_level(self, request: web.Request) -> web.Response:
        severity = admin.field(await admin.body(request), "severity", int)
        if not 0 <= severity <= 9:
            raise dm.Invalid("'severity' must be 0 (danger) to 9 (debug)")
        return admin.command_reply(await self.commands.set_monitoring_level(
            request.match_info["cp"], severity))

    async def events(self, request: web.Request) -> web.Response:
        charge_point_id = await self._known(request)
        page = page_of(request)
        rows, total = await device_store.page_events(self.pool, charge_point_id,
                                                     request.query.get("component"), page.limit,
                                                     page.offset)
        return admin.reply(answer([{"event_id": r["event_id"], **_address(r),
                                    "occurred_at": admin._plain(r["occurred_at"]),
                                    "trigger": r["trigger"],
                                    "notification_type": r["notification_type"],
                                    "actual_value": r["actual_value"], "cleared": r["cleared"],
                                    **r["details"], "received_at": admin._plain(r["received_at"])}
                                   for r in rows], total, page))

    # --- display messages and customer information -------------------------------------------

    async def display_messages(self, request: web.Request) -> web.Response:
        charge_point_id = await self._known(request)
        page = page_of(request)
        rows = await device_store.list_display_messages(self.pool, charge_point_id)
        return admin.reply(sliced([admin.record(r) for r in rows], page))

    async def set_display_message(self, request: web.Request) -> web.Response:
        message = dm.display_message_request(await admin.body(request))
        return admin.command_reply(await self.commands.set_display_message(
            request.match_info["cp"], message))

    async def display_messages_report(self, request: web.Request) -> web.Response:
        data = await admin.body(request)
        ids = dm.list_of(data.get("ids", []), "ids", 0)
        if not all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in ids):
            raise dm.Invalid("'ids' must be message numbers")
        priority = data.get("priority")
        state = data.get("state")
        return admin.command_reply(await self.commands.request_display_messages(
            request.match_info["cp"], ids,
            None if priority is None else dm.choice(priority, dm.MESSAGE_PRIORITIES, "priority"),
            None if state is None else dm.choice(state, dm.MESSAGE_STATES, "state")))

    async def clear_display_message(self, request: web.Request) -> web.Response:
        try:
            message_id = int(request.match_info["id"])
        except ValueError:
            raise admin.BadRequest("a message is addressed by its number") from None
        return admin.command_reply(await self.commands.clear_display_message(
            request.match_info["cp"], message_id))

    async def customer_information(self, request: web.Request) -> web.Response:
        data = await admin.body(request)
        identifier = admin.field(data, "identifier", str, None)
        token = admin.field(data, "token", str, None)
        if (identifier is None) == (token is None) or len(identifier or token or "") > 64 \
                or not (identifier or token):
            raise admin.BadRequest("name the customer by one of 'identifier' or 'token' "
                                   "(1 to 64 characters)")
        report = admin.field(data, "report", bool, True)
        clear = admin.field(data, "clear", bool, False)
        if not (report or clear):
            raise admin.BadRequest("ask to 'report' the customer's data, 'clear' it, or both")
        return admin.command_reply(await self.commands.customer_information(
            request.match_info["cp"], report, clear, identifier, token))


def routes(api: AdminApi) -> None:
    """Registered by the admin API."""
    handlers = DeviceModelRoutes(api)
    r = api.app.router
    cp = f"{admin.PREFIX}/charge-points/{{cp}}"
    for method, path, handler in (
        ("GET", "/device-model", handlers.inventory),
        ("POST", "/device-model/report", handlers.request_report),
        ("GET", "/device-model/requests", handlers.requests),
        ("GET", "/device-model/requests/{request_id}", handlers.one_request),
        ("POST", "/device-model/variables/get", handlers.get_variables),
        ("POST", "/device-model/variables/set", handlers.set_variables),
        ("GET", "/monitors", handlers.monitors),
        ("POST", "/monitors", handlers.set_monitors),
        ("POST", "/monitors/clear", handlers.clear_monitors),
        ("POST", "/monitors/report", handlers.monitoring_report),
        ("POST", "/monitoring/base", handlers.monitoring_base),
        ("POST", "/monitoring/level", handlers.monitoring_level),
        ("GET", "/device-events", handlers.events),
        ("GET", "/display-messages", handlers.display_messages),
        ("POST", "/display-messages", handlers.set_display_message),
        ("POST", "/display-messages/report", handlers.display_messages_report),
        ("POST", "/display-messages/{id}/clear", handlers.clear_display_message),
        ("POST", "/customer-information", handlers.customer_information),
    ):
        r.add_route(method, cp + path, _checked(handler))
