"""Admin API route for what the load manager intends each EVSE of a charger to draw (read only)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from csms.storage import store
from csms.storage.energy import energy_store

if TYPE_CHECKING:
    from csms.operator.http.api import AdminApi


def routes(api: AdminApi) -> None:
    from csms.operator.http.api import PREFIX, reply
    from csms.operator.http.paging import page_of, sliced

    async def allowances(request: web.Request) -> web.Response:
        """Per EVSE the current (A per phase) the load manager allows it now, null when it does
        not manage it: the "intended" line next to the composite schedule the charger reports."""
        charge_point_id, page = request.match_info["cp"], page_of(request)
        async with api.pool.acquire() as conn:
            if await store.get_charge_point(conn, charge_point_id) is None:
                raise web.HTTPNotFound(reason="unknown charge point")
            evses = [row["evse_number"] for row in await store.list_evses(conn, charge_point_id)
                     if row["retired_at"] is None]
            answer = []
            for evse in evses:
                amps = await energy_store.allowed(conn, charge_point_id, evse)
                answer.append({"evse": evse, "amps": float(amps) if amps is not None else None})
        return reply(sliced(answer, page))

    api.app.router.add_get(f"{PREFIX}/charge-points/{{cp}}/allowances", allowances)


def openapi_paths(cp: dict[str, Any]) -> dict[str, Any]:
    """This route's description (csms/operator/http/openapi.py)."""
    from csms.operator.http.openapi import _list
    return {"/charge-points/{cp}/allowances": {"get": _list(
        "What the load manager allows each EVSE now (A per phase; null: not managed), to "
        "compare with the composite schedule the charger reports", "Allowance", [cp])}}
