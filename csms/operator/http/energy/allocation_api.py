"""Admin API route for a site's allocation now: what the load manager allows each EVSE, and why."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from csms.operator.http.api import AdminApi


def routes(api: AdminApi) -> None:
    from csms.operator.http.api import PREFIX, reply

    async def allocation(request: web.Request) -> web.Response:
        """The limit in force, the sum counted per phase, and per EVSE: allowed, status, draw."""
        manager = api.commands.load_manager
        found = await manager.allocation(request.match_info["site_id"]) if manager else None
        if found is None:
            raise web.HTTPNotFound(reason="the site has no limit (PUT /sites/{id}/limit)")
        return reply(found)

    api.app.router.add_get(f"{PREFIX}/sites/{{site_id}}/allocation", allocation)


def openapi_paths() -> dict[str, Any]:
    """This route's description (csms/operator/http/openapi.py)."""
    from csms.operator.http.openapi import _path_param, _read
    number, amps = {"type": "number"}, {"type": "array", "items": {"type": "number"}}
    evse = {"type": "object", "properties": {
        "charge_point_id": {"type": "string"}, "evse": {"type": "integer"},
        "session_id": {"type": "string", "nullable": True},
        "status": {"type": "string", "enum": ["Idle", "Fallback", "Pending", "Accepted",
                                              "Rejected", "Unanswered"]},
        "allowed": {"type": "number", "nullable": True}, "counted": number,
        "draw": {"type": "number", "nullable": True}, "online": {"type": "boolean"},
        "priority": {"type": "integer"}, "phases": {"type": "array", "items": {"type": "integer"}}}}
    schema = {"type": "object", "properties": {
        "site_id": {"type": "string"}, "managed_by": {"type": "string", "nullable": True},
        "evaluated_at": {"type": "string", "nullable": True}, "limit": amps, "fallback_amps": number,
        "counted": amps, "evses": {"type": "array", "items": evse}}}
    return {"/sites/{site_id}/allocation": {"get": _read(
        "A site's allocation now: the limit in force and the sum counted per phase (never above "
        "it), and per EVSE what the load manager allows, the charger's answer and the draw",
        schema, [_path_param("site_id")])}}
