"""The admin API's audit trail in one place: which requests are recorded, with what, how they ended."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from csms.operator.http.json_bodies import loads
from csms.operator.http.team.access import READS_THAT_ASK_A_CHARGER, route_key
from csms.security.masking import mask_parameters

# The request's audit row, once started; for a public change (a login) who tried and with what.
AUDIT_ID = web.RequestKey("audit_id", int)
AUDIT_ACTOR = web.RequestKey("audit_actor", tuple)  # (actor, actor_kind, via)
AUDIT_PARAMETERS = web.RequestKey("audit_parameters", dict)
BODY_REFUSED = web.RequestKey("body_refused", web.HTTPException)  # the body could not be read
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_BODY = 64 * 1024  # a larger body is recorded by its size only


def audited(method: str, canonical: str) -> bool:
    """Every change, and every command (a few reads ask a charger); plain reads are not."""
    return (method not in SAFE_METHODS
            or route_key(method, canonical) in READS_THAT_ASK_A_CHARGER)


def resource_of(path: str) -> str:
    """What kind of thing a route is about: its first segment below /api/v1 (charge-points,
    sessions, users, …)."""
    segments = path.removeprefix("/api/v1").strip("/").split("/")
    return segments[0] or "/"


async def request_parameters(request: web.Request) -> dict[str, Any]:
    """The path's parameters, the query and the JSON body, secrets masked."""
    parameters: dict[str, Any] = {}
    if request.match_info:
        parameters["path"] = dict(request.match_info)
    if request.query:
        parameters["query"] = {key: request.query.getall(key) if len(request.query.getall(key)) > 1
                               else value for key, value in request.query.items()}
    if request.can_read_body or request.body_exists:
        try:
            raw = await request.read()  # kept by aiohttp: the handler reads the same bytes
        except web.HTTPException as exc:  # too large: the request is answered so, unserved
            request[BODY_REFUSED] = exc
            raw = b""
            parameters["body"] = f"(refused: {exc.reason})"
        if len(raw) > MAX_BODY:
            parameters["body"] = f"({len(raw)} bytes)"
        elif raw:
            try:
                parameters["body"] = loads(raw)  # NaN: "not JSON" (jsonb takes none)
            except (ValueError, RecursionError):
                parameters["body"] = f"(not JSON, {len(raw)} bytes)"
    return dict(mask_parameters(parameters))


def result_words(response: web.StreamResponse) -> str | None:
    """How it ended in words: a command's outcome, the error's reason, or nothing more."""
    if not isinstance(response, web.Response) or not isinstance(response.body, bytes):
        return None
    if not response.content_type.endswith("json") or len(response.body) > MAX_BODY:
        return None
    try:
        data = json.loads(response.body)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    for key in ("error", "outcome"):
        if isinstance(data.get(key), str):
            return str(data[key])
    if list(data) == ["status"] and isinstance(data["status"], str):  # "logged in", …
        return data["status"]
    return None  # a resource's own status (a charger's, a token's) is no outcome
