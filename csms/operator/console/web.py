"""The console's routes on the admin API's server: static files, login, the event stream, partners, frames."""

from __future__ import annotations

import asyncio
import hmac
import secrets
from functools import cache
from pathlib import Path
from typing import Any

import asyncpg
from aiohttp import web

from csms.ocpp.messages import RING_SIZE, MessageLog, message_log
from csms.ocpp.translations.meter import format_timestamp
from csms.operator.console.csrf import https
from csms.operator.console.feed import ConsoleFeed, frame_json
from csms.operator.console.sessions import COOKIE
from csms.operator.http.api import (
    PREFIX,
    AdminApi,
    BadRequest,
    body,
    field,
    record,
    too_many_attempts,
)
from csms.operator.http.paging import answer, page_of, sliced
from csms.operator.http.team.access import BOOTSTRAP
from csms.operator.http.team.auditing import AUDIT_ACTOR, AUDIT_PARAMETERS
from csms.operator.roaming import Roaming
from csms.operator.roaming_errors import in_words
from csms.security.credentials import Busy, hash_password
from csms.storage import outbox_view as outbox
from csms.storage import store, user_store
from csms.storage.user_store import MAX_PASSWORD

STATIC = Path(__file__).parent / "static"


@cache
def _nobody() -> str:
    """The hash an unknown user's password is checked against (it matches nothing anyone sends)."""
    return hash_password(secrets.token_urlsafe(32))
KEEPALIVE = 15.0  # seconds between comments on a quiet stream: proxies keep it, dead peers show


