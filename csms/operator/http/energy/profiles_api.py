"""Admin API routes for charging profiles: set, clear and list a charger's, its composite schedule."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from csms.domain.energy.smart_charging import ChargingProfile, Purpose, RateUnit, profile_from_dict
from csms.operator.http.paging import page_of, sliced
from csms.storage import store

if TYPE_CHECKING:
    from csms.operator.http.api import AdminApi

# Who set a limit a charger holds (2.0.1 ChargingLimitSourceEnumType; CSO: us).
LIMIT_SOURCES = ("CSO", "EMS", "SO", "Other")


def parsed_profile(raw: dict[str, Any]) -> ChargingProfile:
    """A profile from a request body's JSON form; 400 with the reason when it is none."""
    from csms.operator.http.api import BadRequest
    try:
        return profile_from_dict(raw)
    except (KeyError, TypeError, ValueError) as error:
        raise BadRequest(f"'profile' is not a charging profile: {error}") from None


def _numbers(request: web.Request, name: str) -> list[int] | None:
    from csms.operator.http.api import BadRequest
    raw = request.query.get(name)
    if raw is None:
        return None
    try:
        return [int(item) for item in raw.split(",")]
    except ValueError:
        raise BadRequest(f"query parameter '{name}' is a comma-separated list of integers") \
            from None


def routes(api: AdminApi) -> None:
    from csms.operator.http.api import PREFIX, BadRequest, body, command_reply, field, query_int, reply

    async def set_profile(request: web.Request) -> web.Response:
        """Body {"evse": 0 (the whole charger) or an EVSE, "profile": a profile's JSON form}."""
        data = await body(request)
        evse = field(data, "evse", int, 0)
        profile = parsed_profile(field(data, "profile", dict))
        return command_reply(await api.commands.set_charging_profile(
            request.match_info["cp"], evse, profile))

    async def clear_profiles(request: web.Request) -> web.Response:
        """Body {id, evse, purpose, stack_level}: the profiles matching all given (none: all)."""
        data = await body(request)
        purpose = field(data, "purpose", str, None)
        if purpose is not None and purpose not in Purpose.__members__.values():
            raise BadRequest(f"'purpose' is one of {', '.join(p.value for p in Purpose)}")
        numbers = {name: field(data, name, int, None) for name in ("id", "evse", "stack_level")}
        if any(value is not None and value < 0 for value in numbers.values()):
            raise BadRequest("'id', 'evse' and 'stack_level' must not be negative")
        return command_reply(await api.commands.clear_charging_profile(
            request.match_info["cp"], numbers["id"], numbers["evse"],
            Purpose(purpose) if purpose else None, numbers["stack_level"]))

    async def list_profiles(request: web.Request) -> web.Response:
        """What we sent and the charger answered; source=charger: what the charger holds, as it
        reports it (2.0.1 K09; a 1.6 charger cannot tell: our store answers, reported_by
        csms), by evse, purpose, stack_level, limit_source and id (lists comma-separated)."""
        charge_point_id = request.match_info["cp"]
        page, evse = page_of(request), query_int(request, "evse", None, 0, 1000)
        source = request.query.get("source", "csms")
        if source not in ("csms", "charger"):
            raise BadRequest("'source' is csms (what we sent) or charger (what it holds)")
        if source == "csms":
            if await store.get_charge_point(api.pool, charge_point_id) is None:
                raise web.HTTPNotFound(reason="unknown charge point")
            return reply(sliced(await api.commands.charging_profiles(charge_point_id, evse), page))
        purpose = request.query.get("purpose")
        if purpose is not None and purpose not in Purpose.__members__.values():
            raise BadRequest(f"'purpose' is one of {', '.join(p.value for p in Purpose)}")
        sources = request.query["limit_source"].split(",") if "limit_source" in request.query \
            else None
        if sources and not set(sources) <= set(LIMIT_SOURCES):
            raise BadRequest(f"'limit_source' values are {', '.join(LIMIT_SOURCES)}")
        return command_reply(await api.commands.get_charging_profiles(
            charge_point_id, evse, Purpose(purpose) if purpose else None,
            query_int(request, "stack_level", None, 0, 1000), sources, _numbers(request, "id")))

    async def composite(request: web.Request) -> web.Response:
        """Query evse (0: the whole charger), duration (seconds, default a day), unit A or W."""
        unit = request.query.get("unit")
        if unit is not None and unit not in ("A", "W"):
            raise BadRequest("'unit' is A or W")
        evse = query_int(request, "evse", 0, 0, 1000)
        duration = query_int(request, "duration", 86400, 1, 7 * 86400)
        assert evse is not None and duration is not None
        return command_reply(await api.commands.composite_schedule(
            request.match_info["cp"], evse, duration, RateUnit(unit) if unit else None))

    r = api.app.router
    r.add_get(f"{PREFIX}/charge-points/{{cp}}/charging-profiles", list_profiles)
    r.add_post(f"{PREFIX}/charge-points/{{cp}}/charging-profiles", set_profile)
    r.add_post(f"{PREFIX}/charge-points/{{cp}}/charging-profiles/clear", clear_profiles)
    r.add_get(f"{PREFIX}/charge-points/{{cp}}/composite-schedule", composite)


