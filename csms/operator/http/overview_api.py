"""Read-only admin API routes for the console: the fleet at a glance, a session's cost and roaming."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

import asyncpg
from aiohttp import web

from csms.domain.billing.cost import cost_fields, costing
from csms.domain.billing.pricing import readings, session_pricing
from csms.domain.billing.tariffs import ALL
from csms.domain.model import ENERGY_REGISTER
from csms.operator.roaming_errors import in_words
from csms.storage import cdr_store, store

if TYPE_CHECKING:
    from csms.operator.http.api import AdminApi

POWER = "Power.Active.Import"
# Power older than this is no longer "drawn now": the charger stopped reporting it.
POWER_FRESH_S = 900


def whole_meter(alias: str = "") -> str:
    """A sample of the whole meter: no phase, at the outlet (where a location is said)."""
    a = f"{alias}." if alias else ""
    return f"{a}phase IS NULL AND ({a}location IS NULL OR {a}location = 'Outlet')"


async def fleet(db: asyncpg.Pool | asyncpg.Connection, since: datetime, recent: int = 10
                ) -> dict[str, Any]:
    """The fleet's state now: chargers, EVSEs, sessions, power drawn, energy since `since`,
    recent faults and security events. Read in one snapshot where the caller gives a
    repeatable-read connection."""
    chargers = await db.fetchrow(
        """SELECT count(*) AS total, count(*) FILTER (WHERE connected) AS online,
                  count(*) FILTER (WHERE status = 'faulted' OR EXISTS (
                      SELECT 1 FROM evses e WHERE e.charge_point_id = cp.id
                        AND e.retired_at IS NULL AND e.status = 'faulted')) AS faulted
           FROM charge_points cp""")
    evses = {row["status"]: row["count"] for row in await db.fetch(
        "SELECT status, count(*) FROM evses WHERE retired_at IS NULL GROUP BY status")}
    active = await db.fetchval("SELECT count(*) FROM sessions WHERE status = 'active'")
    # Each active session's latest whole-meter power sample, if recent enough to be "now" (one
    # index probe per session, newest first: not a scan of their samples).
    power = await db.fetchval(
        f"""SELECT coalesce(sum(latest.value), 0) FROM sessions s CROSS JOIN LATERAL (
              SELECT m.value, m.sampled_at FROM meter_samples m
              WHERE m.session_id = s.id AND m.measurand = $1 AND {whole_meter("m")}
              ORDER BY m.sampled_at DESC, m.id DESC LIMIT 1) latest
            WHERE s.status = 'active' AND latest.sampled_at > now() - make_interval(secs => $2)""",
        POWER, POWER_FRESH_S)
    energy = await energy_since(db, since)
    # EVSEs in fault, and chargers as a whole (evse_number 0: OCPP 1.6 connector 0).
    faults = await db.fetch(
        """SELECT * FROM (
             SELECT e.charge_point_id, e.evse_number, e.evse_id, e.status, e.error_code, e.status_at
             FROM evses e WHERE e.retired_at IS NULL
               AND (e.status = 'faulted' OR e.error_code IS NOT NULL)
             UNION ALL
             SELECT id, 0, NULL, status, error_code, last_seen FROM charge_points
             WHERE status = 'faulted' OR error_code IS NOT NULL) f
           ORDER BY status_at DESC NULLS LAST, charge_point_id, evse_number LIMIT $1""", recent)
    security = await store.recent_security_events(db, recent)
    total, online = chargers["total"], chargers["online"]
    return {
        "chargers": {"total": total, "online": online, "offline": total - online,
                     "faulted": chargers["faulted"]},
        "evses": evses,
        "sessions": {"active": active},
        "power_w": float(power),
        "energy_today_wh": energy,
        "since": since,
        "faults": [dict(row) for row in faults],
        "security_events": [{"charge_point_id": row["charge_point_id"],
                             "type": row["payload"].get("type"),
                             "tech_info": row["payload"].get("techInfo")
                             or row["payload"].get("tech_info"),
                             "received_at": row["received_at"]} for row in security],
    }


async def energy_since(db: asyncpg.Pool | asyncpg.Connection, since: datetime) -> float:
    """Energy charged since `since` (Wh), over every session then running or started since: its
    register at the end (or now) less its register at `since` (or its start)."""
    value = await db.fetchval(
        f"""SELECT coalesce(sum(greatest(0, stop_wh - start_wh)), 0) FROM (
              SELECT CASE WHEN s.stopped_at IS NOT NULL THEN s.meter_stop_wh ELSE (
                         SELECT value FROM meter_samples m WHERE m.session_id = s.id
                           AND m.measurand = $2 AND {whole_meter("m")}
                         ORDER BY m.sampled_at DESC, m.id DESC LIMIT 1) END AS stop_wh,
                     CASE WHEN s.started_at >= $1 THEN s.meter_start_wh ELSE coalesce((
                         SELECT value FROM meter_samples m WHERE m.session_id = s.id
                           AND m.measurand = $2 AND m.sampled_at <= $1
                           AND {whole_meter("m")}
                         ORDER BY m.sampled_at DESC, m.id DESC LIMIT 1), s.meter_start_wh) END
                         AS start_wh
              FROM sessions s
              WHERE s.started_at IS NOT NULL AND (s.status = 'active' OR (
                    s.status = 'completed' AND s.stopped_at >= $1
                    -- by the (status, created_at) index: a session begun a week before it ended
                    -- today is not counted (none such charges for a week)
                    AND s.created_at >= $1 - interval '7 days'))) energy
            WHERE stop_wh IS NOT NULL AND start_wh IS NOT NULL""",
        since, ENERGY_REGISTER)
    return float(value)


async def session_details(db: asyncpg.Pool, session: asyncpg.Record) -> dict[str, Any]:
    """What the session page and a charger's page add to a session: power now, cost (so far)
    and tariff, the roaming ids, the CDRs sent and how their delivery stands."""
    session_id = str(session["id"])
    power = await db.fetchrow(
        f"""SELECT value, sampled_at FROM meter_samples WHERE session_id = $1 AND measurand = $2
              AND {whole_meter()} ORDER BY sampled_at DESC, id DESC LIMIT 1""",
        session["id"], POWER)
    attributes = session["attributes"] or {}
    oicp, ocpi = attributes.get("oicp") or {}, attributes.get("ocpi") or {}
    identification = oicp.get("Identification") or {}
    evco = next((value.get("EvcoID") or value.get("UID") for value in identification.values()
                 if isinstance(value, dict)), None)
    token: dict[str, Any] = ocpi["token"] if isinstance(ocpi.get("token"), dict) else {}
    # Every CDR kept for it (credits and corrected ones too), with its message's delivery.
    cdrs = [{"id": row["id"], "message_id": row["outbox_id"], "protocol": row["protocol"],
             "partner": row["partner"], "credit": row["credit"],
             "credit_reference_id": row["credit_reference_id"], "reissue_of": row["reissue_of"],
             "total_cost": row["body"].get("total_cost") if row["protocol"] == "ocpi" else None,
             "currency": row["body"].get("currency") if row["protocol"] == "ocpi" else None,
             "status": row["status"], "attempts": row["attempts"],
             "last_error": row["last_error"], "created_at": row["created_at"],
             "delivered_at": row["delivered_at"]}
            for row in await cdr_store.of_session(db, session_id)]
    return {
        "session_id": session_id,
        "power_w": power["value"] if power is not None and session["status"] == "active" else None,
        "power_at": power["sampled_at"] if power is not None else None,
        "cost": await _cost(db, session),
        "roaming": {
            "oicp": {"session_id": oicp.get("SessionID"), "evco_id": evco,
                     "provider_id": oicp.get("ProviderID"),
                     "partner_session_id": oicp.get("EMPPartnerSessionID")} if oicp else None,
            "ocpi": {"token_uid": token.get("uid"), "contract_id": token.get("contract_id"),
                     "party": "*".join(p for p in (token.get("country_code"),
                                                   token.get("party_id")) if p) or None,
                     "partner": ocpi.get("partner")} if ocpi else None,
        },
        "cdrs": cdrs,
    }


async def _cost(db: asyncpg.Pool, session: asyncpg.Record) -> dict[str, Any] | None:
    """The cost a CDR stated (roaming), else the cost by the EVSE's tariff up to now or the end;
    None: no tariff applies, so no price is known (not 'free')."""
    [recorded] = await store.session_costs(db, str(session["id"]), 1) or [None]
    if recorded is not None:
        return {"final": True, "currency": recorded["currency"],
                "tariff_id": recorded["tariff_id"], "product_id": recorded["product_id"],
                "source": f"{recorded['protocol']} CDR", **recorded["costing"]}
    started = session["started_at"]
    if started is None:
        return None
    pricing = await session_pricing(db, session["charge_point_id"], session["evse_id"], started,
                                    "", ALL)
    if pricing.tariff is None:
        return None
    final = session["stopped_at"] is not None
    until = session["stopped_at"] or datetime.now(UTC)
    if until <= started:
        return None
    cost = costing(pricing.tariff, pricing.currency, started, until,
                   await readings(db, str(session["id"]), started, session["meter_start_wh"],
                                  until, session["meter_stop_wh"] if final else None),
                   pricing.time_zone)
    return {"final": final, "currency": pricing.currency, "tariff_id": pricing.tariff.get("id"),
            "source": "tariff", **cost_fields(cost)}


def _today() -> datetime:
    return datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def routes(api: AdminApi) -> None:
    from csms.ocpp.translations.meter import format_timestamp
    from csms.operator.http.api import PREFIX, reply

    def plain(value: Any) -> Any:
        if isinstance(value, datetime):
            return format_timestamp(value)
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, list):
            return [plain(v) for v in value]
        return value

    async def overview(request: web.Request) -> web.Response:
        """The fleet at a glance (energy since midnight UTC)."""
        async with api.pool.acquire() as conn, conn.transaction(isolation="repeatable_read",
                                                                readonly=True):
            return reply(plain(await fleet(conn, _today())))

    async def details(request: web.Request) -> web.Response:
        try:
            session_id = str(UUID(request.match_info["id"]))
        except ValueError:
            raise web.HTTPNotFound(reason="unknown session") from None
        row = await store.get_session(api.pool, session_id)
        if row is None:
            raise web.HTTPNotFound(reason="unknown session")
        data = await session_details(api.pool, row)
        data["cdrs"] = [{**cdr, "error_words": in_words(cdr["last_error"], cdr["partner"])}
                        for cdr in data["cdrs"]]
        return reply(plain(data))

    r = api.app.router
    r.add_get(f"{PREFIX}/overview", overview)
    r.add_get(f"{PREFIX}/sessions/{{id}}/details", details)


def openapi_paths() -> dict[str, Any]:
    """These routes' description (csms/operator/http/openapi.py)."""
    from csms.operator.http.openapi import _OBJECT, _path_param, _read
    count = {"type": "integer"}
    at = {"type": "string", "format": "date-time"}
    overview = {"type": "object", "properties": {
        "chargers": {"type": "object", "properties": {
            "total": count, "online": count, "offline": count, "faulted": count}},
        "evses": {"type": "object", "additionalProperties": count,
                  "description": "EVSEs by status"},
        "sessions": {"type": "object", "properties": {"active": count}},
        "power_w": {"type": "number", "description": "drawn now by the active sessions"},
        "energy_today_wh": {"type": "number", "description": "charged since `since`"},
        "since": at,
        "faults": {"type": "array", "items": _OBJECT},
        "security_events": {"type": "array", "items": _OBJECT}}}
    details = {"type": "object", "properties": {
        "session_id": {"type": "string", "format": "uuid"},
        "power_w": {"type": "number", "nullable": True}, "power_at": {**at, "nullable": True},
        "cost": {**_OBJECT, "nullable": True,
                 "description": "total_cost {excl_vat, incl_vat}, currency, tariff_id, final; "
                                "null: no tariff applies"},
        "roaming": _OBJECT,
        "cdrs": {"type": "array", "items": _OBJECT}}}
    return {
        "/overview": {"get": _read("The fleet at a glance: chargers online/offline/faulted, "
                                   "EVSEs by status, active sessions, power drawn now, energy "
                                   "since midnight (UTC), recent faults and security events",
                                   overview, [])},
        "/sessions/{id}/details": {"get": _read(
            "A session's power now, its cost (so far) and tariff, its roaming ids and the CDRs "
            "sent with their delivery state", details, [_path_param("id")])},
    }
