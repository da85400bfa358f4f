"""Admin API routes for generic (raw OCPP) commands and the core commands beside them, and their paths."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from csms.domain.commands import CommandResult, Outcome

if TYPE_CHECKING:
    from csms.operator.http.api import AdminApi

PREFIX = "/api/v1"

# A generic command's answer: what the charger said, as it said it; the reason otherwise.
_GENERIC_HTTP = {
    Outcome.ACCEPTED: 200,  # answered: {"status", "response"}, whatever the status
    Outcome.FAILED: 502,  # answered with a CALLERROR: {"callError": {code, description}}
    Outcome.INVALID: 400,
    Outcome.NOT_FOUND: 404,  # connected to no node of the cluster
    Outcome.OFFLINE: 503,  # disconnected before it answered
    Outcome.TIMEOUT: 504,
}


def generic_reply(result: CommandResult) -> web.Response:
    return web.json_response({"outcome": result.outcome.value, **result.detail},
                             status=_GENERIC_HTTP.get(result.outcome, 500))


def routes(api: AdminApi) -> None:
    """Registered by the admin API (one line there)."""
    from csms.operator.http.api import body, command_reply, field

    async def raw_command(request: web.Request) -> web.Response:
        payload = await body(request)
        return generic_reply(await api.commands.raw_command(
            request.match_info["cp"], request.match_info["action"], payload))

    async def clear_cache(request: web.Request) -> web.Response:
        return command_reply(await api.commands.clear_cache(request.match_info["cp"]))

    async def data_transfer(request: web.Request) -> web.Response:
        data = await body(request)
        return command_reply(await api.commands.data_transfer(
            request.match_info["cp"], field(data, "vendor_id", str),
            field(data, "message_id", str, None), field(data, "data", str, None)))

    async def stored_configuration(request: web.Request) -> web.Response:
        known = await api.commands.stored_configuration(request.match_info["cp"])
        if known is None:
            raise web.HTTPNotFound(reason="unknown charge point")
        return web.json_response(known)

    r = api.app.router
    r.add_post(f"{PREFIX}/charge-points/{{cp}}/commands/{{action}}", raw_command)
    r.add_post(f"{PREFIX}/charge-points/{{cp}}/clear-cache", clear_cache)
    r.add_post(f"{PREFIX}/charge-points/{{cp}}/data-transfer", data_transfer)
    r.add_get(f"{PREFIX}/charge-points/{{cp}}/configuration/known", stored_configuration)


def paths(cp: dict[str, Any], command: Any, body: Any, json: Any,
          error: dict[str, Any]) -> dict[str, Any]:
    """Their OpenAPI description (merged into the admin API's)."""
    obj = {"type": "object", "additionalProperties": True}
    answer = {"type": "object", "properties": {
        "outcome": {"type": "string"}, "status": {"type": "string", "nullable": True},
        "response": obj, "reason": {"type": "string"},
        "callError": {"type": "object", "properties": {"code": {"type": "string"},
                                                       "description": {"type": "string"}}}}}
    entry = {"type": "object", "properties": {
        "key": {"type": "string"}, "value": {"type": "string", "nullable": True},
        "readonly": {"type": "boolean", "nullable": True}, "known": {"type": "boolean"},
        "status": {"type": "string"}}}
    action = {"name": "action", "in": "path", "required": True, "schema": {"type": "string"}}
    return {
        "/charge-points/{cp}/commands/{action}": {"post": {
            "summary": "Any CSMS-to-charger action of the charger's OCPP version, with its raw "
                       "payload (the body); answers as the charger did",
            "parameters": [cp, action],
            "requestBody": {"required": False,
                            "content": {"application/json": {"schema": obj}}},
            "responses": {
                "200": json(answer, "The charger answered: status (if its response has one), "
                                    "response (secrets masked)"),
                "400": json(answer, "No such action of its version, or a payload that does not "
                                    "fit the action's schema"),
                "401": json(error, "No or wrong token"),
                "404": json(answer, "The charger is connected to no node"),
                "502": json(answer, "The charger answered with a CALLERROR (callError)"),
                "503": json(answer, "The charger disconnected before it answered"),
                "504": json(answer, "The charger did not answer in time"),
            }}},
        "/charge-points/{cp}/clear-cache": {"post": command(
            "Clear the charger's authorization cache", [cp])},
        "/charge-points/{cp}/data-transfer": {"post": command(
            "DataTransfer to the charger (detail: its status and data)", [cp], body(
                {"vendor_id": {"type": "string"}, "message_id": {"type": "string"},
                 "data": {"type": "string"}}, ["vendor_id"]))},
        "/charge-points/{cp}/configuration/known": {"get": {
            "summary": "The charger's configuration as it last told us (every Get/Change "
                       "result kept): value, readonly, and the keys it does not know",
            "parameters": [cp],
            "responses": {
                "200": json({"type": "object", "properties": {
                    "configuration": {"type": "array", "items": entry},
                    "unknown": {"type": "array", "items": {"type": "string"}}}}),
                "401": json(error, "No or wrong token"),
                "404": json(error, "Not found")}}},
    }
