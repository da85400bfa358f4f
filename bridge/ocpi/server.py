"""What OCPI partners call: versions, credentials and our sender modules, served by aiohttp."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg
import structlog
from aiohttp import web

from bridge.ocpi import credentials, partners
from bridge.ocpi.credentials import CredentialsError, Registrar
from bridge.ocpi.locations import EvseFacts, evse_uid, location_object
from bridge.ocpi.partners import Partner
from bridge.ocpi.transport import (
    CLIENT_ERROR,
    INVALID_PARAMETERS,
    SERVER_ERROR,
    UNKNOWN_LOCATION,
    VERSION,
    envelope,
    next_link,
    read_page,
    tokens_in_header,
)
from csms.config import OcpiSettings
from csms.sites import parse_site

log = structlog.get_logger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PREFIX = f"/ocpi/{VERSION}"
MAX_PAGE = 50
# A Token A opens only these doors: enough to register.
PARTNER = web.RequestKey("partner", Partner)
TOKEN_A = web.RequestKey("token_a", bool)
_TOKEN_A_PATHS = {("GET", "/ocpi/versions"), ("GET", PREFIX), ("POST", f"{PREFIX}/credentials")}


class OcpiProblem(Exception):
    def __init__(self, http_status: int, status_code: int, message: str) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.status_code = status_code


def reply(data: Any = None, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(envelope(data), headers=headers)


class OcpiServer:
    def __init__(self, settings: OcpiSettings, pool: asyncpg.Pool, registrar: Registrar) -> None:
        self.settings = settings
        self.pool = pool
        self.registrar = registrar
        self.app = web.Application(middlewares=[self._errors, self._authenticate],
                                   client_max_size=1024 * 1024)
        r = self.app.router
        r.add_get("/ocpi/versions", self.versions)
        r.add_get(PREFIX, self.version_details)
        r.add_route("*", f"{PREFIX}/credentials", self.credentials)
        r.add_get(f"{PREFIX}/locations", self.list_locations)
        r.add_get(f"{PREFIX}/locations/{{location}}", self.get_location)
        r.add_get(f"{PREFIX}/locations/{{location}}/{{evse}}", self.get_location)
        r.add_get(f"{PREFIX}/locations/{{location}}/{{evse}}/{{connector}}", self.get_location)
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.settings.listen_host, self.settings.listen_port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        log.info("ocpi listening", port=self.port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # --- middleware -----------------------------------------------------------------------

    @web.middleware
    async def _errors(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        correlation = request.headers.get("X-Correlation-ID") or request.headers.get("X-Request-ID")
        try:
            response = await handler(request)
        except OcpiProblem as problem:
            response = web.json_response(envelope(None, problem.status_code, str(problem)),
                                         status=problem.http_status)
        except CredentialsError as error:
            response = web.json_response(envelope(None, error.status_code, str(error)))
        except web.HTTPException as exc:
            if exc.status >= 400:
                response = web.json_response(envelope(None, CLIENT_ERROR, exc.reason),
                                             status=exc.status)
            else:
                raise
        except Exception:
            log.exception("ocpi request failed", path=request.path)
            response = web.json_response(envelope(None, SERVER_ERROR, "internal error"), status=500)
        if correlation:
            response.headers["X-Correlation-ID"] = correlation
        response.headers["X-Request-ID"] = request.headers.get("X-Request-ID", "")
        return response

    @web.middleware
    async def _authenticate(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        found = await partners.by_token(self.pool, tokens_in_header(request.headers.get("Authorization")))
        if found is None:
            log.warning("ocpi request refused: unknown token", path=request.path)
            raise OcpiProblem(401, CLIENT_ERROR, "missing or unknown credentials token")
        partner, token_a = found
        if token_a and (request.method, request.path.rstrip("/")) not in _TOKEN_A_PATHS:
            raise OcpiProblem(401, CLIENT_ERROR, "Token A only serves registration")
        request[PARTNER], request[TOKEN_A] = partner, token_a
        return await handler(request)

    # --- versions and credentials -------------------------------------------------------

    async def versions(self, request: web.Request) -> web.Response:
        return reply(credentials.versions(self.settings))

    async def version_details(self, request: web.Request) -> web.Response:
        return reply(credentials.version_details(self.settings))

    async def _json(self, request: web.Request) -> Any:
        try:
            return await request.json()
        except ValueError:
            raise OcpiProblem(400, INVALID_PARAMETERS, "body is not JSON") from None

    async def credentials(self, request: web.Request) -> web.Response:
        partner = request[PARTNER]
        registered = partner.status == "registered" and not request[TOKEN_A]
        if request.method == "GET":
            return reply(credentials.our_credentials(self.settings, "(the token you hold)"))
        if request.method == "POST":
            if not request[TOKEN_A]:
                raise OcpiProblem(405, CLIENT_ERROR, "already registered: use PUT to update")
            answer = await self.registrar.accept(partner, await self._json(request), rotating=False)
        elif request.method == "PUT":
            if not registered:
                raise OcpiProblem(405, CLIENT_ERROR, "not registered: POST first")
            answer = await self.registrar.accept(partner, await self._json(request), rotating=True)
        elif request.method == "DELETE":
            if not registered:
                raise OcpiProblem(405, CLIENT_ERROR, "not registered")
            await partners.unregister(self.pool, partner.id)
            log.info("ocpi partner unregistered", partner=partner.id)
            return reply()
        else:
            raise OcpiProblem(405, CLIENT_ERROR, f"{request.method} is not allowed here")
        return reply(answer)

    # --- locations (sender) ---------------------------------------------------------------

    async def list_locations(self, request: web.Request) -> web.Response:
        try:
            page = read_page(dict(request.query), MAX_PAGE)
        except ValueError as exc:
            raise OcpiProblem(400, INVALID_PARAMETERS, str(exc)) from None
        date_to = page.date_to or datetime.now(UTC)
        rows, total = await location_rows(self.pool, page.date_from, date_to, page.after,
                                          page.offset, page.limit)
        evses = await evse_facts(self.pool, [row["id"] for row in rows])
        data = [self._location(row, evses.get(row["id"], [])) for row in rows]
        headers = {"X-Total-Count": str(total), "X-Limit": str(MAX_PAGE)}
        last = (rows[-1]["last_updated"], rows[-1]["id"]) if rows else None
        link = next_link(str(request.url.with_query(None)), page, total, date_to, last)
        if link:
            headers["Link"] = link
        return reply(data, headers)

    def _location(self, row: asyncpg.Record, evses: list[EvseFacts]) -> dict[str, Any]:
        return build_location(self.settings, row, evses)

    async def get_location(self, request: web.Request) -> web.Response:
        location_id = request.match_info["location"]
        rows, _ = await location_rows(self.pool, None, None, None, 0, 1, location_id)
        if not rows:
            raise OcpiProblem(404, UNKNOWN_LOCATION, f"unknown location {location_id}")
        evses = (await evse_facts(self.pool, [location_id])).get(location_id, [])
        location = self._location(rows[0], evses)
        if "evse" not in request.match_info:
            return reply(location)
        evse = next((e for e in location["evses"] if e["uid"] == request.match_info["evse"]), None)
        if evse is None:
            raise OcpiProblem(404, UNKNOWN_LOCATION, "unknown EVSE")
        if "connector" not in request.match_info:
            return reply(evse)
        connector = next((c for c in evse["connectors"]
                          if c["id"] == request.match_info["connector"]), None)
        if connector is None:
            raise OcpiProblem(404, UNKNOWN_LOCATION, "unknown connector")
        return reply(connector)


def build_location(settings: OcpiSettings, row: asyncpg.Record,
                   evses: list[EvseFacts]) -> dict[str, Any]:
    return location_object(parse_site(row["data"]), evses, settings.country_code,
                           settings.party_id, settings.business_name, row["last_updated"])


async def location_rows(db: asyncpg.Pool | asyncpg.Connection, date_from: datetime | None,
                        date_to: datetime | None, after: tuple[datetime, str] | None, offset: int,
                        limit: int, location_id: str | None = None
                        ) -> tuple[list[asyncpg.Record], int]:
    """Sites as locations, ordered by (last_updated, id); with the total that match the filters."""
    query = """
        WITH locations AS (
            SELECT s.id, s.data, GREATEST(s.updated_at, MAX(e.updated_at)) AS last_updated
            FROM sites s LEFT JOIN charge_points c ON c.site_id = s.id
            LEFT JOIN evses e ON e.charge_point_id = c.id AND e.evse_id IS NOT NULL
            WHERE ($3::text IS NULL OR s.id = $3)
            GROUP BY s.id)
        SELECT * FROM locations
        WHERE ($1::timestamptz IS NULL OR last_updated >= $1)
          AND ($2::timestamptz IS NULL OR last_updated < $2)
        ORDER BY last_updated, id"""
    rows = await db.fetch(query, date_from, date_to, location_id)
    total = len(rows)
    if after is not None:  # keyset: robust against rows changing between pages
        rows = [r for r in rows if (r["last_updated"], r["id"]) > after]
    else:
        rows = rows[offset:]
    return rows[:limit], total


async def evse_facts(db: asyncpg.Pool | asyncpg.Connection,
                     site_ids: list[str]) -> dict[str, list[EvseFacts]]:
    rows = await db.fetch(
        """SELECT c.site_id, e.charge_point_id, e.evse_number, e.evse_id, e.status,
                  e.retired_at IS NOT NULL AS retired, e.updated_at
           FROM evses e JOIN charge_points c ON c.id = e.charge_point_id
           WHERE c.site_id = ANY($1::text[]) AND e.evse_id IS NOT NULL
           ORDER BY e.charge_point_id, e.evse_number""",
        site_ids,
    )
    result: dict[str, list[EvseFacts]] = {}
    for row in rows:
        result.setdefault(row["site_id"], []).append(EvseFacts(
            evse_uid(row["charge_point_id"], row["evse_number"]), row["evse_id"], row["status"],
            row["retired"], row["updated_at"]))
    return result

