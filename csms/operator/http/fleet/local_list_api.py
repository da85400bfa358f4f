"""Admin API routes for chargers' local authorization lists: version and sync state, a forced full sync."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import asyncpg
from aiohttp import web

from csms.operator.http.api import PREFIX, record, reply
from csms.storage import store
from csms.storage.fleet import local_list_store as lists

if TYPE_CHECKING:
    from csms.operator.http.api import AdminApi


def view(charge_point_id: str, row: asyncpg.Record | None) -> dict[str, Any]:
    """The list's state as the API and CLI show it (entries counted, not listed)."""
    if row is None:
        return {"charge_point_id": charge_point_id, "version": 0, "state": "unknown",
                "supported": None, "entries": 0, "full_requested": False, "synced_at": None,
                "detail": None}
    shown = record(row, drop=("entries", "updated_at"))
    return {**shown, "entries": len(row["entries"] or {})}


def routes(api: AdminApi) -> None:
    async def known(request: web.Request) -> str:
        charge_point_id = request.match_info["cp"]
        if await store.get_charge_point(api.pool, charge_point_id) is None:
            raise web.HTTPNotFound(reason="unknown charge point")
        return charge_point_id

    async def get_local_list(request: web.Request) -> web.Response:
        charge_point_id = await known(request)
        return reply(view(charge_point_id, await lists.get(api.pool, charge_point_id)))

    async def sync_local_list(request: web.Request) -> web.Response:
        """Whichever node holds the charger sends the full list; 202: asked, see the state."""
        charge_point_id = await known(request)
        return reply(view(charge_point_id, await lists.request_full(api.pool, charge_point_id)),
                     202)

    r = api.app.router
    r.add_get(f"{PREFIX}/charge-points/{{cp}}/local-list", get_local_list)
    r.add_post(f"{PREFIX}/charge-points/{{cp}}/local-list/sync", sync_local_list)
