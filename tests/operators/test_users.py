"""Users, roles, API tokens and the audit log: each route's role, each change's audit row, logins."""

from __future__ import annotations

import asyncio
import io
import json
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from csms.app import App
from csms.operator.command_line.cli import main
from csms.operator.http.team.access import ROUTES, Role, declared, required
from csms.operator.http.team.auditing import audited
from csms.security.credentials import hash_password
from csms.storage import user_store
from tests.conftest import admin, with_database
from tests.operators.console.test_console import browser  # noqa: F401  (the fixture)
from tests.support import API_TOKEN, Api

PASSWORD = "correct horse battery"
# A value for each path parameter: nothing by these names exists, so a command that is allowed
# answers 404 (or 400 for its empty body), and changes nothing.
PATH_VALUES = {"cp": "NOPE", "evse": "1", "id": "999999", "uid": "NOPE", "name": "nobody",
               "request_id": "1", "action": "Reset", "site": "NOPE", "site_id": "NOPE",
               "session_id": "NOPE"}


def concrete(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: PATH_VALUES[m.group(1)], path)


def served_routes(app: App) -> list[tuple[str, str]]:
    """(method, canonical path) of every route the admin API's server serves, but the console's
    static files."""
    routes = set()
    for route in app.api.app.router.routes():
        resource = route.resource
        if resource is None or route.method == "HEAD" or resource.canonical == "/console":
            continue
        routes.add((route.method, resource.canonical))
    return sorted(routes)


async def token_for(app: App, role: str, user: str | None = None) -> str:
    token, _ = await user_store.add_token(app.pool, f"{role}-token", role, user, None, "test")
    return token


@pytest.fixture
async def tokens(app: App) -> dict[Role, str]:
    return {role: await token_for(app, role.label) for role in Role}


async def call(app: App, token: str | None, method: str, path: str, **kwargs: Any
               ) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    url = f"http://127.0.0.1:{app.api.port}{path}"
    async with aiohttp.ClientSession(headers=headers) as http, \
            http.request(method, url, **kwargs) as response:
        if response.content_type != "application/json":
            return response.status, None  # the event stream, the metrics, the console's page
        return response.status, await response.json()


