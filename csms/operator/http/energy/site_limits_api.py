"""Admin API routes for a site's grid limit (with its schedule, fallback, priorities) and EVSE energy."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from csms.domain.energy import site_limit_service as service
from csms.domain.energy.site_limits import LimitError

if TYPE_CHECKING:
    from csms.operator.http.api import AdminApi


def routes(api: AdminApi) -> None:
    from csms.operator.http.api import PREFIX, BadRequest, body, reply

    async def put_limit(request: web.Request) -> web.Response:
        """Body {"amps": 400 | [L1, L2, L3] or "kw": 250, "schedule": [...], "fallback_amps",
        "group_priorities"}: replaces the site's limit settings."""
        data = await body(request)
        try:
            return reply(await service.set_limits(api.pool, api.events, request.match_info["site"],
                                                  data))
        except LimitError as error:
            raise BadRequest(str(error)) from None
        except service.UnknownSite as error:
            raise web.HTTPNotFound(reason=str(error)) from None

    async def get_limit(request: web.Request) -> web.Response:
        site_id = request.match_info["site"]
        try:
            shown = await service.show(api.pool, site_id)
        except service.UnknownSite as error:
            raise web.HTTPNotFound(reason=str(error)) from None
        if shown is None:
            raise web.HTTPNotFound(reason=f"site {site_id!r} has no limit")
        return reply(shown)

    async def delete_limit(request: web.Request) -> web.Response:
        try:
            cleared = await service.clear_limits(api.pool, api.events, request.match_info["site"])
        except service.UnknownSite as error:
            raise web.HTTPNotFound(reason=str(error)) from None
        return reply({"cleared": cleared})

    def _evse(request: web.Request) -> int:
        try:
            evse = int(request.match_info["evse"])
        except ValueError:
            raise BadRequest("the EVSE is a number, 1 or more") from None
        if not 1 <= evse <= 1000:
            raise BadRequest("the EVSE is a number, 1 or more")
        return evse

    async def put_energy(request: web.Request) -> web.Response:
        """Body {"priority", "min_amps", "max_amps", "phases"}; absent: the site's default."""
        data = await body(request)
        evse = _evse(request)
        try:
            return reply(await service.set_evse_energy(
                api.pool, api.events, request.match_info["cp"], evse, data))
        except LimitError as error:
            raise BadRequest(str(error)) from None
        except service.UnknownSite as error:
            raise web.HTTPNotFound(reason=str(error)) from None

    async def delete_energy(request: web.Request) -> web.Response:
        evse = _evse(request)
        return reply({"cleared": await service.clear_evse_energy(
            api.pool, api.events, request.match_info["cp"], evse)})

    r = api.app.router
    r.add_get(f"{PREFIX}/sites/{{site}}/limit", get_limit)
    r.add_put(f"{PREFIX}/sites/{{site}}/limit", put_limit)
    r.add_delete(f"{PREFIX}/sites/{{site}}/limit", delete_limit)
    r.add_put(f"{PREFIX}/charge-points/{{cp}}/evses/{{evse}}/energy", put_energy)
    r.add_delete(f"{PREFIX}/charge-points/{{cp}}/evses/{{evse}}/energy", delete_energy)


def openapi_paths(cp: dict[str, Any], evse: dict[str, Any]) -> dict[str, Any]:
    """These routes' description (csms/operator/http/openapi.py)."""
    from csms.operator.http.openapi import _ERROR, _OBJECT, _body, _json, _path_param, _read
    site = _path_param("site")
    number = {"type": "number", "minimum": 0}
    amps = {"oneOf": [number, {"type": "array", "items": number, "minItems": 3, "maxItems": 3}],
            "description": "A per phase: one number for all three, or L1, L2, L3"}
    period = {"oneOf": [
        {"type": "string", "description": "DAYS FROM-TO=AMPS, e.g. 'Mo-Fr 08:00-18:00=200'"},
        {"type": "object", "required": ["days", "from", "to"], "properties": {
            "days": {"type": "string", "description": "e.g. Mo-Fr, Sa,Su"},
            "from": {"type": "string", "description": "HH:MM, site time"},
            "to": {"type": "string", "description": "HH:MM (24:00: midnight); before from: "
                                                    "the next day"},
            "amps": amps, "kw": number}}]}

    def _written(summary: str, params: list[dict[str, Any]],
                 body: dict[str, Any] | None = None) -> dict[str, Any]:
        operation: dict[str, Any] = {
            "summary": summary, "parameters": params,
            "responses": {"200": _json(_OBJECT), "400": _json(_ERROR, "Bad request"),
                          "401": _json(_ERROR, "No or wrong token"),
                          "404": _json(_ERROR, "Unknown site, charge point or EVSE")}}
        if body is not None:
            operation["requestBody"] = body
        return operation

    return {
        "/sites/{site}/limit": {
            "get": _read("The site's grid limit settings, its EVSEs as the load manager sees "
                         "them, and the limit in force now (in_force: amps, period, until)",
                         _OBJECT, [site]),
            "put": _written(
                "Set the site's grid limit (replaces it): amps or kw, a time-of-day schedule in "
                "the site's time zone, the fallback current per EVSE an offline charger keeps "
                "(default: the lowest limit / the EVSE count, 0 below 6 A), token group "
                "priorities", [site], _body({
                    "amps": amps, "kw": number,
                    "schedule": {"type": "array", "items": period},
                    "fallback_amps": number,
                    "group_priorities": {"type": "object",
                                         "additionalProperties": {"type": "integer"}}}, [])),
            "delete": _written("Take the site's limit away", [site]),
        },
        "/charge-points/{cp}/evses/{evse}/energy": {
            "put": _written(
                "An EVSE's priority, current range (A per phase) and the phases it is wired to, "
                "over the site's EVSE details (absent: the default)", [cp, evse], _body({
                    "priority": {"type": "integer"}, "min_amps": number, "max_amps": number,
                    "phases": {"type": "array", "items": {"type": "integer",
                                                          "enum": [1, 2, 3]}}}, [])),
            "delete": _written("Back to the site's defaults for the EVSE", [cp, evse]),
        },
    }