class Console:
    """Adds its routes to the admin API's application (before it starts), behind its token check."""

    def __init__(self, api: AdminApi, feed: ConsoleFeed, oicp_enabled: bool, roaming: Roaming,
                 messages: MessageLog = message_log) -> None:
        self.api = api
        self.roaming = roaming
        self.pool: asyncpg.Pool = api.pool
        self.feed = feed
        self.oicp_enabled = oicp_enabled
        self.messages = messages
        r = api.app.router
        r.add_get("/", self.index)
        r.add_static("/console/", STATIC, append_version=False)
        r.add_post(f"{PREFIX}/login", self.login)
        r.add_post(f"{PREFIX}/logout", self.logout)
        r.add_get(f"{PREFIX}/events", self.events)
        r.add_get(f"{PREFIX}/partners", self.partners)
        r.add_get(f"{PREFIX}/charge-points/{{cp}}/messages", self.charger_messages)
        # Open streams end when the server stops, instead of holding its shutdown for a minute.
        api.app.on_shutdown.append(self._shutdown)

    async def _shutdown(self, app: web.Application) -> None:
        self.feed.close_streams()

    async def index(self, request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    # --- login ---------------------------------------------------------------------------------

    async def login(self, request: web.Request) -> web.Response:
        """A user's name and password (or api.token, the bootstrap admin's) for a session cookie:
        a browser's EventSource cannot send a bearer header."""
        throttle, client = self.api.throttle, self.api.client(request)
        retry_after = throttle.retry_after(client)
        if retry_after:
            return too_many_attempts(retry_after)
        request[AUDIT_ACTOR] = ("anonymous", "anonymous", "console")  # until the body tells
        data = await body(request)
        if "user" in data:
            name, password = field(data, "user", str), field(data, "password", str)
            request[AUDIT_ACTOR] = (name[:64], "user", "console")
            request[AUDIT_PARAMETERS] = {"user": name[:64]}
            user_id = await self._check_user(name, password)
            if user_id is None:
                throttle.failed(client)
                raise web.HTTPUnauthorized(reason="wrong user name or password")
        else:
            token = field(data, "token", str)
            request[AUDIT_ACTOR] = (BOOTSTRAP, "config", "console")
            if not hmac.compare_digest(token.encode(), self.api.settings.token.encode()):
                throttle.failed(client)
                raise web.HTTPUnauthorized(reason="wrong token")
            user_id = None
        throttle.succeeded(client)
        sessions = self.api.sessions
        response = web.json_response({"status": "logged in"})
        # HttpOnly: page scripts cannot read it; Strict: no other site's page can send it.
        response.set_cookie(COOKIE, await sessions.open(user_id), httponly=True, samesite="Strict",
                            secure=https(request), path="/", max_age=int(sessions.lifetime))
        return response

    async def _check_user(self, name: str, password: str) -> int | None:
        """The user's id if the password is theirs and they are not disabled. An unknown name
        costs the same scrypt as a known one: the time taken tells no one which names exist."""
        user = await user_store.get_user(self.pool, name) if len(name) <= 64 else None
        stored = user["password_hash"] if user is not None else _nobody()
        try:
            matched = await self.api.passwords.verify(password[:MAX_PASSWORD], stored)
        except Busy:
            raise web.HTTPServiceUnavailable(reason="too many logins under way; try again "
                                                    "shortly") from None
        if not matched or user is None or user["disabled_at"] is not None:
            return None
        return int(user["id"])

    async def logout(self, request: web.Request) -> web.Response:
        """Ends the cookie's session on every node (a copy of the cookie is void too)."""
        session_id = request.cookies.get(COOKIE)
        if session_id:
            await self.api.sessions.close(session_id)
        response = web.json_response({"status": "logged out"})
        response.del_cookie(COOKIE, path="/")
        return response

    # --- live ----------------------------------------------------------------------------------

    async def events(self, request: web.Request) -> web.StreamResponse:
        """Server-sent events: domain changes of every node once committed; with charge_point,
        that charger's OCPP frames; with session, its meter values."""
        charge_point_id = request.query.get("charge_point") or None
        session_id = request.query.get("session") or None
        for name, value in (("charge_point", charge_point_id), ("session", session_id)):
            if value is not None and (len(value) > 255 or not value.isprintable()):
                raise BadRequest(f"query parameter '{name}' must be 1 to 255 printable characters")
        response = web.StreamResponse(headers={
            "Content-Type": "text/event-stream", "Cache-Control": "no-cache",
            "X-Accel-Buffering": "no"})  # nginx would otherwise hold the events back
        # A stream opened with the cookie ends with its session (logout on any node, expiry).
        cookie = None if request.headers.get("Authorization") else request.cookies.get(COOKIE)
        await response.prepare(request)
        client = await self.feed.join(charge_point_id, session_id)
        loop = asyncio.get_running_loop()
        next_check = loop.time() + KEEPALIVE
        try:
            # After join: whatever changes from here on is sent, so the page loads its data now.
            await response.write(b"retry: 2000\n\nevent: ready\ndata: {}\n\n")
            while True:
                try:
                    item = await asyncio.wait_for(client.queue.get(), KEEPALIVE)
                except TimeoutError:
                    item = b": keepalive\n\n"
                if item is None:
                    break
                if cookie is not None and loop.time() >= next_check:
                    next_check = loop.time() + KEEPALIVE
                    if not await self._session_goes_on(cookie):
                        break
                await response.write(item)
        except ConnectionResetError:
            pass  # the browser went away
        finally:
            self.feed.leave(client)
        return response

    async def _session_goes_on(self, cookie: str) -> bool:
        """A cookie stream's session, checked every KEEPALIVE seconds (not counted as use: an
        open page alone does not keep a login). While the database cannot tell, it goes on."""
        try:
            return await self.api.sessions.valid(cookie, touch=False)
        except (OSError, TimeoutError, asyncpg.PostgresError):
            return True

    async def charger_messages(self, request: web.Request) -> web.Response:
        """The charger's latest OCPP frames this node saw (a small ring shared by all chargers)."""
        charge_point_id = request.match_info["cp"]
        page = page_of(request)
        if await store.get_charge_point(self.pool, charge_point_id) is None:
            raise web.HTTPNotFound(reason=f"unknown charge point {charge_point_id!r}")
        # Oldest first; the page counts back from the newest (offset 0: the latest frames).
        frames = self.messages.recent(charge_point_id, RING_SIZE)  # all it still holds
        end = max(0, len(frames) - page.offset)
        return web.json_response(answer([frame_json(entry) for entry in
                                         frames[max(0, end - page.limit):end]], len(frames), page))

    # --- roaming -------------------------------------------------------------------------------

    async def partners(self, request: web.Request) -> web.Response:
        """Hubject and each OCPI party: registration, delivery state, outbox counts, last pushes."""
        page = page_of(request)
        partners: list[dict[str, Any]] = []
        hubject = self.roaming.hubject
        if self.oicp_enabled or await outbox.has_messages(self.pool, hubject):
            partners.append({"partner": hubject, "kind": "oicp", "name": "Hubject",
                             "registration": "enabled" if self.oicp_enabled else "disabled"})
        ocpi = await self.roaming.ocpi_partners(self.pool)
        hub_clients = await self.roaming.hub_clients(self.pool) if ocpi else {}
        token_pulls = await self.roaming.token_pulls(self.pool) if ocpi else {}
        for party in ocpi:
            parties = [f"{r.get('country_code')}*{r.get('party_id')} ({r.get('role')})"
                       for r in party.roles if isinstance(r, dict)]
            # By its business name (its credentials' roles), else the name it was registered by.
            business = next((str(r["business_details"]["name"]) for r in party.roles
                             if isinstance(r, dict) and isinstance(r.get("business_details"), dict)
                             and r["business_details"].get("name")), None)
            partners.append({"partner": party.outbox_name, "kind": "ocpi",
                             "name": business or party.name or f"OCPI party {party.id}",
                             "registration": party.status, "parties": parties,
                             "versions_url": party.versions_url, "version": party.version,
                             "hub_clients": [_times(c, "last_updated")
                                             for c in hub_clients.get(party.id, [])]
                             if party.is_hub else None,
                             "token_pull": _times(token_pulls[party.id], "last_full_at",
                                                  "last_incremental_at", "next_due_at")
                             if party.id in token_pulls else None})
        # One snapshot: counts, state and last pushes agree even while messages are delivered.
        async with self.pool.acquire() as conn, conn.transaction(isolation="repeatable_read",
                                                                 readonly=True):
            for partner in partners:
                partner.update(await self._delivery(conn, partner["partner"], partner["kind"]))
        for partner in partners:  # the errors as the operator reads them
            for key in ("waiting", "last_failed", "last_status_push", "last_data_push"):
                if partner.get(key):
                    partner[key]["error_words"] = in_words(partner[key].get("last_error"),
                                                           partner["name"])
            if partner.get("token_pull"):
                partner["token_pull"]["error_words"] = in_words(
                    partner["token_pull"]["last_error"], partner["name"])
        return web.json_response(sliced(partners, page))

    async def _delivery(self, conn: asyncpg.Connection, partner: str, kind: str) -> dict[str, Any]:
        pushes = self.roaming.pushes[kind]
        seen = await outbox.overview(conn, partner, list(pushes.values()))
        # Reachable or not, as far as our deliveries tell: the oldest waiting message is one
        # being attempted, so its attempts and error are the link's current state.
        if seen.waiting is not None and seen.waiting["attempts"] > 0:
            state = "retrying"
        elif seen.last_delivered_at is not None:
            state = "ok"
        else:
            state = "idle"
        last_pushes = {f"last_{name}_push": record(seen.last_of[operation])
                       if seen.last_of[operation] is not None else None
                       for name, operation in pushes.items()}
        return {"state": state,
                "outbox": {s: seen.counts.get(s, 0) for s in ("pending", "failed", "delivered")},
                "waiting": record(seen.waiting) if seen.waiting is not None else None,
                "last_failed": record(seen.last_failed) if seen.last_failed is not None else None,
                "last_delivered_at": format_timestamp(seen.last_delivered_at)
                if seen.last_delivered_at else None,
                **last_pushes}


def _times(fields: dict[str, Any], *keys: str) -> dict[str, Any]:
    """The fields with these times as the API writes them (UTC, Z)."""
    return {**fields, **{key: format_timestamp(fields[key]) if fields[key] else None
                         for key in keys}}
