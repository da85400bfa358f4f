"""Admin API routes for reservations of any EVSE of a charger and for token groups."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from aiohttp import web

from csms.domain.reservations import CONNECTOR_TYPES
from csms.storage import store

if TYPE_CHECKING:
    from csms.operator.http.api import AdminApi


def routes(api: AdminApi) -> None:
    from csms.operator.http.api import PREFIX, BadRequest, body, command_reply, field, record, reply

    async def reserve_any(request: web.Request) -> web.Response:
        """Any EVSE of the charger (of one connector type, when asked): 2.0.1 ReserveNow without
        evseId, 1.6 ReserveNow on connector 0."""
        data = await body(request)
        token = field(data, "token", str)
        minutes = field(data, "minutes", int, 15)
        connector_type = field(data, "connector_type", str, None)
        if not token or not 0 < minutes <= 24 * 60:
            raise BadRequest("'token' must not be empty and 'minutes' be 1 to 1440")
        if connector_type is not None and connector_type not in CONNECTOR_TYPES:
            raise BadRequest(f"'connector_type' is one of {', '.join(sorted(CONNECTOR_TYPES))}")
        return command_reply(await api.commands.reserve(
            request.match_info["cp"], None, token, datetime.now(UTC) + timedelta(minutes=minutes),
            connector_type=connector_type))

    async def set_group(request: web.Request) -> web.Response:
        group = (await body(request)).get("group", ...)
        if group is ... or (group is not None and (not isinstance(group, str)
                                                   or not 0 < len(group) <= 36)):
            raise BadRequest("'group' must be 1 to 36 characters, or null")
        row = await store.set_token_group(api.pool, request.match_info["uid"], group)
        if row is None:
            raise web.HTTPNotFound(reason="unknown token")
        return reply(record(row))

    api.app.router.add_post(f"{PREFIX}/charge-points/{{cp}}/reserve", reserve_any)
    api.app.router.add_post(f"{PREFIX}/tokens/{{uid}}/group", set_group)
