"""The admin API (aiohttp, JSON, bearer token): charge points, EVSEs, sessions, tokens and commands."""

from __future__ import annotations

import asyncio
import hmac
import math
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import asyncpg
import structlog
from aiohttp import web

from csms.config import ApiSettings
from csms.domain.charge_points import register
from csms.domain.commands import CommandResult, CommandService, Outcome
from csms.domain.energy.smart_charging import remote_start_problem
from csms.domain.events import EventBus
from csms.domain.fleet.configuration import PASSWORD_KEYS
from csms.domain.model import SessionStatus
from csms.ocpp.translations.meter import format_timestamp, parse_timestamp
from csms.operator.console import csrf
from csms.operator.console.csrf import is_json
from csms.operator.console.sessions import COOKIE, ConsoleSessions
from csms.operator.http.fleet import commands_api, device_model_api, registration_api, reservations_api
from csms.operator.http.json_bodies import BadJson, json_body
from csms.operator.http.openapi import openapi_document
from csms.operator.http.paging import answer, page_of, sliced
from csms.operator.http.team import users_api
from csms.operator.http.team.access import (
    BOOTSTRAP,
    PRINCIPAL,
    PUBLIC,
    VIEWER,
    Principal,
    Role,
    refusal,
    required,
)
from csms.operator.http.team.auditing import (
    AUDIT_ACTOR,
    AUDIT_ID,
    AUDIT_PARAMETERS,
    BODY_REFUSED,
    audited,
    request_parameters,
    resource_of,
    result_words,
)
from csms.operator.roaming_errors import in_words
from csms.security.clients import client_address, client_key, networks
from csms.security.credentials import PasswordCheck
from csms.security.throttle import FailureLimit
from csms.storage import outbox_view as outbox
from csms.storage import store, user_store
from csms.storage.database import pending_migrations
from csms.storage.outage import outage

log = structlog.get_logger(__name__)

PREFIX = "/api/v1"

_OUTCOME_HTTP = {
    Outcome.ACCEPTED: 200,
    Outcome.REJECTED: 409,
    Outcome.BUSY: 409,
    # The caller may ask; the token's state (blocked, expired) forbids it: unblock, then retry.
    Outcome.TOKEN_REFUSED: 409,
    Outcome.NOT_FOUND: 404,
    Outcome.OFFLINE: 503,
    Outcome.TIMEOUT: 504,
    Outcome.FAILED: 502,
    # The charger's protocol has no such operation (the device model on OCPP 1.6).
    Outcome.NOT_SUPPORTED: 409,
    Outcome.INVALID: 400,
}


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return format_timestamp(value)
    if isinstance(value, UUID):
        return str(value)
    return value


def record(row: asyncpg.Record | None, drop: tuple[str, ...] = ()) -> dict[str, Any]:
    return {k: _plain(v) for k, v in dict(row or {}).items() if k not in drop}


def reply(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status)


def problem(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


class BadRequest(Exception):
    """The request cannot be served as sent; answered with 400 and the reason."""


class UnsupportedMediaType(BadRequest):
    """The body is not JSON where JSON is expected; answered with 415."""


async def body(request: web.Request) -> dict[str, Any]:
    """The request's JSON object: the one place request bodies are parsed."""
    if not request.body_exists:  # (the audit may have read it: kept)
        return {}
    if not is_json(request.content_type):
        raise UnsupportedMediaType(f"body must be sent as Content-Type: application/json, "
                                   f"not {request.content_type}")
    try:
        data = await json_body(request)
    except BadJson as exc:
        raise BadRequest(str(exc)) from None
    if not isinstance(data, dict):
        raise BadRequest("body must be a JSON object")
    return data


def field(data: dict[str, Any], name: str, kind: type, default: Any = ...) -> Any:
    if name not in data:
        if default is ...:
            raise BadRequest(f"'{name}' is required")
        return default
    value = data[name]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise BadRequest(f"'{name}' must be of type {kind.__name__}")
    return value


def query_int(request: web.Request, name: str, default: int | None, low: int = 0,
              high: int = 1000) -> int | None:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"query parameter '{name}' must be an integer") from None
    if not low <= value <= high:
        raise BadRequest(f"query parameter '{name}' must be between {low} and {high}")
    return value