def openapi_paths(cp: dict[str, Any]) -> dict[str, Any]:
    """These routes' description (csms/operator/http/openapi.py)."""
    from csms.operator.http.openapi import _body, _command, _list, _query
    evse, number = _query("evse", "integer"), {"type": "number"}
    period = {"type": "object", "required": ["start", "limit"], "properties": {
        "start": {"type": "integer"}, "limit": number, "phases": {"type": "integer"}}}
    profile = {"type": "object", "required": ["id", "stack_level", "purpose", "periods"],
               "properties": {
                   "id": {"type": "integer"}, "stack_level": {"type": "integer"},
                   "purpose": {"type": "string", "enum": [p.value for p in Purpose]},
                   "kind": {"type": "string", "enum": ["Absolute", "Recurring", "Relative"]},
                   "unit": {"type": "string", "enum": ["A", "W"]},
                   "periods": {"type": "array", "items": period},
                   "recurrency": {"type": "string", "enum": ["Daily", "Weekly"]},
                   "starts_at": {"type": "string", "format": "date-time"},
                   "duration": {"type": "integer"}, "min_rate": number,
                   "valid_from": {"type": "string", "format": "date-time"},
                   "valid_to": {"type": "string", "format": "date-time"},
                   "transaction_id": {"type": "string"}}}
    return {
        "/charge-points/{cp}/charging-profiles": {
            "get": _list("The charging profiles sent to the charger and what it answered "
                         "(Accepted, Rejected, Pending: no answer came); with source=charger a "
                         "command instead, answered as one: what the charger holds as it reports "
                         "it (detail: status, reported_by charger, or csms for a charger that "
                         "cannot tell, profiles [{evse, source, profile or external}])",
                         "ChargingProfileSent",
                         [cp, evse, _query("source"), _query("purpose"),
                          _query("stack_level", "integer"), _query("limit_source"), _query("id")]),
            "post": _command("Send a charging profile to an EVSE (0: the whole charger)", [cp],
                             _body({"evse": {"type": "integer"}, "profile": profile},
                                   ["profile"])),
        },
        "/charge-points/{cp}/charging-profiles/clear": {"post": _command(
            "Clear the charger's profiles matching every criterion given (none: all); the "
            "charger's Unknown (none such) is rejected", [cp], _body({
                "id": {"type": "integer"}, "evse": {"type": "integer"},
                "purpose": {"type": "string", "enum": [p.value for p in Purpose]},
                "stack_level": {"type": "integer"}}, []))},
        "/charge-points/{cp}/composite-schedule": {"get": _command(
            "What the charger will allow on an EVSE (0: the whole charger) from now, as it "
            "computes it from its profiles; detail.intended: what we intend (the profiles it "
            "accepted from us, the load manager's allowance), detail.mismatch: the periods "
            "where the two differ by more than 0.1 A ({start, end, reported, intended})",
            [cp, evse, _query("duration", "integer"), _query("unit")])},
    }