def described(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(METHOD, path as served, operation) for every operation the OpenAPI document describes: the
    probes and metrics name their own server (the root), the rest sit below /api/v1."""
    return [(method.upper(), path if "servers" in item else "/api/v1" + path, operation)
            for path, item in document["paths"].items()
            for method, operation in item.items() if method != "servers"]


# --- every route has its role ------------------------------------------------------------------


async def test_every_route_served_and_described_declares_its_role(app: App, api: Api) -> None:
    document = await api.get("/openapi.json")
    undeclared = [f"{m} {p}" for m, p in served_routes(app) if not declared(m, p)]
    undeclared += [f"{method} {path} (OpenAPI)" for method, path, _ in described(document)
                   if not declared(method, path)]
    assert not undeclared, ("give these routes their role in csms/operator/http/team/access.py "
                            f"ROUTES: {undeclared}")
    served = {(m, p.removeprefix("/api/v1") if p.startswith("/api/v1/") else "!" + p)
              for m, p in served_routes(app)}
    assert set(ROUTES) - served == set(), "ROUTES names routes nobody serves"
    # The description says which role each operation needs, as the server enforces it.
    for method, path, operation in described(document):
        needed = required(method, path)
        if needed is None:
            assert operation["security"] == [], path
        else:
            assert operation["x-required-role"] == needed.label, (method, path)
            assert "403" in operation["responses"], (method, path)


def test_a_route_not_in_the_table_is_for_admins_only() -> None:
    assert required("POST", "/api/v1/something-new") is Role.ADMIN
    assert required("GET", "/api/v1/something-new/{id}") is Role.ADMIN
    assert required("GET", "/api/v1/charge-points") is Role.VIEWER
    assert required("HEAD", "/api/v1/charge-points") is Role.VIEWER
    assert required("POST", "/api/v1/login") is None


# --- each role, each route -----------------------------------------------------------------------


async def test_each_role_is_allowed_its_routes_and_refused_the_others_with_a_reason(
        app: App, tokens: dict[Role, str]) -> None:
    wrong: list[str] = []
    checked = 0
    for method, path in served_routes(app):
        needed = required(method, path)
        if needed is None:
            continue
        for role, token in tokens.items():
            body = {"json": {}} if method != "GET" else {}
            status, answer = await call(app, token, method, concrete(path), **body)
            checked += 1
            if role < needed:
                reason = (answer or {}).get("error", "")
                if status != 403 or f"this needs {needed.label}" not in reason \
                        or role.label not in reason:
                    wrong.append(f"{role.label} {method} {path}: {status} {answer} (refusal due)")
            elif status in (401, 403):
                wrong.append(f"{role.label} {method} {path}: {status} {answer} (allowed)")
    assert not wrong, "\n".join(wrong)
    assert checked >= 3 * 80


# --- every change leaves its audit row -------------------------------------------------------------


async def test_every_change_and_command_described_leaves_an_audit_row(
        app: App, api: Api, tokens: dict[Role, str]) -> None:
    document = await api.get("/openapi.json")
    operations = [(method, path.removeprefix("/api/v1")) for method, path, _ in described(document)
                  if audited(method, path)]
    assert len(operations) > 50
    missing = []
    for method, path in operations:
        status, _ = await call(app, tokens[Role.ADMIN], method, "/api/v1" + concrete(path),
                               **({"json": {}} if method != "GET" else {}))
        row = await app.pool.fetchrow(
            "SELECT * FROM audit_log WHERE action = $1 ORDER BY id DESC LIMIT 1",
            f"{method} {path}")
        actor = "admin-token" if required(method, "/api/v1" + path) else "anonymous"  # login
        if (row is None or row["outcome"] != status or row["actor"] != actor
                or row["target"] != "/api/v1" + concrete(path)):
            missing.append(f"{method} {path}: {status} {dict(row or {})}")
    assert not missing, "\n".join(missing)
    # A viewer's reads are not recorded.
    before = await app.pool.fetchval("SELECT count(*) FROM audit_log")
    for path in ("/charge-points", "/sessions", "/tokens", "/outbox"):
        assert (await call(app, tokens[Role.VIEWER], "GET", "/api/v1" + path))[0] == 200
    assert await app.pool.fetchval("SELECT count(*) FROM audit_log") == before


async def test_audit_rows_say_who_what_and_how_it_ended_with_secrets_masked(
        app: App, api: Api, tokens: dict[Role, str]) -> None:
    secret = "a-charger-password-1234"
    await api.post("/charge-points", {"id": "CP1", "password": secret})
    await api.post("/charge-points/CP1/configuration", {"key": "AuthorizationKey",
                                                        "value": secret})
    await api.post("/users", {"name": "alice", "role": "operator", "password": PASSWORD})
    await call(app, tokens[Role.VIEWER], "POST", "/api/v1/charge-points/CP1/reset",
               json={"hard": True})
    rows = (await api.get("/audit"))["items"]
    assert not any(secret in json.dumps(row) or PASSWORD in json.dumps(row) for row in rows)
    by_action = {row["action"]: row for row in rows}
    added = by_action["POST /charge-points"]
    assert added["actor"] == "api.token" and added["actor_kind"] == "config"
    assert added["parameters"]["body"] == {"id": "CP1", "password": "***"}
    assert added["outcome"] == 201 and added["resource"] == "charge-points"
    configured = by_action["POST /charge-points/{cp}/configuration"]
    assert configured["parameters"]["body"] == {"key": "AuthorizationKey", "value": "***"}
    assert configured["result"] == "offline"  # the command's outcome in words
    assert by_action["POST /users"]["parameters"]["body"]["password"] == "***"
    refused = by_action["POST /charge-points/{cp}/reset"]
    assert refused["actor"] == "viewer-token" and refused["outcome"] == 403
    assert "this needs operator" in refused["result"]
    assert refused["parameters"] == {"path": {"cp": "CP1"}, "body": {"hard": True}}

    # Filters and paging.
    page = await api.get("/audit?resource=users")
    assert [r["action"] for r in page["items"]] == ["POST /users"] and page["total"] == 1
    assert (await api.get("/audit?user=viewer-token"))["total"] == 1
    assert (await api.get("/audit?action=reset"))["total"] == 1
    first = await api.get("/audit?limit=2&offset=0")
    second = await api.get("/audit?limit=2&offset=2")
    assert first["total"] == second["total"] >= 4 and first["limit"] == 2
    assert {r["id"] for r in first["items"]}.isdisjoint(r["id"] for r in second["items"])
    later = (datetime.now(UTC) + timedelta(minutes=1)).isoformat().replace("+00:00", "Z")
    assert (await api.get(f"/audit?since={later}"))["total"] == 0
    assert (await api.get(f"/audit?until={later}"))["total"] == first["total"]
    status, answer = await api.request("GET", "/audit?since=yesterday")
    assert status == 400 and "since" in answer["error"]


# --- API tokens ------------------------------------------------------------------------------------


async def test_api_tokens_are_shown_once_kept_hashed_revocable_and_expire(app: App, api: Api) -> None:
    status, created = await api.post("/api-tokens", {"name": "ci", "role": "operator"})
    assert status == 201 and created["token"].startswith("csms_") and created["role"] == "operator"
    token = created["token"]
    listed = (await api.get("/api-tokens"))["items"]
    assert "token" not in listed[0] and token not in json.dumps(listed)
    stored = await app.pool.fetchrow("SELECT * FROM api_tokens WHERE id = $1", created["id"])
    assert token.encode() not in bytes(stored["token_hash"]) and stored["last_used_at"] is None
    assert (await call(app, token, "GET", "/api/v1/charge-points"))[0] == 200
    assert (await call(app, token, "GET", "/api/v1/users"))[0] == 403  # admin's
    me = (await call(app, token, "GET", "/api/v1/me"))[1]
    assert me["name"] == "ci" and me["role"] == "operator"
    assert "POST /charge-points/{cp}/reset" in me["allowed"] and "GET /users" not in me["allowed"]
    assert (await api.get("/api-tokens"))["items"][0]["last_used_at"] is not None

    status, revoked = await api.post(f"/api-tokens/{created['id']}/revoke")
    assert status == 200 and revoked["revoked_at"] is not None
    assert (await call(app, token, "GET", "/api/v1/charge-points"))[0] == 401

    past = (datetime.now(UTC) - timedelta(seconds=1)).isoformat().replace("+00:00", "Z")
    status, expired = await api.post("/api-tokens", {"name": "old", "role": "viewer",
                                                     "expires_at": past})
    assert status == 201
    assert (await call(app, expired["token"], "GET", "/api/v1/charge-points"))[0] == 401
    for bad in ({"name": "x", "role": "root"}, {"role": "viewer"},
                {"name": "x", "role": "viewer", "user": "nobody"},
                {"name": "x", "role": "viewer", "expires_at": "soon"}):
        status, answer = await api.post("/api-tokens", bad)
        assert status == 400, (bad, answer)
    # api.token stays the bootstrap admin.
    assert (await call(app, API_TOKEN, "GET", "/api/v1/me"))[1]["role"] == "admin"


async def test_a_users_token_has_no_more_than_its_user_and_dies_with_the_user(
        app: App, api: Api) -> None:
    await api.post("/users", {"name": "bob", "role": "viewer", "password": PASSWORD})
    status, created = await api.post("/api-tokens", {"name": "laptop", "role": "admin",
                                                     "user": "bob"})
    assert status == 201 and created["user"] == "bob"
    me = (await call(app, created["token"], "GET", "/api/v1/me"))[1]
    assert me["role"] == "viewer" and me["name"] == "bob (laptop)"
    assert (await call(app, created["token"], "POST", "/api/v1/tokens", json={"uid": "X"}))[0] == 403
    # A user's rows are his tokens' too.
    assert [row["actor"] for row in (await api.get("/audit?user=bob"))["items"]] == ["bob (laptop)"]
    await api.post("/users/bob/disable")
    assert (await call(app, created["token"], "GET", "/api/v1/me"))[0] == 401


# --- users and the console's login ---------------------------------------------------------------


async def console_login(app: App, user: str, password: str) -> tuple[int, aiohttp.ClientSession]:
    console = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    async with console.post(f"http://127.0.0.1:{app.api.port}/api/v1/login",
                            json={"user": user, "password": password}) as response:
        return response.status, console


async def test_users_log_in_to_the_console_with_their_role_until_logout_or_a_change(
        app: App, api: Api) -> None:
    base = f"http://127.0.0.1:{app.api.port}/api/v1"
    origin = {"Origin": f"http://127.0.0.1:{app.api.port}"}
    status, user = await api.post("/users", {"name": "carol", "role": "viewer",
                                             "password": PASSWORD})
    assert status == 201 and "password_hash" not in user
    stored = await user_store.get_user(app.pool, "carol")
    assert stored is not None and stored["password_hash"].startswith("scrypt$")
    assert PASSWORD not in stored["password_hash"]
    for bad, expected in (({"name": "carol", "role": "viewer", "password": PASSWORD}, 409),
                          ({"name": "dave", "role": "viewer", "password": "short"}, 400),
                          ({"name": "bad name", "role": "viewer", "password": PASSWORD}, 400),
                          ({"name": "dave", "role": "god", "password": PASSWORD}, 400)):
        assert (await api.post("/users", bad))[0] == expected, bad

    status, wrong = await console_login(app, "carol", "not her password")
    await wrong.close()
    assert status == 401
    status, unknown = await console_login(app, "nobody", PASSWORD)
    await unknown.close()
    assert status == 401
    status, console = await console_login(app, "carol", PASSWORD)
    try:
        assert status == 200
        async with console.get(f"{base}/me") as response:
            assert (await response.json())["role"] == "viewer"
        async with console.post(f"{base}/tokens/X/block", json={}, headers=origin) as response:
            assert response.status == 403
            assert "this needs operator" in (await response.json())["error"]
        await api.post("/users/carol/role", {"role": "operator"})  # applies at once
        async with console.post(f"{base}/tokens/X/block", json={}, headers=origin) as response:
            assert response.status == 404  # allowed now: there is no such token
        row = await app.pool.fetchrow("SELECT * FROM audit_log WHERE action = "
                                      "'POST /tokens/{uid}/block' ORDER BY id DESC LIMIT 1")
        assert row["actor"] == "carol" and row["via"] == "console" and row["outcome"] == 404
        logins = await app.pool.fetch("SELECT actor, outcome FROM audit_log "
                                      "WHERE action = 'POST /login' ORDER BY id")
        assert [(r["actor"], r["outcome"]) for r in logins] == [
            ("carol", 401), ("nobody", 401), ("carol", 200)]
        async with console.post(f"{base}/logout", json={}, headers=origin) as response:
            assert response.status == 200
        async with console.get(f"{base}/me") as response:
            assert response.status == 401
    finally:
        await console.close()

    # A disabled user is logged out and may not log in; a new password ends their logins.
    status, console = await console_login(app, "carol", PASSWORD)
    try:
        await api.post("/users/carol/password", {"password": PASSWORD + "!"})
        async with console.get(f"{base}/me") as response:
            assert response.status == 401
    finally:
        await console.close()
    status, console = await console_login(app, "carol", PASSWORD + "!")
    try:
        assert status == 200
        await api.post("/users/carol/disable")
        async with console.get(f"{base}/me") as response:
            assert response.status == 401
    finally:
        await console.close()
    assert (await console_login(app, "carol", PASSWORD + "!"))[0] == 401
    assert (await api.post("/users/nobody/disable"))[0] == 404
    listed = (await api.get("/users"))["items"]
    assert [(u["name"], u["role"]) for u in listed] == [("carol", "operator")]
    assert listed[0]["disabled_at"] is not None


# --- the CLI -----------------------------------------------------------------------------------------


@pytest.fixture
def cli_database(server_url: str, template_database: str,
                 monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    name = f"csms_users_{uuid.uuid4().hex[:12]}"
    asyncio.run(admin(server_url, f"CREATE DATABASE {name} TEMPLATE {template_database}"))
    url = with_database(server_url, name)
    monkeypatch.setenv("CSMS_DATABASE_URL", url)
    monkeypatch.setenv("CSMS_LOG_LEVEL", "warning")
    yield url
    asyncio.run(admin(server_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *argv: str,
        stdin: str = "") -> tuple[int, str, str]:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_the_cli_manages_users_and_tokens_and_records_its_changes(
        cli_database: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    run = lambda *argv, stdin="": cli(monkeypatch, capsys, *argv, stdin=stdin)  # noqa: E731
    code, out, err = run("users", "add", "admin", "--role", "admin", "--password-stdin",
                         stdin=PASSWORD + "\n")
    assert code == 0 and PASSWORD not in out + err
    code, out, err = run("users", "add", "admin", "--password-stdin", stdin=PASSWORD + "\n")
    assert code == 2 and "exists already" in err
    code, out, err = run("users", "add", "eve", "--password-stdin", stdin="short\n")
    assert code == 2 and "12 to 1024" in err
    code, out, err = run("users", "add", "eve")  # no terminal, no --password-stdin
    assert code == 2 and "--password-stdin" in err
    assert run("users", "add", "eve", "--password-stdin", stdin=PASSWORD + "\n")[0] == 0
    assert run("users", "set-role", "eve", "operator")[0] == 0
    assert run("users", "set-role", "nobody", "operator")[:3:2] == (2, "no user 'nobody'\n")
    code, out, _ = run("users", "list")
    assert out.splitlines()[0].split() == ["NAME", "ROLE", "CREATED_AT", "DISABLED_AT"]
    assert [line.split()[:2] for line in out.splitlines()[1:]] == [["admin", "admin"],
                                                                   ["eve", "operator"]]
    code, out, _ = run("users", "list", "--json")
    assert [row["name"] for row in json.loads(out)] == ["admin", "eve"]
    assert run("users", "reset-password", "eve", "--password-stdin",
               stdin=PASSWORD + "2\n")[0] == 0
    assert run("users", "disable", "eve")[0] == 0

    code, out, err = run("users", "token", "add", "deploy", "--role", "operator",
                         "--expires-in-days", "30")
    token = out.strip()
    assert code == 0 and token.startswith("csms_") and "shown this once" in err
    code, out, _ = run("users", "token", "list")
    assert "deploy" in out and token not in out and token[:11] in out
    assert run("users", "token", "revoke", "1")[0] == 0
    assert run("users", "token", "revoke", "99")[0] == 2

    code, out, err = run("audit", "--json")
    rows = json.loads(out)
    actions = [row["action"] for row in reversed(rows)]
    assert actions == ["users add", "users add", "users add", "users add", "users add",
                       "users set-role", "users set-role", "users reset-password",
                       "users disable", "users token add", "users token revoke",
                       "users token revoke"]
    assert [row["outcome"] for row in reversed(rows)] == [0, 2, 2, 2, 0, 0, 2, 0, 0, 0, 0, 2]
    assert all(row["actor"].startswith("cli:") and row["via"] == "cli" for row in rows)
    assert PASSWORD not in out and token not in out
    code, out, err = run("audit", "--action", "set-role")
    assert out.splitlines()[0].split()[:3] == ["AT", "ACTOR", "VIA"] and len(out.splitlines()) == 3
    assert "2 of 2" in err

    # Any command that changes something is recorded, its secrets masked.
    secret = "cp9-secret-password"
    assert run("charge-points", "add", "CP9", "--password", secret)[0] == 0
    code, out, _ = run("audit", "--resource", "charge-points", "--json")
    [row] = json.loads(out)
    assert row["action"] == "charge-points add" and row["outcome"] == 0
    assert row["parameters"]["password"] == "***" and row["parameters"]["id"] == "CP9"
    assert secret not in out
    run("charge-points", "list")  # a read: not recorded
    assert json.loads(run("audit", "--json", "--action", "list")[1]) == []


async def test_api_token_without_users_then_a_user_the_cli_added_logs_in(app: App) -> None:
    # A fresh install has no user: api.token is the admin, as before.
    status, me = await call(app, API_TOKEN, "GET", "/api/v1/me")
    assert status == 200 and me == {**me, "name": "api.token", "kind": "config", "role": "admin"}
    # The CLI's hash is the API's: the user the README's first step adds can log in.
    await user_store.add_user(app.pool, "admin", "admin", hash_password(PASSWORD))
    status, console = await console_login(app, "admin", PASSWORD)
    await console.close()
    assert status == 200


# --- the console in Chromium ---------------------------------------------------------------------


async def test_the_console_logs_users_in_offers_what_their_role_may_do_and_shows_the_audit(
        app: App, api: Api, browser: Any) -> None:  # noqa: F811
    from playwright.async_api import expect

    from tests.operators.console.test_console import base, screenshot

    await api.post("/charge-points", {"id": "CP1", "evses": {"1": "DE*ABC*E0001*1"}})
    for name, role in (("vera", "viewer"), ("adam", "admin")):
        await api.post("/users", {"name": name, "role": role, "password": PASSWORD})
    page = await browser.new_page(viewport={"width": 1280, "height": 800})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    async def log_in(name: str, password: str) -> None:
        await page.fill("#user", name)
        await page.fill("#token", password)
        await page.click("form.login button")

    await page.goto(base(app) + "/#/chargers/CP1")
    await log_in("vera", "wrong password")
    await expect(page.locator("#login-error")).to_contain_text("wrong user name or password")
    await log_in("vera", PASSWORD)
    await expect(page.locator("h1")).to_have_text("CP1")
    await expect(page.locator("#whoami")).to_have_text("vera (viewer)")
    await expect(page.locator('.evse-card[data-evse="1"]')).to_be_visible()
    for hidden in ("#reset-soft", "#reset-hard", ".evse-card .unlock", ".start-form",
                   'a[data-page="audit"]', "#profile-form"):
        await expect(page.locator(hidden).first).to_be_hidden()

    await page.click("#logout")
    await expect(page.locator("#user")).to_be_visible()
    await log_in("adam", PASSWORD)
    await expect(page.locator("#whoami")).to_have_text("adam (admin)")
    # An offline charger offers no command (to anyone); what an operator may do offline shows
    # (a charging profile is kept for the charger), and the admin's own pages.
    await expect(page.locator(".offline-note")).to_be_visible()
    await expect(page.locator("#profile-form")).to_be_visible()
    await page.click('a[data-page="audit"]')
    await expect(page.locator("h1")).to_have_text("Audit log")
    first = page.locator("#audit tr").first
    await expect(first).to_contain_text("adam")
    await expect(first).to_contain_text("POST /login")
    await page.fill("#audit-user", "nobody")
    await page.click(".audit-filters button")
    await expect(page.locator("#audit")).to_contain_text("Nothing recorded.")
    await page.fill("#audit-user", "")
    await page.click(".audit-filters button")
    await expect(page.locator("#audit-count")).to_contain_text("of ")
    await screenshot(page, "audit")
    assert errors == []


async def test_a_change_that_cannot_be_recorded_is_not_made_and_any_other_is_recorded(
        app: App, api: Api) -> None:
    # The database takes no audit row (as a read-only one after a failover would not).
    await app.pool.execute(
        "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'cannot execute INSERT in a read-only transaction'; END $$; "
        "CREATE TRIGGER refuse BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION refuse()")
    status, answer = await api.post("/tokens", {"uid": "CARD1"})
    assert status == 503 and "audit log cannot be written" in answer["error"]
    assert (await api.request("GET", "/tokens/CARD1"))[0] == 404  # nothing was done
    await app.pool.execute("DROP TRIGGER refuse ON audit_log")
    assert (await api.post("/tokens", {"uid": "CARD1"}))[0] == 201

    # Any request gets its row, whatever its text: NUL and lone surrogates are valid JSON but no
    # PostgreSQL text (found by the fuzzer).
    raw = '{"uid": "A\\u0000B", "\\ud800x": "\\udc00"}'
    status, answer = await api.request("POST", "/tokens/%00/block", data=raw,
                                       headers={"Content-Type": "application/json"})
    assert status == 400 and "cannot be stored" in answer["error"]  # as before: the token's
    row = await app.pool.fetchrow("SELECT * FROM audit_log ORDER BY id DESC LIMIT 1")
    assert row["outcome"] == 400 and row["target"] == "/api/v1/tokens/\\x00/block"
    assert row["parameters"]["body"] == {"uid": "A\\x00B", "\\ud800x": "\\udc00"}

    # A body too large is refused as before, and recorded.
    status, answer = await api.request("POST", "/tokens", data=b"{" + b" " * 2**21 + b"}",
                                       headers={"Content-Type": "application/json"})
    assert status == 413, answer
    row = await app.pool.fetchrow("SELECT * FROM audit_log ORDER BY id DESC LIMIT 1")
    assert row["action"] == "POST /tokens" and row["outcome"] == 413


async def test_wrong_passwords_make_the_address_wait(make_app: Any) -> None:
    app = await make_app(api={"login_attempts": 2})
    await user_store.add_user(app.pool, "frank", "viewer", hash_password(PASSWORD))
    statuses = []
    for password in ("wrong one", "wrong two", PASSWORD):
        status, console = await console_login(app, "frank", password)
        await console.close()
        statuses.append(status)
    assert statuses == [401, 401, 429]  # even the right password waits its turn