def command_reply(result: CommandResult) -> web.Response:
    data: dict[str, Any] = {"outcome": result.outcome.value, "detail": result.detail}
    if result.session_id:
        data["session_id"] = result.session_id
    return reply(data, _OUTCOME_HTTP[result.outcome])


def _check_password(password: str, name: str) -> str:
    if not 16 <= len(password) <= 40 or not password.isprintable():
        # OCPP's limits for the Basic auth password (1.6 whitepaper, 2.0.1 BasicAuthPassword).
        raise BadRequest(f"'{name}' must be 16 to 40 printable characters")
    return password


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

def too_many_attempts(retry_after: float) -> web.Response:
    seconds = max(1, math.ceil(retry_after))  # Retry-After takes whole seconds
    response = problem(429, f"too many wrong tokens from this address: retry in {seconds} s")
    response.headers["Retry-After"] = str(seconds)
    return response


# The database cannot be reached (restarting, failed over; a refused or missing socket is an
# OSError): the request may be tried again.
DATABASE_UNAVAILABLE = (OSError, asyncpg.InterfaceError, asyncpg.PostgresConnectionError,
                        asyncpg.CannotConnectNowError, asyncpg.OperatorInterventionError)


class AdminApi:
    def __init__(self, settings: ApiSettings, pool: asyncpg.Pool, commands: CommandService,
                 events: EventBus) -> None:
        self.settings = settings
        self.pool = pool
        self.commands = commands
        self.events = events
        # Wrong login and bearer tokens, counted per client address (as the socket has it: an
        # X-Forwarded-For header is anyone's to write, unless a proxy we trust wrote it).
        # Wrong tokens per client host (login or bearer): 10,000 hosts kept at most.
        self.throttle = FailureLimit(settings.login_attempts, size=10_000)
        self.proxies = networks(settings.trusted_proxies)
        self.sessions = ConsoleSessions(pool, settings.token, settings.session_lifetime,
                                        settings.session_idle)
        # Users' passwords: scrypt in threads of its own, a bounded queue (as chargers').
        self.passwords = PasswordCheck(max_pending=16, workers=1)
        # Outermost, the audit sees each request's final answer, errors included.
        self.app = web.Application(middlewares=[self._audit, self._errors, self._authenticate])
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._routes()

    def _routes(self) -> None:
        r = self.app.router
        r.add_get(f"{PREFIX}/openapi.json", self.openapi)
        r.add_get("/healthz", self.healthz)
        r.add_get("/readyz", self.readyz)
        r.add_get(f"{PREFIX}/charge-points", self.list_charge_points)
        r.add_post(f"{PREFIX}/charge-points", self.add_charge_point)
        r.add_get(f"{PREFIX}/charge-points/{{cp}}", self.get_charge_point)
        r.add_get(f"{PREFIX}/charge-points/{{cp}}/evses", self.list_evses)
        r.add_get(f"{PREFIX}/charge-points/{{cp}}/reports", self.list_reports)
        r.add_post(f"{PREFIX}/charge-points/{{cp}}/reset", self.reset)
        r.add_get(f"{PREFIX}/security-events", self.list_security_events)
        r.add_post(f"{PREFIX}/charge-points/{{cp}}/password", self.set_password)
        r.add_post(f"{PREFIX}/charge-points/{{cp}}/availability", self.change_availability)
        r.add_post(f"{PREFIX}/charge-points/{{cp}}/trigger", self.trigger)
        r.add_get(f"{PREFIX}/charge-points/{{cp}}/configuration", self.get_configuration)
        r.add_post(f"{PREFIX}/charge-points/{{cp}}/configuration", self.change_configuration)
        r.add_post(f"{PREFIX}/charge-points/{{cp}}/evses/{{evse}}/start", self.start_session)
        r.add_post(f"{PREFIX}/charge-points/{{cp}}/evses/{{evse}}/unlock", self.unlock)
        r.add_post(f"{PREFIX}/charge-points/{{cp}}/evses/{{evse}}/reserve", self.reserve)
        r.add_post(f"{PREFIX}/reservations/{{id}}/cancel", self.cancel_reservation)
        r.add_get(f"{PREFIX}/sessions", self.list_sessions)
        r.add_get(f"{PREFIX}/sessions/{{id}}", self.get_session)
        r.add_get(f"{PREFIX}/sessions/{{id}}/meter-values", self.session_meter_values)
        r.add_post(f"{PREFIX}/sessions/{{id}}/stop", self.stop_session)
        r.add_post(f"{PREFIX}/sessions/{{id}}/close", self.close_session)
        r.add_get(f"{PREFIX}/tokens", self.list_tokens)
        r.add_post(f"{PREFIX}/tokens", self.add_token)
        r.add_get(f"{PREFIX}/tokens/{{uid}}", self.get_token)
        r.add_post(f"{PREFIX}/tokens/{{uid}}/block", self.block_token)
        r.add_post(f"{PREFIX}/tokens/{{uid}}/unblock", self.unblock_token)
        r.add_get(f"{PREFIX}/outbox", self.list_outbox)
        r.add_post(f"{PREFIX}/outbox/{{id}}/retry", self.retry_outbox)
        registration_api.routes(self)
        device_model_api.routes(self)
        reservations_api.routes(self)
        commands_api.routes(self)
        from csms.operator.http.fleet import certificates_api  # it builds on this module's names
        certificates_api.routes(self)
        from csms.operator.http.energy import profiles_api  # it builds on this module's names
        profiles_api.routes(self)
        users_api.routes(self)
        from csms.operator.http import overview_api  # it builds on this module's names
        overview_api.routes(self)
        from csms.operator.http.energy import allocation_api  # it builds on this module's names
        allocation_api.routes(self)
        from csms.operator.http.energy import site_limits_api  # it builds on this module's names
        site_limits_api.routes(self)
        from csms.operator.http.energy import allowances_api  # it builds on this module's names
        allowances_api.routes(self)
        from csms.operator.http import tariffs_api  # it builds on this module's names
        tariffs_api.routes(self)

    @property
    def port(self) -> int:
        assert self._site is not None and self._site._server is not None
        return int(self._site._server.sockets[0].getsockname()[1])  # type: ignore[attr-defined]

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        self._site = web.TCPSite(self._runner, self.settings.host, self.settings.port)
        await self._site.start()
        log.info("admin api listening", host=self.settings.host, port=self.port, path=PREFIX)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        self.passwords.close()

    def client(self, request: web.Request) -> str:
        """The client, as the connection or a trusted proxy tells it: the key its wrong tokens
        are counted by (an IPv6 host per /64)."""
        return client_key(client_address(request.remote, request.headers.get("X-Forwarded-For"),
                                         self.proxies))

    # --- middlewares ---------------------------------------------------------------------

    @web.middleware
    async def _errors(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            return await handler(request)
        except UnsupportedMediaType as exc:
            return problem(415, str(exc))
        except BadRequest as exc:
            return problem(400, str(exc))
        except asyncpg.DataError as exc:
            # A value from the request PostgreSQL cannot take (a number out of its column's range,
            # text with NUL): the request is at fault, and its transaction was rolled back.
            return problem(400, f"a value cannot be stored: {exc}")
        except web.HTTPException as exc:
            if exc.status >= 400:
                return problem(exc.status, exc.reason)
            raise
        except DATABASE_UNAVAILABLE as exc:
            outage.noted(exc)  # the log says it once for all, not per request
            return problem(503, "the database is unavailable; try again shortly")

    @web.middleware
    async def _authenticate(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Who asks (a bearer token or the console's cookie), whether their role may call the
        route (access.ROUTES; a route not there: admin only), and the audit row of a change
        before it is made."""
        needed = self._needed(request)
        if needed is PUBLIC:
            return await handler(request)
        found = await self._principal(request)
        if isinstance(found, web.Response):
            return found
        request[PRINCIPAL] = found
        recorded = audited(request.method, self._canonical(request))
        why = refusal(found, needed)
        if why is not None:
            response = problem(403, why)
            if recorded:
                try:
                    await self._audit_refusal(request, found, response)
                except (asyncpg.PostgresError, *DATABASE_UNAVAILABLE) as exc:
                    log.error("audit row of a refusal not written", path=request.path,
                              error=repr(exc))
            return response
        if recorded:
            try:
                request[AUDIT_ID] = await user_store.audit_start(
                    self.pool, found.name, found.kind, found.via, self.client(request),
                    resource_of(request.path), self._action(request), request.path,
                    await request_parameters(request))
            except (asyncpg.PostgresError, *DATABASE_UNAVAILABLE) as exc:
                # No change without its record (a database down, read-only after a failover).
                log.error("audit row not written: request refused", path=request.path,
                          error=repr(exc))
                return problem(503, "the audit log cannot be written, so nothing was done; "
                                    "try again shortly")
            if BODY_REFUSED in request:  # its handler must not see what was read of it
                raise request[BODY_REFUSED]
        return await handler(request)

    def _needed(self, request: web.Request) -> Role | None:
        if request.path.startswith("/console/"):
            return PUBLIC  # the console's static files hold no data
        route = request.match_info.route
        if route.resource is None or request.match_info.http_exception is not None:
            return VIEWER  # no such route: any login learns that, nobody else
        return required(request.method, route.resource.canonical)

    def _canonical(self, request: web.Request) -> str:
        resource = request.match_info.route.resource
        return resource.canonical if resource is not None else request.path

    def _action(self, request: web.Request) -> str:
        return f"{request.method} {self._canonical(request).removeprefix(PREFIX)}"

    async def _principal(self, request: web.Request) -> Principal | web.Response:
        header = request.headers.get("Authorization", "")
        if header:
            # A wrong token is a guess: counted, and an address guessing too often waits, whatever
            # it sends meanwhile. A cookie is not counted (its 256 random bits are no guess).
            client = self.client(request)
            retry_after = self.throttle.retry_after(client)
            if retry_after:
                return too_many_attempts(retry_after)
            token = header[7:] if header[:7].lower() == "bearer " else ""
            if token and hmac.compare_digest(token.encode(), self.settings.token.encode()):
                self.throttle.succeeded(client)
                return Principal(BOOTSTRAP, "config", Role.ADMIN)
            holder = await user_store.token_holder(self.pool, token) if token else None
            if holder is None:
                self.throttle.failed(client)
                return problem(401, "missing or wrong bearer token")
            self.throttle.succeeded(client)
            return Principal(holder.name, "token", Role.parse(holder.role),
                             user_id=holder.user_id, token_id=holder.id)
        login = await self.sessions.login(request.cookies.get(COOKIE, ""))
        if login is None:
            return problem(401, "missing or wrong bearer token")
        refused = csrf.refusal(request)
        if refused is not None:
            return problem(403, refused)
        if login.user is None or login.role is None:
            return Principal(BOOTSTRAP, "config", Role.ADMIN, via="console")
        return Principal(login.user, "user", Role.parse(login.role), via="console",
                         user_id=login.user_id)

    async def _audit_refusal(self, request: web.Request, principal: Principal,
                             response: web.Response) -> None:
        await user_store.audit(self.pool, principal.name, principal.kind, principal.via,
                               self.client(request), resource_of(request.path),
                               self._action(request), request.path,
                               await request_parameters(request), response.status,
                               result_words(response))

    @web.middleware
    async def _audit(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Each audited request's row gets its answer: the status and the outcome in words. A
        change that answers no one (an unauthenticated caller's 401) leaves no row, but a login
        does, whoever tried it."""
        response = await handler(request)
        try:
            audit_id = request.get(AUDIT_ID)
            if audit_id is not None:
                await user_store.audit_end(self.pool, audit_id, response.status,
                                           result_words(response))
            elif AUDIT_ACTOR in request:  # a public change (a login): one row, afterwards
                actor, kind, via = request[AUDIT_ACTOR]
                await user_store.audit(self.pool, actor, kind, via, self.client(request),
                                       resource_of(request.path), self._action(request),
                                       request.path, request.get(AUDIT_PARAMETERS, {}),
                                       response.status, result_words(response))
        except (asyncpg.PostgresError, *DATABASE_UNAVAILABLE) as exc:
            # The answer stands (the change is made); the row keeps outcome null: under way.
            log.error("audit row not completed", path=request.path, error=repr(exc))
        return response

    # --- charge points ---------------------------------------------------------------------

    async def healthz(self, request: web.Request) -> web.Response:
        """The process answers (for a liveness probe)."""
        return web.json_response({"status": "ok"})

    async def readyz(self, request: web.Request) -> web.Response:
        """The database answers and has every migration this code needs (a readiness probe)."""
        try:
            async with asyncio.timeout(2):
                pending = await pending_migrations(self.pool)
        except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
            return web.json_response({"status": "unavailable", "database": repr(exc)}, status=503)
        if pending:
            return web.json_response({"status": "unavailable", "pending_migrations": pending},
                                     status=503)
        return web.json_response({"status": "ready"})

    async def openapi(self, request: web.Request) -> web.Response:
        return reply(openapi_document())

    async def list_charge_points(self, request: web.Request) -> web.Response:
        page = page_of(request)
        rows, total = await store.page_charge_points(self.pool, page.limit, page.offset)
        # Each charger's EVSE statuses in one query, for a fleet overview (the console's list).
        evses: dict[str, list[dict[str, Any]]] = {}
        for evse in await store.evse_statuses(self.pool):
            evses.setdefault(evse["charge_point_id"], []).append(
                record(evse, drop=("charge_point_id",)))
        return reply(answer([{**record(row, drop=("password_hash",)),
                              "evses": evses.get(row["id"], [])} for row in rows], total, page))

    async def add_charge_point(self, request: web.Request) -> web.Response:
        data = await body(request)
        charge_point_id = field(data, "id", str)
        if not charge_point_id or "/" in charge_point_id:
            raise BadRequest("'id' must be a non-empty string without '/'")
        evses_raw = field(data, "evses", dict, {})
        try:
            evses = {int(k): (v or None) for k, v in evses_raw.items()}
        except (TypeError, ValueError):
            raise BadRequest("'evses' maps EVSE numbers to roaming EvseIDs") from None
        registration = field(data, "registration", str, "accepted")
        if registration not in ("accepted", "pending", "rejected"):
            raise BadRequest("'registration' is accepted, pending or rejected")
        try:
            profile = field(data, "security_profile", int, None)
            if profile not in (None, 0, 1, 2, 3):
                raise BadRequest("'security_profile' is 0 (no credentials), 1, 2 or 3")
            await register(self.pool, charge_point_id, field(data, "password", str, None),
                           evses, registration, self.events, profile)
        except asyncpg.UniqueViolationError:
            return problem(409, "an EvseID is already used by another EVSE")
        return reply(await self._charge_point(charge_point_id), 201)

    async def _charge_point(self, charge_point_id: str) -> dict[str, Any]:
        row = await store.get_charge_point(self.pool, charge_point_id)
        if row is None:
            # repr: an id from the URL may hold CR/LF, which a reason must not (500 otherwise).
            raise web.HTTPNotFound(reason=f"unknown charge point {charge_point_id!r}")
        data = record(row, drop=("password_hash",))
        data["live"] = await self.commands.online(charge_point_id)
        data["evses"] = await self._evses(charge_point_id)
        return data

    async def _evses(self, charge_point_id: str) -> list[dict[str, Any]]:
        evses = await store.list_evses(self.pool, charge_point_id)
        connectors = await store.list_connectors(self.pool, [e["id"] for e in evses])
        result = []
        for evse in evses:
            data = record(evse, drop=("id", "charge_point_id"))
            data["connectors"] = [record(c, drop=("evse",)) for c in connectors
                                  if c["evse"] == evse["id"]]
            result.append(data)
        return result

    async def get_charge_point(self, request: web.Request) -> web.Response:
        return reply(await self._charge_point(request.match_info["cp"]))

    async def list_evses(self, request: web.Request) -> web.Response:
        charge_point_id = request.match_info["cp"]
        page = page_of(request)
        await self._charge_point(charge_point_id)
        return reply(sliced(await self._evses(charge_point_id), page))

    async def list_reports(self, request: web.Request) -> web.Response:
        charge_point_id = request.match_info["cp"]
        page = page_of(request)
        rows, total = await store.page_reports(self.pool, charge_point_id,
                                               request.query.get("kind"), page.limit, page.offset)
        return reply(answer([record(row) for row in rows], total, page))

    async def list_security_events(self, request: web.Request) -> web.Response:
        page = page_of(request)
        rows, total = await store.page_security_events(
            self.pool, request.query.get("charge_point"), page.limit, page.offset)
        return reply(answer([{**row["payload"], "charge_point_id": row["charge_point_id"],
                              "received_at": _plain(row["received_at"])} for row in rows],
                            total, page))

    # --- commands ------------------------------------------------------------------------

    def _evse_number(self, request: web.Request) -> int:
        try:
            return int(request.match_info["evse"])
        except ValueError:
            raise BadRequest("the EVSE is addressed by its number") from None

    async def start_session(self, request: web.Request) -> web.Response:
        data = await body(request)
        token = field(data, "token", str)
        if not token:
            raise BadRequest("'token' must not be empty")
        profile = None
        if "profile" in data:  # a Tx profile for the transaction (1.6 §5.16, 2.0.1 F01/K05)
            from csms.operator.http.energy.profiles_api import parsed_profile
            profile = parsed_profile(field(data, "profile", dict))
            if reason := remote_start_problem(profile):
                raise BadRequest(f"'profile': {reason}")
        return command_reply(await self.commands.start_session(
            request.match_info["cp"], self._evse_number(request), token, profile=profile))

    async def unlock(self, request: web.Request) -> web.Response:
        return command_reply(await self.commands.unlock(request.match_info["cp"],
                                                        self._evse_number(request)))

    async def reserve(self, request: web.Request) -> web.Response:
        data = await body(request)
        token = field(data, "token", str)
        minutes = field(data, "minutes", int, 15)
        if not token or not 0 < minutes <= 24 * 60:
            raise BadRequest("'token' must not be empty and 'minutes' be 1 to 1440")
        return command_reply(await self.commands.reserve(
            request.match_info["cp"], self._evse_number(request), token,
            datetime.now(UTC) + timedelta(minutes=minutes)))

    async def cancel_reservation(self, request: web.Request) -> web.Response:
        try:
            reservation_id = int(request.match_info["id"])
        except ValueError:
            raise BadRequest("a reservation is addressed by its number") from None
        return command_reply(await self.commands.cancel_reservation(reservation_id))

    async def set_password(self, request: web.Request) -> web.Response:
        password = _check_password(field(await body(request), "password", str), "password")
        return command_reply(await self.commands.set_password(request.match_info["cp"], password))

    async def reset(self, request: web.Request) -> web.Response:
        data = await body(request)
        return command_reply(await self.commands.reset(request.match_info["cp"],
                                                       field(data, "hard", bool, False)))

    async def change_availability(self, request: web.Request) -> web.Response:
        data = await body(request)
        evse, connector = field(data, "evse", int, 0), field(data, "connector", int, None)
        if evse < 0 or (connector is not None and (evse == 0 or connector < 1)):
            raise BadRequest("'evse' is 0 (the whole charge point) or more; 'connector', 1 or "
                             "more, names one connector of an EVSE")
        return command_reply(await self.commands.change_availability(
            request.match_info["cp"], evse, field(data, "operative", bool), connector))

    async def trigger(self, request: web.Request) -> web.Response:
        data = await body(request)
        return command_reply(await self.commands.trigger(
            request.match_info["cp"], field(data, "message", str), field(data, "evse", int, None)))

    async def get_configuration(self, request: web.Request) -> web.Response:
        return command_reply(await self.commands.get_configuration(
            request.match_info["cp"], request.query.getall("key", [])))

    async def change_configuration(self, request: web.Request) -> web.Response:
        data = await body(request)
        if "values" in data:
            values = field(data, "values", dict)
            if not values or not all(isinstance(v, str) for v in values.values()):
                raise BadRequest("'values' must map keys to string values (at least one)")
            if PASSWORD_KEYS & set(values):
                raise BadRequest("set the password alone, as key and value")
            return command_reply(await self.commands.set_configuration(request.match_info["cp"],
                                                                       values))
        key, value = field(data, "key", str), field(data, "value", str)
        if key in PASSWORD_KEYS:  # the password's way: its hash is stored once the charger took it
            _check_password(value, "value")
        return command_reply(await self.commands.change_configuration(
            request.match_info["cp"], key, value))

    # --- sessions ------------------------------------------------------------------------

    def _session_id(self, request: web.Request) -> str:
        try:
            return str(UUID(request.match_info["id"]))
        except ValueError:
            raise web.HTTPNotFound(reason="unknown session") from None

    async def list_sessions(self, request: web.Request) -> web.Response:
        status = request.query.get("status")
        if status is not None and status not in {s.value for s in SessionStatus}:
            raise BadRequest(f"unknown status {status!r}")
        page = page_of(request)
        evse = query_int(request, "evse", None, 1, 10**6)
        await self.commands.sessions.expire_pending()  # nobody sees a stale "pending"
        rows, total = await store.page_sessions(self.pool, status,
                                                request.query.get("charge_point"), evse,
                                                page.limit, page.offset)
        return reply(answer(await self._with_energy(rows), total, page))

    async def get_session(self, request: web.Request) -> web.Response:
        await self.commands.sessions.expire_pending()
        row = await store.get_session(self.pool, self._session_id(request))
        if row is None:
            raise web.HTTPNotFound(reason="unknown session")
        return reply((await self._with_energy([row]))[0])

    async def _with_energy(self, rows: list[asyncpg.Record]) -> list[dict[str, Any]]:
        """energy_wh: charged so far (an active session: up to its latest meter reading)."""
        active = [row["id"] for row in rows if row["meter_stop_wh"] is None]
        latest = await store.latest_energy_registers(self.pool, active) if active else {}
        items = []
        for row in rows:
            end = row["meter_stop_wh"] if row["meter_stop_wh"] is not None else latest.get(row["id"])
            start = row["meter_start_wh"]
            energy = end - start if end is not None and start is not None else None
            items.append({**record(row, drop=("evse",)), "energy_wh": energy})
        return items

    async def session_meter_values(self, request: web.Request) -> web.Response:
        page = page_of(request)
        rows, total = await store.page_samples(self.pool, self._session_id(request), page.limit,
                                               page.offset)
        return reply(answer([record(row) for row in rows], total, page))

    async def stop_session(self, request: web.Request) -> web.Response:
        return command_reply(await self.commands.stop_session(self._session_id(request)))

    async def close_session(self, request: web.Request) -> web.Response:
        """Ends a session the charger never will, at its last known meter value."""
        row, closed = await self.commands.sessions.close(self._session_id(request))
        if row is None:
            raise web.HTTPNotFound(reason="unknown session")
        if not closed:
            return problem(409, f"session is {row['status']}, not active")
        return reply((await self._with_energy([row]))[0])

    # --- tokens ----------------------------------------------------------------------------

    async def list_tokens(self, request: web.Request) -> web.Response:
        page = page_of(request)
        rows, total = await store.page_tokens(self.pool, page.limit, page.offset)
        return reply(answer([record(row) for row in rows], total, page))

    async def add_token(self, request: web.Request) -> web.Response:
        data = await body(request)
        uid = field(data, "uid", str)
        if not uid or len(uid) > 36:
            raise BadRequest("'uid' must be 1 to 36 characters")
        status = field(data, "status", str, "accepted")
        if status not in ("accepted", "blocked", "expired", "invalid"):
            raise BadRequest("'status' is accepted, blocked, expired or invalid")
        expires = field(data, "expires_at", str, None)
        try:
            expires_at = parse_timestamp(expires) if expires else None
        except ValueError:
            raise BadRequest("'expires_at' must be an RFC 3339 timestamp") from None
        group = data.get("group")  # null: in no group
        if group is not None and (not isinstance(group, str) or not 0 < len(group) <= 36):
            raise BadRequest("'group' must be 1 to 36 characters, or null")
        row = await store.upsert_token(self.pool, uid, field(data, "type", str, "RFID"), status,
                                       expires_at)
        if "group" in data:
            row = await store.set_token_group(self.pool, uid, group) or row
        return reply(record(row), 201)

    async def get_token(self, request: web.Request) -> web.Response:
        row = await store.get_token(self.pool, request.match_info["uid"])
        if row is None:
            raise web.HTTPNotFound(reason="unknown token")
        return reply(record(row))

    async def _set_token_status(self, request: web.Request, status: str) -> web.Response:
        # Our own token only: a roaming partner's copy of the UID is the partner's to block (an
        # unblock here must not accept a card its eMSP refused).
        row = await store.set_own_token_status(self.pool, request.match_info["uid"], status)
        if row is None:
            raise web.HTTPNotFound(reason="unknown token (of ours: partners' tokens are theirs)")
        return reply(record(row))

    async def block_token(self, request: web.Request) -> web.Response:
        return await self._set_token_status(request, "blocked")

    async def unblock_token(self, request: web.Request) -> web.Response:
        return await self._set_token_status(request, "accepted")

    # --- roaming outbox ----------------------------------------------------------------------

    async def list_outbox(self, request: web.Request) -> web.Response:
        status = request.query.get("status")
        if status not in (None, "pending", "delivered", "failed"):
            raise BadRequest("'status' is pending, delivered or failed")
        page = page_of(request)
        rows, total = await outbox.page_messages(self.pool, request.query.get("partner"), status,
                                                 page.limit, page.offset)
        # The error in words beside the text stored (csms/operator/roaming_errors.py).
        return reply(answer([{**record(row), "error_words": in_words(row["last_error"], "the partner")}
                             for row in rows], total, page))

    async def retry_outbox(self, request: web.Request) -> web.Response:
        try:
            message_id = int(request.match_info["id"])
        except ValueError:
            raise web.HTTPNotFound(reason="unknown message") from None
        if not await outbox.retry(self.pool, message_id):
            raise web.HTTPNotFound(reason="no pending or failed message with that id")
        return reply({"id": message_id, "status": "pending"})
