"""Admin API routes for tariffs (OCPI's model, as `csms tariffs` manages them) and their assignments."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import asyncpg
from aiohttp import web

from csms.domain.billing import tariffs
from csms.storage import store

if TYPE_CHECKING:
    from csms.operator.http.api import AdminApi


async def _shown(db: asyncpg.Pool | asyncpg.Connection) -> list[dict[str, Any]]:
    """Every current tariff with the assignments in force naming it, oldest first."""
    from csms.operator.http.api import _plain

    assignments = await tariffs.assignments_at(db)
    return [{"id": row["id"], "currency": row["data"]["currency"],
             "valid_from": _plain(row["valid_from"]), "tariff": row["data"],
             "assignments": [{"provider_id": provider, "evse_id": evse_id}
                             for (provider, evse_id), named in sorted(assignments.items())
                             if named == row["id"]]}
            for row in await store.current_tariffs(db)]


def routes(api: AdminApi) -> None:
    from csms.operator.http.api import PREFIX, BadRequest, body, reply
    from csms.operator.http.paging import page_of, sliced

    async def one(tariff_id: str) -> dict[str, Any]:
        found = [t for t in await _shown(api.pool) if t["id"] == tariff_id]
        if not found:
            raise web.HTTPNotFound(reason=f"unknown tariff {tariff_id!r}")
        return found[0]

    async def list_tariffs(request: web.Request) -> web.Response:
        return reply(sliced(await _shown(api.pool), page_of(request)))

    async def get_tariff(request: web.Request) -> web.Response:
        return reply(await one(request.match_info["id"]))

    async def put_tariff(request: web.Request) -> web.Response:
        """Body: one OCPI Tariff, as an element of the list `csms tariffs load` reads (its id,
        if given, the path's); stored as a new version when it changed (TariffChanged: the
        roaming partners get it)."""
        tariff_id, data = request.match_info["id"], await body(request)
        if len(tariff_id) > 36 or not tariff_id.isprintable():
            raise BadRequest("a tariff's id is 1 to 36 printable characters (OCPI CiString(36))")
        if data.get("id", tariff_id) != tariff_id:
            raise BadRequest(f"the body's id {data['id']!r} is not the path's {tariff_id!r}")
        data = {**data, "id": tariff_id}
        try:
            tariffs.check_tariff(data)  # its one reason before anything is stored
            existed = any(t["id"] == tariff_id for t in await _shown(api.pool))
            await tariffs.put_tariffs(api.pool, api.events, [data])
        except tariffs.TariffError as error:
            raise BadRequest(str(error)) from None
        return reply(await one(tariff_id), 200 if existed else 201)

    async def delete_tariff(request: web.Request) -> web.Response:
        tariff_id = request.match_info["id"]
        try:
            await tariffs.withdraw_tariff(api.pool, api.events, tariff_id)
        except tariffs.UnknownTariff as error:
            raise web.HTTPNotFound(reason=str(error)) from None
        except tariffs.TariffInUse as error:
            raise web.HTTPConflict(reason=str(error)) from None
        return reply({"id": tariff_id, "withdrawn": True})

    async def list_assignments(request: web.Request) -> web.Response:
        page = page_of(request)
        assignments = await tariffs.assignments_at(api.pool)
        return reply(sliced([{"provider_id": provider, "evse_id": evse_id, "tariff_id": named}
                             for (provider, evse_id), named in sorted(assignments.items())],
                            page))

    async def put_assignment(request: web.Request) -> web.Response:
        """Body {"tariff_id": id or null (null: the assignment removed), "evse_ids": [...]
        (absent or empty: every EVSE), "provider_id": a Hubject ProviderID or "*"}: as
        `csms tariffs assign|unassign`; Hubject pricing follows (TariffAssigned)."""
        data = await body(request)
        tariff_id = data.get("tariff_id")
        if "tariff_id" not in data or not (tariff_id is None or isinstance(tariff_id, str)):
            raise BadRequest("'tariff_id' is required: a tariff's id, or null to unassign")
        evse_ids = data.get("evse_ids", [])
        if not isinstance(evse_ids, list) or not all(isinstance(e, str) and 0 < len(e) <= 48
                                                     for e in evse_ids):
            raise BadRequest("'evse_ids' lists EvseIDs (absent or empty: every EVSE)")
        provider = data.get("provider_id", tariffs.ALL)
        if not isinstance(provider, str):
            raise BadRequest("'provider_id' is a Hubject ProviderID such as DE-8EO, or *")
        try:
            unregistered = await tariffs.assign(api.pool, api.events, tariff_id, evse_ids,
                                                provider)
        except tariffs.TariffError as error:
            if tariff_id is not None and str(error).startswith("no tariff"):
                raise web.HTTPNotFound(reason=f"unknown tariff {tariff_id!r}") from None
            raise BadRequest(str(error)) from None
        return reply({"tariff_id": tariff_id, "provider_id": provider,
                      "evse_ids": sorted(set(evse_ids)) or [tariffs.ALL],
                      "unregistered_evse_ids": unregistered})

    r = api.app.router
    r.add_get(f"{PREFIX}/tariffs", list_tariffs)
    r.add_get(f"{PREFIX}/tariffs/{{id}}", get_tariff)
    r.add_put(f"{PREFIX}/tariffs/{{id}}", put_tariff)
    r.add_delete(f"{PREFIX}/tariffs/{{id}}", delete_tariff)
    r.add_get(f"{PREFIX}/tariff-assignments", list_assignments)
    r.add_put(f"{PREFIX}/tariff-assignments", put_assignment)


def openapi_paths() -> dict[str, Any]:
    """These routes' description (csms/operator/http/openapi.py)."""
    from csms.operator.http.openapi import _ERROR, _json, _list, _path_param, _read
    from csms.operator.http.schemas import ANY_OBJECT, ref

    tariff_id = _path_param("id")
    bad, missing = _json(_ERROR, "Bad request"), _json(_ERROR, "Unknown tariff")
    tariff_body = {"required": True, "content": {"application/json": {"schema": {
        **ANY_OBJECT, "required": ["currency", "elements"],
        "description": "An OCPI 2.2.1 Tariff (country_code, party_id, last_updated are filled "
                       "in for partners): id (the path's if absent), currency, elements with "
                       "price_components (type, price, step_size), optional restrictions"}}}}
    assignment_body = {"required": True, "content": {"application/json": {"schema": {
        "type": "object", "required": ["tariff_id"], "properties": {
            "tariff_id": {"type": "string", "nullable": True,
                          "description": "null: the assignment removed"},
            "evse_ids": {"type": "array", "items": {"type": "string"},
                         "description": "absent or empty: every EVSE"},
            "provider_id": {"type": "string", "default": "*",
                            "description": "a Hubject ProviderID (DE-8EO), or * for every EMP"}}}}}}
    assigned = {"type": "object", "additionalProperties": False,
                "required": ["tariff_id", "provider_id", "evse_ids", "unregistered_evse_ids"],
                "properties": {"tariff_id": {"type": "string", "nullable": True},
                               "provider_id": {"type": "string"},
                               "evse_ids": {"type": "array", "items": {"type": "string"}},
                               "unregistered_evse_ids": {"type": "array",
                                                         "items": {"type": "string"}}}}
    return {
        "/tariffs": {"get": _list("Current tariffs (OCPI's model) with the assignments in force "
                                  "naming them", "Tariff", [])},
        "/tariffs/{id}": {
            "get": _read("One current tariff", ref("Tariff"), [tariff_id]),
            "put": {"summary": "Create or replace a tariff (as `csms tariffs load`): a new "
                               "version when it changed, pushed to roaming partners",
                    "parameters": [tariff_id], "requestBody": tariff_body,
                    "responses": {"200": _json(ref("Tariff"), "Replaced (or unchanged)"),
                                  "201": _json(ref("Tariff"), "Created"), "400": bad,
                                  "401": _json(_ERROR, "No or wrong token")}},
            "delete": {"summary": "Withdraw a tariff (ended sessions keep their price; partners "
                                  "are told); refused while an assignment, a site or a session "
                                  "in progress is priced by it",
                       "parameters": [tariff_id],
                       "responses": {"200": _json({"type": "object", "required": ["id"],
                                                   "properties": {"id": {"type": "string"},
                                                                  "withdrawn": {
                                                                      "type": "boolean"}}},
                                                  "Withdrawn"),
                                     "401": _json(_ERROR, "No or wrong token"), "404": missing,
                                     "409": _json(_ERROR, "In use: the reason says by what")}},
        },
        "/tariff-assignments": {
            "get": _list("Tariff assignments in force: which tariff prices an EVSE ('*': every "
                         "EVSE) for an EMP ('*': every EMP); the most specific wins",
                         "TariffAssignment", []),
            "put": {"summary": "Assign a tariff to EVSEs for every EMP or one (tariff_id null: "
                               "remove the assignment), as `csms tariffs assign|unassign`",
                    "requestBody": assignment_body,
                    "responses": {"200": _json(assigned, "Assigned (unregistered_evse_ids: no "
                                                         "EVSE has them yet; the assignment "
                                                         "waits for them)"),
                                  "400": bad, "401": _json(_ERROR, "No or wrong token"),
                                  "404": missing}},
        },
    }
