"""Admin API routes for users, API tokens, the audit log, and /me: who the caller is, what they may do."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from csms.ocpp.translations.meter import parse_timestamp
from csms.operator.http.paging import answer, page_of, sliced
from csms.operator.http.team.access import PRINCIPAL, ROLE_NAMES, ROUTES, Principal
from csms.security.credentials import Busy
from csms.storage import user_store
from csms.storage.user_store import UserError, check_password

if TYPE_CHECKING:
    from datetime import datetime

    from csms.operator.http.api import AdminApi


def routes(api: AdminApi) -> None:
    """Registered by the admin API (one line there)."""
    from csms.operator.http.api import PREFIX, BadRequest, body, field, record, reply

    def role_field(data: dict[str, Any], default: Any = ...) -> str:
        role = field(data, "role", str, default)
        if role not in ROLE_NAMES:
            raise BadRequest(f"'role' is one of {', '.join(ROLE_NAMES)}")
        return str(role)

    async def password_hash(data: dict[str, Any]) -> str:
        try:
            password = check_password(field(data, "password", str))
            return await api.passwords.hash(password)
        except UserError as exc:
            raise BadRequest(str(exc)) from None
        except Busy:
            raise web.HTTPServiceUnavailable(reason="too many passwords being hashed; try again "
                                                    "shortly") from None

    def user_reply(row: Any, status: int = 200) -> web.Response:
        return reply(record(row), status)

    def timestamp(value: str | None, name: str) -> datetime | None:
        if value is None or value == "":
            return None
        try:
            return parse_timestamp(value)
        except ValueError:
            raise BadRequest(f"'{name}' must be an RFC 3339 timestamp") from None

    async def me(request: web.Request) -> web.Response:
        """Who the caller is, their role, and the routes that role may call (the console hides
        what it may not)."""
        principal: Principal = request[PRINCIPAL]
        allowed = sorted(f"{method} {path}" for (method, path), role in ROUTES.items()
                         if role is not None and role <= principal.role and not path.startswith("!"))
        return reply({"name": principal.name, "kind": principal.kind, "via": principal.via,
                      "role": principal.role.label, "allowed": allowed})

    async def list_users(request: web.Request) -> web.Response:
        page = page_of(request)
        return reply(sliced([record(row) for row in await user_store.list_users(api.pool)], page))

    async def add_user(request: web.Request) -> web.Response:
        data = await body(request)
        name, role = field(data, "name", str), role_field(data)
        try:
            user_store.check_name(name)
            return user_reply(await user_store.add_user(api.pool, name, role,
                                                        await password_hash(data)), 201)
        except UserError as exc:
            return web.json_response({"error": str(exc)},
                                     status=409 if "exists" in str(exc) else 400)

    async def changed(request: web.Request, work: Any) -> web.Response:
        try:
            return user_reply(await work)
        except UserError as exc:
            raise web.HTTPNotFound(reason=str(exc)) from None

    async def set_role(request: web.Request) -> web.Response:
        role = role_field(await body(request))
        return await changed(request, user_store.set_role(api.pool, request.match_info["name"],
                                                          role))

    async def disable(request: web.Request) -> web.Response:
        return await changed(request, user_store.set_disabled(api.pool,
                                                              request.match_info["name"], True))

    async def enable(request: web.Request) -> web.Response:
        return await changed(request, user_store.set_disabled(api.pool,
                                                              request.match_info["name"], False))

    async def reset_password(request: web.Request) -> web.Response:
        hashed = await password_hash(await body(request))
        return await changed(request, user_store.set_password(api.pool,
                                                              request.match_info["name"], hashed))

    async def list_tokens(request: web.Request) -> web.Response:
        page = page_of(request)
        return reply(sliced([record(row) for row in await user_store.list_tokens(api.pool)],
                            page))

    async def add_token(request: web.Request) -> web.Response:
        """The token is in this answer only: we keep its hash."""
        data = await body(request)
        principal: Principal = request[PRINCIPAL]
        role = role_field(data)
        user = field(data, "user", str, None)
        try:
            token, row = await user_store.add_token(
                api.pool, field(data, "name", str), role, user,
                timestamp(field(data, "expires_at", str, None), "expires_at"), principal.name)
        except UserError as exc:
            raise BadRequest(str(exc)) from None
        return reply({**record(row), "token": token}, 201)

    async def revoke_token(request: web.Request) -> web.Response:
        try:
            token_id = int(request.match_info["id"])
        except ValueError:
            raise web.HTTPNotFound(reason="unknown API token") from None
        row = await user_store.revoke_token(api.pool, token_id)
        if row is None:
            raise web.HTTPNotFound(reason="unknown API token")
        return reply(record(row))

    async def audit(request: web.Request) -> web.Response:
        """Newest first; filters user, resource, action (a part of it), since, until."""
        page = page_of(request)
        query = request.query
        rows, total = await user_store.list_audit(
            api.pool, query.get("user") or None, query.get("resource") or None,
            query.get("action") or None, timestamp(query.get("since"), "since"),
            timestamp(query.get("until"), "until"), page.limit, page.offset)
        return reply(answer([record(row) for row in rows], total, page))

    r = api.app.router
    r.add_get(f"{PREFIX}/me", me)
    r.add_get(f"{PREFIX}/users", list_users)
    r.add_post(f"{PREFIX}/users", add_user)
    r.add_post(f"{PREFIX}/users/{{name}}/role", set_role)
    r.add_post(f"{PREFIX}/users/{{name}}/disable", disable)
    r.add_post(f"{PREFIX}/users/{{name}}/enable", enable)
    r.add_post(f"{PREFIX}/users/{{name}}/password", reset_password)
    r.add_get(f"{PREFIX}/api-tokens", list_tokens)
    r.add_post(f"{PREFIX}/api-tokens", add_token)
    r.add_post(f"{PREFIX}/api-tokens/{{id}}/revoke", revoke_token)
    r.add_get(f"{PREFIX}/audit", audit)


def openapi_paths() -> dict[str, Any]:
    """These routes' description (csms/operator/http/openapi.py)."""
    from csms.operator.http.openapi import _ERROR, _body, _json, _list, _path_param, _query, _read
    from csms.operator.http.schemas import ref

    role = {"type": "string", "enum": list(ROLE_NAMES)}
    name = _path_param("name")
    user, token = ref("User"), ref("ApiToken")

    def change(summary: str, params: list[dict[str, Any]], schema: dict[str, Any],
               request: dict[str, Any] | None = None, created: bool = False) -> dict[str, Any]:
        operation: dict[str, Any] = {
            "summary": summary, "parameters": params,
            "responses": {"201" if created else "200": _json(schema),
                          "400": _json(_ERROR, "Bad request"),
                          "401": _json(_ERROR, "No or wrong token"),
                          "404": _json(_ERROR, "Not found")}}
        if request is not None:
            operation["requestBody"] = request
        return operation

    password = {"type": "string", "minLength": user_store.MIN_PASSWORD,
                "maxLength": user_store.MAX_PASSWORD}
    return {
        "/me": {"get": _read("Who the caller is: name, kind (user, token, config), role, and "
                             "the routes the role may call", ref("Me"), [])},
        "/users": {
            "get": _list("Users (admin)", "User", []),
            "post": change("Add a user with a role and a password (admin)", [], user, _body(
                {"name": {"type": "string", "pattern": "^[A-Za-z0-9._@-]{1,64}$"},
                 "role": role, "password": password}, ["name", "role", "password"]),
                created=True),
        },
        "/users/{name}/role": {"post": change("Change a user's role (admin)", [name], user,
                                              _body({"role": role}, ["role"]))},
        "/users/{name}/disable": {"post": change(
            "Disable a user: their logins end, their tokens stop working (admin)", [name], user)},
        "/users/{name}/enable": {"post": change("Enable a disabled user (admin)", [name], user)},
        "/users/{name}/password": {"post": change(
            "Set a user's password: their logins end (admin)", [name], user,
            _body({"password": password}, ["password"]))},
        "/api-tokens": {
            "get": _list("API tokens (hashes are kept, never the tokens) (admin)", "ApiToken", []),
            "post": change("Create an API token for a user or an integration: the answer's "
                           "`token` is shown this once (admin)", [],
                           ref("ApiTokenCreated"),
                           _body({"name": {"type": "string"}, "role": role,
                                  "user": {"type": "string"},
                                  "expires_at": {"type": "string", "format": "date-time"}},
                                 ["name", "role"]), created=True),
        },
        "/api-tokens/{id}/revoke": {"post": change("Revoke an API token (admin)",
                                                   [_path_param("id", "integer")], token)},
        "/audit": {"get": _list(
            "The audit log, newest first: every change and command, who made it (user, token, "
            "api.token or the CLI's user), when, its parameters (secrets masked), its outcome "
            "(admin)", "AuditRow",
            [_query("user"), _query("resource"), _query("action"), _query("since"),
             _query("until")])},
    }


