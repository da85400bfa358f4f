"""Admin API routes for the CDRs we sent: list them, credit one and send its session's corrected CDR."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import asyncpg
from aiohttp import web

from csms.config import Settings
from csms.domain.billing.cdr_corrections import CorrectionRefused, UnknownCdr
from csms.operator.roaming import CdrCorrector
from csms.storage import cdr_store

if TYPE_CHECKING:
    from csms.operator.http.api import AdminApi

PROTOCOLS = ("ocpi", "oicp")


def shown(row: asyncpg.Record) -> dict[str, Any]:
    """A kept CDR as the API, CLI and console show it: its facts, its delivery, its body."""
    from csms.operator.http.api import _plain

    body = row["body"]
    return {"id": row["id"], "protocol": row["protocol"], "partner": row["partner"],
            "session_id": row["session_id"], "credit": row["credit"],
            "credit_reference_id": row["credit_reference_id"], "reissue_of": row["reissue_of"],
            # OCPI states a cost; an OICP CDR none (Hubject's EMP prices by the product).
            "total_cost": body.get("total_cost") if row["protocol"] == "ocpi" else None,
            "currency": body.get("currency") if row["protocol"] == "ocpi" else None,
            "created_at": _plain(row["created_at"]),
            "delivery": row.get("status"), "delivered_at": _plain(row.get("delivered_at")),
            "body": body}


def routes(api: AdminApi, settings: Settings, correct: CdrCorrector) -> None:
    from csms.operator.http.api import PREFIX, BadRequest, body, reply
    from csms.operator.http.paging import answer, page_of

    async def list_cdrs(request: web.Request) -> web.Response:
        page = page_of(request)
        protocol = request.query.get("protocol")
        if protocol is not None and protocol not in PROTOCOLS:
            raise BadRequest(f"'protocol' is ocpi or oicp, not {protocol!r}")
        session_id = request.query.get("session_id")
        if session_id is not None and not 0 < len(session_id) <= 64:
            raise BadRequest("'session_id' is a session's id")
        rows, total = await cdr_store.page(api.pool, session_id, protocol, page.limit,
                                           page.offset)
        return reply(answer([shown(row) for row in rows], total, page))

    async def get_cdr(request: web.Request) -> web.Response:
        row = await cdr_store.one(api.pool, request.match_info["id"])
        if row is None:
            raise web.HTTPNotFound(reason=f"unknown CDR {request.match_info['id']!r}")
        return reply(shown(row))

    async def credit_cdr(request: web.Request) -> web.Response:
        """Body (optional) {"reissue": true}: the session's CDR sent again, corrected."""
        data = await body(request)
        unknown = set(data) - {"reissue"}
        if unknown:
            raise BadRequest(f"unknown field {sorted(unknown)[0]!r}: the body may hold 'reissue'")
        reissue = data.get("reissue", False)
        if not isinstance(reissue, bool):
            raise BadRequest("'reissue' is true or false")
        try:
            made = await correct(api.pool, settings, request.match_info["id"], reissue)
        except UnknownCdr as error:
            raise web.HTTPNotFound(reason=str(error)) from None
        except CorrectionRefused as error:
            raise web.HTTPConflict(reason=str(error)) from None
        shown_rows = [shown(row) for row in made]
        return reply({"credit": shown_rows[0],
                      "reissue": shown_rows[1] if len(shown_rows) > 1 else None}, 201)

    r = api.app.router
    r.add_get(f"{PREFIX}/cdrs", list_cdrs)
    r.add_get(f"{PREFIX}/cdrs/{{id}}", get_cdr)
    r.add_post(f"{PREFIX}/cdrs/{{id}}/credit", credit_cdr)


def openapi_paths() -> dict[str, Any]:
    """These routes' description (csms/operator/http/openapi.py)."""
    from csms.operator.http.openapi import _ERROR, _json, _list, _path_param, _query, _read
    from csms.operator.http.schemas import ref

    cdr_id = _path_param("id")
    credit_body = {"required": False, "content": {"application/json": {"schema": {
        "type": "object", "additionalProperties": False, "properties": {
            "reissue": {"type": "boolean", "default": False,
                        "description": "also send the session's CDR again, costed afresh, "
                                       "under a new id"}}}}}}
    corrected = {"type": "object", "additionalProperties": False,
                 "required": ["credit", "reissue"],
                 "properties": {"credit": ref("Cdr"),
                                "reissue": {**ref("Cdr"), "nullable": True}}}
    return {
        "/cdrs": {"get": _list("The CDRs we sent (OCPI and OICP), credits and corrected ones "
                               "included, newest first",
                               "Cdr", [_query("session_id"),
                                       _query("protocol", values=list(PROTOCOLS))])},
        "/cdrs/{id}": {"get": _read("One CDR we sent", ref("Cdr"), [cdr_id])},
        "/cdrs/{id}/credit": {"post": {
            "summary": "Credit an OCPI CDR (a credit CDR: its costs negated, credit_reference_id "
                       "its id) and optionally send the session's corrected CDR; both through "
                       "the outbox to the partner the CDR went to. OICP has none: 409",
            "parameters": [cdr_id], "requestBody": credit_body,
            "responses": {"201": _json(corrected, "Queued: the credit CDR and the corrected one"),
                          "400": _json(_ERROR, "Bad request"),
                          "401": _json(_ERROR, "No or wrong token"),
                          "403": _json(_ERROR, "The role does not allow it"),
                          "404": _json(_ERROR, "Unknown CDR"),
                          "409": _json(_ERROR, "Refused: an OICP CDR, a credit CDR, one "
                                               "credited already, its partner gone")}}},
    }
