"""What OCPI partners call: versions, credentials and our sender modules, served by aiohttp."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import asyncpg
import structlog
from aiohttp import web

from bridge.ocpi import hub_client_info, token_store, tokens
from bridge.ocpi.control.charging_profiles import OcpiChargingProfiles
from bridge.ocpi.control.commands import CommandError, OcpiCommands
from bridge.ocpi.handshake import credentials, partners
from bridge.ocpi.handshake.credentials import Registrar
from bridge.ocpi.handshake.objects import CredentialsError
from bridge.ocpi.handshake.partners import Partner
from bridge.ocpi.publishing.locations import EvseFacts, evse_uid
from bridge.ocpi.publishing.places import priced_place
from bridge.ocpi.transport import (
    CLIENT_ERROR,
    INVALID_PARAMETERS,
    SERVER_ERROR,
    UNKNOWN_LOCATION,
    UNKNOWN_TOKEN,
    envelope,
    next_link,
    read_page,
    routing_headers,
    routing_of,
    timestamp,
    tokens_in_header,
)
from bridge.ocpi.versions import dialects
from bridge.ocpi.versions.dialects import V221, Dialect
from csms.config import OcpiSettings
from csms.domain.billing import tariffs
from csms.domain.billing.pricing import readings
from csms.domain.commands import CommandService
from csms.domain.sites import parse_site
from csms.operator.http.json_bodies import BadJson, json_body
from csms.storage import cdr_store, store

log = structlog.get_logger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PREFIX = V221.prefix()  # 2.2.1's modules; 2.1.1's are below /ocpi/2.1.1
MAX_PAGE = 50
PARTNER = web.RequestKey("partner", Partner)
TOKEN_A = web.RequestKey("token_a", bool)
HELD = web.RequestKey("held", str)  # the token the caller presented
ANSWER_ROUTING = web.RequestKey("answer_routing", dict)  # routing headers of our answer
# Configuration modules: never routed (transport_and_format Message Routing Headers).
_UNROUTED = ("credentials", "hubclientinfo")
DIALECT = web.RequestKey("dialect", Dialect)  # the version of the path called
# A Token A opens only these doors: enough to register, in any version we speak.
_TOKEN_A_PATHS = {("GET", "/ocpi/versions")} | {
    door for d in dialects.DIALECTS
    for door in (("GET", d.prefix()), ("POST", f"{d.prefix()}/credentials"))}


class OcpiProblem(Exception):
    def __init__(self, http_status: int, status_code: int, message: str) -> None:
        super().__init__(message)
        self.http_status = http_status
        self.status_code = status_code


def reply(data: Any = None, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(envelope(data), headers=headers)


class OcpiServer:
    def __init__(self, settings: OcpiSettings, pool: asyncpg.Pool, registrar: Registrar,
                 commands: CommandService) -> None:
        self.settings = settings
        self.pool = pool
        self.registrar = registrar
        self.commands = OcpiCommands(settings, pool, commands)
        self.profiles = OcpiChargingProfiles(settings, pool, commands)
        self.app = web.Application(middlewares=[self._errors, self._authenticate, self._route],
                                   client_max_size=1024 * 1024)
        r = self.app.router
        r.add_get("/ocpi/versions", self.versions)
        for dialect in dialects.DIALECTS:
            self._routes(r, dialect)
        self._runner: web.AppRunner | None = None
        self.port = 0

    def _routes(self, r: web.UrlDispatcher, dialect: Dialect) -> None:
        """One version's modules below its prefix (/ocpi/2.2.1, /ocpi/2.1.1)."""
        prefix = dialect.prefix()
        served = {identifier for identifier, _ in dialect.modules}
        r.add_get(prefix, self.version_details)
        r.add_route("*", f"{prefix}/credentials", self.credentials)
        r.add_get(f"{prefix}/locations", self.list_locations)
        r.add_get(f"{prefix}/locations/{{location}}", self.get_location)
        r.add_get(f"{prefix}/locations/{{location}}/{{evse}}", self.get_location)
        r.add_get(f"{prefix}/locations/{{location}}/{{evse}}/{{connector}}", self.get_location)
        r.add_get(f"{prefix}/tariffs", self.list_tariffs)
        r.add_get(f"{prefix}/cdrs", self.list_cdrs)
        r.add_get(f"{prefix}/sessions", self.list_sessions)
        token = f"{prefix}/tokens/{{country_code}}/{{party_id}}/{{uid}}"
        r.add_get(token, self.get_token)
        r.add_put(token, self.put_token)
        r.add_patch(token, self.patch_token)
        r.add_post(f"{prefix}/commands/{{command}}", self.command)
        if "chargingprofiles" in served:
            profile = f"{prefix}/chargingprofiles/{{session_id}}"
            r.add_put(profile, self.put_profile)
            r.add_get(profile, self.get_profile)
            r.add_delete(profile, self.delete_profile)
        if "hubclientinfo" in served:
            client_info = f"{prefix}/hubclientinfo/{{country_code}}/{{party_id}}"
            r.add_get(client_info, self.get_client_info)
            r.add_put(client_info, self.put_client_info)

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.settings.listen_host, self.settings.listen_port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        log.info("ocpi listening", port=self.port)
        self.profiles.start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        await self.commands.finish()  # their CommandResults still go into the outbox
        await self.profiles.finish()

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
            response = web.json_response(envelope(None, error.status_code, str(error)),
                                         status=error.http_status)
        except CommandError as error:
            response = web.json_response(envelope(None, INVALID_PARAMETERS, str(error)), status=400)
        except asyncpg.DataError as error:
            # Text PostgreSQL cannot take (NUL, a lone surrogate: both valid JSON), a number out of
            # range: the partner's data is at fault, and its transaction was rolled back.
            response = web.json_response(
                envelope(None, INVALID_PARAMETERS, f"a value cannot be stored: {error}"), status=400)
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
        response.headers.update(request.get(ANSWER_ROUTING) or {})
        response.headers["X-Request-ID"] = request.headers.get("X-Request-ID", "")
        return response

    @web.middleware
    async def _authenticate(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        found = await partners.by_token(self.pool, tokens_in_header(request.headers.get("Authorization")))
        if found is None:
            log.warning("ocpi request refused: unknown token", path=request.path)
            raise OcpiProblem(401, CLIENT_ERROR, "missing or unknown credentials token")
        partner, token_a, held = found
        path = request.path.rstrip("/")
        if token_a and (request.method, path) not in _TOKEN_A_PATHS:
            raise OcpiProblem(401, CLIENT_ERROR, "Token A only serves registration")
        dialect = _dialect_of(path)
        # A partner reaches the modules of the version it registered with; the credentials and
        # version details of each (a PUT on another version's credentials switches to it).
        if not token_a and partner.version and dialect.version != partner.version \
                and path not in (dialect.prefix(), f"{dialect.prefix()}/credentials"):
            raise OcpiProblem(404, CLIENT_ERROR,
                              f"you registered with OCPI {partner.version}, not {dialect.version}")
        request[PARTNER], request[TOKEN_A], request[HELD] = partner, token_a, held
        request[DIALECT] = dialect
        return await handler(request)

    @web.middleware
    async def _route(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """The routing headers of a request to a functional module (OCPI 2.2.1
        transport_and_format Message Routing): the to- party must be us; the from- party one the
        partner fronts (a hub: its own or a client bound to it), and a hub must name it. Our
        answer goes back from us to that party."""
        prefix = request[DIALECT].prefix() + "/"
        module = request.path.removeprefix(prefix).split("/")[0]
        # 2.1.1 has no routing headers; below /ocpi/versions and a version's details, none.
        if not request[DIALECT].routing_headers or not request.path.startswith(prefix) \
                or module in _UNROUTED:
            return await handler(request)
        partner = request[PARTNER]
        ours = (self.settings.country_code.upper(), self.settings.party_id.upper())
        try:
            sender, receiver = routing_of(request.headers, "from"), routing_of(request.headers, "to")
        except ValueError as exc:
            raise OcpiProblem(400, INVALID_PARAMETERS, str(exc)) from None
        request[ANSWER_ROUTING] = routing_headers(ours, sender or partner.own_party())
        if receiver is not None and receiver != ours:
            raise OcpiProblem(400, INVALID_PARAMETERS,
                              f"OCPI-to- names {receiver[0]}*{receiver[1]}: not us")
        if sender is None and partner.is_hub:
            raise OcpiProblem(400, INVALID_PARAMETERS,
                              "through a hub, OCPI-from- headers name the requesting party")
        if sender is not None:
            if not partner.fronts(*sender):
                log.warning("ocpi request refused: from a party not the partner's",
                            partner=partner.id, party=f"{sender[0]}*{sender[1]}")
                raise OcpiProblem(400, INVALID_PARAMETERS,
                                  f"{sender[0]}*{sender[1]} is not a party of yours")
            request[PARTNER] = replace(partner, caller=hub_client_info.addressee(*sender))
        return await handler(request)

    # --- versions and credentials -------------------------------------------------------

    async def versions(self, request: web.Request) -> web.Response:
        return reply(credentials.versions(self.settings))

    async def version_details(self, request: web.Request) -> web.Response:
        return reply(credentials.version_details(self.settings, request[DIALECT]))

    async def _json(self, request: web.Request) -> Any:
        try:
            return await json_body(request)
        except BadJson as exc:
            raise OcpiProblem(400, INVALID_PARAMETERS, str(exc)) from None

    async def credentials(self, request: web.Request) -> web.Response:
        partner = request[PARTNER]
        registered = partner.status == "registered" and not request[TOKEN_A]
        if request.method == "GET":
            return reply(credentials.our_credentials(self.settings, request[HELD],
                                                     request[DIALECT]))
        if request.method == "POST":
            if not request[TOKEN_A]:
                raise OcpiProblem(405, CLIENT_ERROR, "already registered: use PUT to update")
            if not await partners.spend_token_a_try(self.pool, partner.id):
                raise OcpiProblem(401, CLIENT_ERROR, "missing or unknown credentials token")
            answer = await self.registrar.accept(partner, await self._json(request),
                                                 rotating=False, dialect=request[DIALECT])
        elif request.method == "PUT":
            if not registered:
                raise OcpiProblem(405, CLIENT_ERROR, "not registered: POST first")
            answer = await self.registrar.accept(partner, await self._json(request),
                                                 rotating=True, dialect=request[DIALECT])
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
        rows = await location_rows(self.pool)

        async def build(chosen: list[asyncpg.Record]) -> list[dict[str, Any]]:
            evses = await evse_facts(self.pool, [row["id"] for row in chosen])
            return [build_location(self.settings, row, evses.get(row["id"], []),
                                   request[DIALECT]) for row in chosen]
        return await _paged(request, [(r["last_updated"], r["id"], r) for r in rows], build)

    async def get_location(self, request: web.Request) -> web.Response:
        location_id = request.match_info["location"]
        rows = await location_rows(self.pool, location_id)
        if not rows:
            raise OcpiProblem(404, UNKNOWN_LOCATION, f"unknown location {location_id}")
        evses = (await evse_facts(self.pool, [location_id])).get(location_id, [])
        location = build_location(self.settings, rows[0], evses, request[DIALECT])
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


    # --- tariffs and CDRs (sender) ---------------------------------------------------------

    async def list_tariffs(self, request: web.Request) -> web.Response:
        # Built before paging (tariffs are few): one the partner's version cannot say is left out
        # of X-Total-Count too, not only of its page.
        forms = request[DIALECT].forms
        built = [(row["valid_from"], row["id"], tariff) for row in await store.current_tariffs(self.pool)
                 if (tariff := forms.tariff(self.settings, row["data"], row["valid_from"]))]

        async def build(chosen: list[dict[str, Any]]) -> list[dict[str, Any]]:
            return chosen
        return await _paged(request, built, build)

    async def list_sessions(self, request: web.Request) -> web.Response:
        """The caller's sessions, as their last PATCH left them."""
        rows = await store.sessions_of_partner(self.pool, "ocpi", request[PARTNER].id)
        party = request[PARTNER].asking()
        if party is not None:  # through a hub: only that party's
            rows = [r for r in rows if hub_client_info.token_party(r["attributes"]["ocpi"]) == party]

        async def build(chosen: list[asyncpg.Record]) -> list[dict[str, Any]]:
            built = [await self.session(row, request[DIALECT]) for row in chosen]
            return [session for session in built if session is not None]
        return await _paged(request, [(r["updated_at"], str(r["id"]), r) for r in rows], build)

    async def session(self, row: asyncpg.Record, dialect: Dialect) -> dict[str, Any] | None:
        """A session as the dialect's Session object, from its row (store.get_session,
        sessions_of_partner); None: the dialect cannot say it."""
        priced = await priced_place(self.pool, row["charge_point_id"], row["evse_number"],
                                    row["evse_id"], row["started_at"], self.settings.currency)
        # An active session's energy so far: every sample taken until now.
        until = row["stopped_at"] or datetime.now(UTC)
        found = await readings(self.pool, str(row["id"]), row["started_at"], row["meter_start_wh"],
                               until, row["meter_stop_wh"])
        kwh = max(0.0, found[-1].energy_wh - found[0].energy_wh) / 1000
        last_sample = found[-2].at if row["stopped_at"] is None else until
        return dialect.forms.session(
            self.settings, str(row["id"]), row["attributes"]["ocpi"], priced, row["started_at"],
            kwh, row["status"], max(row["updated_at"], last_sample), row["stopped_at"])

    async def list_cdrs(self, request: web.Request) -> web.Response:
        """The caller's CDRs, credits and corrected ones included: each the body we queued."""
        rows = await cdr_store.of_partner(self.pool, request[PARTNER].outbox_name)
        party = request[PARTNER].asking()
        if party is not None:  # through a hub: only that party's
            rows = [r for r in rows if hub_client_info.token_party(
                {"token": r["body"].get("cdr_token")}) == party]

        async def build(chosen: list[dict[str, Any]]) -> list[dict[str, Any]]:
            return chosen
        return await _paged(request, [(r["created_at"], r["id"], r["body"]) for r in rows], build)

    # --- tokens (receiver) -----------------------------------------------------------------

    def _own_party(self, request: web.Request) -> tuple[str, str, str]:
        """The token's country code, party and uid: a party the caller is bound to."""
        cc, pid, uid = (request.match_info[k] for k in ("country_code", "party_id", "uid"))
        if not request[PARTNER].acts_for(cc, pid) or credentials.our_party(self.settings).covers(
                {"country_code": cc, "party_id": pid}):
            raise OcpiProblem(400, INVALID_PARAMETERS, f"{cc}*{pid} is not a party of yours")
        if self._broadcast_by_hub(request):
            return cc, pid, uid  # the URL keeps the original client's party (Broadcast Push)
        for header, value in (("OCPI-from-country-code", cc), ("OCPI-from-party-id", pid)):
            if request.headers.get(header, value) != value:
                raise OcpiProblem(400, INVALID_PARAMETERS, f"{header} does not match the URL")
        return cc, pid, uid

    @staticmethod
    def _broadcast_by_hub(request: web.Request) -> bool:
        """A hub passing on a client's broadcast push: from the hub itself (transport_and_format
        Broadcast Push)."""
        partner = request[PARTNER]
        own = partner.own_party()
        return partner.is_hub and own is not None \
            and partner.caller == hub_client_info.addressee(*own)

    async def _stored_token(self, request: web.Request) -> tuple[dict[str, Any] | None, str]:
        cc, pid, uid = self._own_party(request)
        # The party is the caller's: so is its token (even one pushed before the party moved).
        row = await store.get_party_token(self.pool, cc.upper(), pid.upper(), uid)
        return (row["attributes"]["ocpi"]["object"] if row is not None else None), uid

    async def get_token(self, request: web.Request) -> web.Response:
        token, uid = await self._stored_token(request)
        if token is None:
            raise OcpiProblem(404, UNKNOWN_TOKEN, f"unknown token {uid}")
        return reply(request[DIALECT].token_out(token))

    async def put_token(self, request: web.Request) -> web.Response:
        cc, pid, uid = self._own_party(request)
        try:
            body = request[DIALECT].token_in(await self._json(request), cc, pid)
            token = tokens.read_token(body, cc, pid, uid)
        except tokens.TokenError as exc:
            raise OcpiProblem(400, INVALID_PARAMETERS, str(exc)) from None
        await token_store.store_token(self.pool, request[PARTNER], token)
        return reply()

    async def patch_token(self, request: web.Request) -> web.Response:
        stored, uid = await self._stored_token(request)
        if stored is None:
            raise OcpiProblem(404, UNKNOWN_TOKEN, f"unknown token {uid}")
        try:
            patch = request[DIALECT].token_patch_in(await self._json(request), timestamp())
            token = tokens.patched(stored, patch)
        except tokens.TokenError as exc:
            raise OcpiProblem(400, INVALID_PARAMETERS, str(exc)) from None
        await token_store.store_token(self.pool, request[PARTNER], token)
        return reply()

    # --- commands (receiver) ---------------------------------------------------------------

    async def command(self, request: web.Request) -> web.Response:
        answer = await self.commands.receive(request[PARTNER], request.match_info["command"],
                                             await self._json(request), request[DIALECT])
        return reply(answer)

    # --- charging profiles (receiver) ------------------------------------------------------

    async def put_profile(self, request: web.Request) -> web.Response:
        return reply(await self.profiles.put(request[PARTNER], request.match_info["session_id"],
                                             await self._json(request)))

    async def get_profile(self, request: web.Request) -> web.Response:
        return reply(await self.profiles.get(request[PARTNER], request.match_info["session_id"],
                                             dict(request.query)))

    async def delete_profile(self, request: web.Request) -> web.Response:
        return reply(await self.profiles.delete(request[PARTNER],
                                                request.match_info["session_id"],
                                                dict(request.query)))


    # --- hub client info (receiver) ---------------------------------------------------------

    def _hub(self, request: web.Request) -> tuple[Partner, str, str]:
        partner = request[PARTNER]
        if not partner.is_hub:
            raise OcpiProblem(403, CLIENT_ERROR, "only a hub reports ClientInfo")
        return partner, request.match_info["country_code"], request.match_info["party_id"]

    async def get_client_info(self, request: web.Request) -> web.Response:
        partner, country_code, party_id = self._hub(request)
        row = await hub_client_info.get(self.pool, partner.id, country_code, party_id)
        if row is None:
            raise OcpiProblem(404, CLIENT_ERROR, f"no ClientInfo of {country_code}*{party_id}")
        return reply(hub_client_info.client_info_object(row))

    async def put_client_info(self, request: web.Request) -> web.Response:
        """The hub says how one of its parties is connected; held messages for a party now
        CONNECTED go out (mod_hub_client_info Push model)."""
        partner, country_code, party_id = self._hub(request)
        try:
            info = hub_client_info.read_client_info(await self._json(request), country_code,
                                                    party_id)
        except hub_client_info.ClientInfoError as exc:
            raise OcpiProblem(400, INVALID_PARAMETERS, str(exc)) from None
        async with self.pool.acquire() as conn, conn.transaction():
            released = await hub_client_info.receive(conn, partner, info)
        log.info("ocpi hub client info", partner=partner.id,
                 party=f"{info['country_code']}*{info['party_id']}", role=info["role"],
                 status=info["status"], released=released)
        return reply()



def _dialect_of(path: str) -> Dialect:
    """The version a path is below (/ocpi/versions, below none: the newest)."""
    version = path.removeprefix("/ocpi/").partition("/")[0]
    try:
        return dialects.by_version(version)
    except dialects.UnknownVersion:
        return V221


def build_location(settings: OcpiSettings, row: asyncpg.Record, evses: list[EvseFacts],
                   dialect: Dialect = V221) -> dict[str, Any]:
    return dialect.forms.location(settings, parse_site(row["data"]), evses, row["last_updated"])


Built = Callable[[list[Any]], Awaitable[list[dict[str, Any]]]]


async def _paged(request: web.Request, items: list[tuple[datetime, str, Any]],
                 build: Built) -> web.Response:
    """One page of (last_updated, id, item) in (last_updated, id) order with its paging headers;
    only the page's items are built into objects."""
    try:
        page = read_page(dict(request.query), MAX_PAGE)
    except ValueError as exc:
        raise OcpiProblem(400, INVALID_PARAMETERS, str(exc)) from None
    date_to = page.date_to or datetime.now(UTC)
    matching = [i for i in sorted(items, key=lambda i: (i[0], i[1]))
                if (page.date_from is None or i[0] >= page.date_from) and i[0] < date_to]
    # A cursor (from our Link) rather than the offset: rows changing meanwhile shift nothing.
    rest = [i for i in matching if (i[0], i[1]) > page.after] if page.after else matching[page.offset:]
    chosen = rest[:page.limit]
    headers = {"X-Total-Count": str(len(matching)), "X-Limit": str(MAX_PAGE)}
    last = (chosen[-1][0], chosen[-1][1]) if chosen else None
    link = next_link(str(request.url.with_query(None)), page, len(matching), date_to, last)
    if link:
        headers["Link"] = link
    return reply(await build([i[2] for i in chosen]), headers)


async def location_rows(db: asyncpg.Pool | asyncpg.Connection, location_id: str | None = None,
                        after: str | None = None, limit: int | None = None) -> list[asyncpg.Record]:
    """Sites as locations with their last_updated (the newest of the site and its EVSEs); a page
    of them in id order with `after` and `limit`."""
    rows = await db.fetch(
        """SELECT s.id, s.data, GREATEST(s.updated_at, MAX(e.updated_at)) AS last_updated
           FROM sites s LEFT JOIN charge_points c ON c.site_id = s.id
           LEFT JOIN evses e ON e.charge_point_id = c.id AND e.evse_id IS NOT NULL
           WHERE ($1::text IS NULL OR s.id = $1) AND ($2::text IS NULL OR s.id > $2)
           GROUP BY s.id ORDER BY s.id LIMIT $3""",
        location_id, after, limit,
    )
    return list(rows)


async def evse_facts(db: asyncpg.Pool | asyncpg.Connection,
                     site_ids: list[str]) -> dict[str, list[EvseFacts]]:
    rows = await db.fetch(
        """SELECT c.site_id, s.data AS site, e.charge_point_id, e.evse_number, e.evse_id, e.status,
                  e.retired_at IS NOT NULL AS retired, e.updated_at
           FROM evses e JOIN charge_points c ON c.id = e.charge_point_id
           JOIN sites s ON s.id = c.site_id
           WHERE c.site_id = ANY($1::text[]) AND e.evse_id IS NOT NULL
           ORDER BY e.charge_point_id, e.evse_number""",
        site_ids,
    )
    assignments = await tariffs.assignments_at(db)
    known = {row["id"] for row in await store.current_tariffs(db)}
    sites = {row["site_id"]: parse_site(row["site"]) for row in rows}
    result: dict[str, list[EvseFacts]] = {}
    for row in rows:
        chosen = tariffs.resolve(assignments, row["evse_id"],
                                 sites[row["site_id"]].details(row["evse_id"]).tariff,
                                 tariffs.ALL, known)
        result.setdefault(row["site_id"], []).append(EvseFacts(
            evse_uid(row["charge_point_id"], row["evse_number"]), row["evse_id"], row["status"],
            row["retired"], row["updated_at"], chosen[0] if chosen else None))
    return result

