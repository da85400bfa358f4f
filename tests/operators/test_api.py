"""The admin API over real HTTP: authentication, bad input, registration, tokens, OpenAPI."""

from __future__ import annotations

from typing import Any

import aiohttp
import structlog
from openapi_spec_validator import OpenAPIV30SpecValidator

from csms.app import App
from csms.domain.charge_points import register
from csms.operator.http.json_bodies import MAX_DEPTH, nesting
from csms.operator.http.openapi import openapi_document
from csms.security.clients import client_address, client_key, networks
from csms.security.throttle import FailureLimit
from tests.conftest import AppFactory
from tests.support import API_TOKEN, Api

JSON = {"Content-Type": "application/json"}


def nested(depth: int) -> Any:
    value: Any = 1
    for n in range(depth):
        value = [value] if n % 2 else {"a": value}
    return value


async def test_requests_without_the_bearer_token_are_refused(app: App, api: Api) -> None:
    async with aiohttp.ClientSession() as anonymous:
        for headers in ({}, {"Authorization": "Bearer wrong"}):
            async with anonymous.get(f"{api.base}/charge-points", headers=headers) as response:
                assert response.status == 401
                assert "bearer" in (await response.json())["error"]
        async with anonymous.get(f"{api.base}/openapi.json") as response:
            assert response.status == 200  # the description itself is public


async def test_openapi_describes_every_route(app: App, api: Api) -> None:
    document = await api.get("/openapi.json")
    assert document["openapi"].startswith("3.")
    # A path with a server of its own ("/": the probes and metrics) is served at the root.
    described = {(path if "servers" in item else "/api/v1" + path, method)
                 for path, item in document["paths"].items() for method in item
                 if method != "servers"}
    served = set()
    for route in app.api.app.router.routes():
        path = route.resource.canonical if route.resource else ""
        # Not described: the description itself and the web console's page and static files.
        if route.method in ("GET", "POST", "PUT", "DELETE") and path not in ("/api/v1/openapi.json", "/") \
                and not path.startswith("/console"):
            served.add((path, route.method.lower()))
    assert served == described
    assert {path for path, item in document["paths"].items() if "servers" in item} == \
        {"/healthz", "/readyz", "/metrics"}


def test_openapi_document_is_valid() -> None:
    """Checked by a validator of the OpenAPI 3.0 schema, as client generators would read it."""
    errors = [f"{'/'.join(map(str, e.path))}: {e.message[:120]}"
              for e in OpenAPIV30SpecValidator(openapi_document()).iter_errors()]
    assert errors == []


async def test_register_charge_point_and_evses(app: App, api: Api) -> None:
    status, created = await api.post("/charge-points", {
        "id": "CP9", "password": "pw-123456", "evses": {"1": "DE*ABC*E9*1", "2": "DE*ABC*E9*2"}})
    assert status == 201
    assert [e["evse_id"] for e in created["evses"]] == ["DE*ABC*E9*1", "DE*ABC*E9*2"]
    assert "password_hash" not in created and created["live"] is False
    status, clash = await api.post("/charge-points", {"id": "CP8", "evses": {"1": "DE*ABC*E9*1"}})
    assert status == 409
    listed = await api.items("/charge-points")
    assert [cp["id"] for cp in listed] == ["CP9"]  # the clash left nothing behind


async def test_bad_requests_get_clear_errors_and_change_nothing(app: App, api: Api) -> None:
    cases = [
        ("POST", "/charge-points", {"data": b"{not json", "headers": JSON}, 400, "not valid JSON"),
        ("POST", "/tokens", {"data": b'{"uid": "T"}'}, 415, "application/json"),
        ("POST", "/tokens", {"data": {"uid": "T"}}, 415, "application/json"),  # a form
        ("POST", "/tokens", {"json": {"uid": "T", "x": nested(MAX_DEPTH)}}, 400, "nests deeper"),
        ("POST", "/charge-points", {"json": ["a list"]}, 400, "JSON object"),
        ("POST", "/charge-points", {"json": {"evses": {}}}, 400, "'id' is required"),
        ("POST", "/charge-points", {"json": {"id": "X", "evses": {"one": "E"}}}, 400, "EVSE numbers"),
        ("POST", "/tokens", {"json": {"uid": "T", "status": "maybe"}}, 400, "'status'"),
        ("POST", "/tokens", {"json": {"uid": "x" * 40}}, 400, "'uid'"),
        ("GET", "/sessions?limit=abc", {}, 400, "'limit'"),
        ("GET", "/sessions?status=bogus", {}, 400, "unknown status"),
        ("GET", "/sessions/not-a-uuid", {}, 404, "unknown session"),
        ("GET", "/charge-points/NOPE", {}, 404, "unknown charge point"),
        ("POST", "/charge-points/NOPE/reset", {"json": {}}, 404, None),
        ("POST", "/charge-points/NOPE/evses/1/start", {"json": {}}, 400, "'token' is required"),
        ("POST", "/charge-points/NOPE/evses/one/unlock", {}, 400, "EVSE"),
        ("POST", "/tokens/NOPE/block", {}, 404, "unknown token"),
    ]
    for method, path, kwargs, status, message in cases:
        got, data = await api.request(method, path, **kwargs)
        assert got == status, (path, got, data)
        if message:
            assert message in data["error"], (path, data)
    assert await api.items("/charge-points") == []
    assert await api.items("/tokens") == []


async def test_tokens(app: App, api: Api) -> None:
    status, token = await api.post("/tokens", {"uid": "CARD1", "expires_at": "2030-01-01T00:00:00Z"})
    assert status == 201 and token["status"] == "accepted"
    assert token["expires_at"] == "2030-01-01T00:00:00.000Z"
    assert (await api.post("/tokens/CARD1/block"))[1]["status"] == "blocked"
    assert (await api.get("/tokens/CARD1"))["status"] == "blocked"
    assert (await api.post("/tokens/CARD1/unblock"))[1]["status"] == "accepted"
    # A partner's card with the same UID is the partner's: neither changed nor accepted again by us.
    await app.pool.execute(
        """INSERT INTO tokens (uid, type, status, owner, country_code, party_id)
           VALUES ('CARD1', 'RFID', 'blocked', 'ocpi:emsp', 'DE', 'EMS')""")
    await app.pool.execute("INSERT INTO tokens (uid, type, status, owner, country_code, party_id) "
                           "VALUES ('THEIRS', 'RFID', 'blocked', 'ocpi:emsp', 'DE', 'EMS')")
    assert (await api.post("/tokens/CARD1/unblock"))[0] == 200
    assert (await api.post("/tokens/THEIRS/unblock"))[0] == 404
    assert await app.pool.fetchval(
        "SELECT array_agg(status) FROM tokens WHERE owner IS NOT NULL") == ["blocked", "blocked"]


async def test_health_and_readiness_need_no_token(app: App) -> None:
    async with aiohttp.ClientSession() as http:
        base = f"http://127.0.0.1:{app.api.port}"
        async with http.get(base + "/healthz") as response:
            assert (response.status, await response.json()) == (200, {"status": "ok"})
        async with http.get(base + "/readyz") as response:
            assert (response.status, await response.json()) == (200, {"status": "ready"})
        await app.pool.execute("DELETE FROM schema_migrations WHERE version = "
                               "(SELECT max(version) FROM schema_migrations)")
        async with http.get(base + "/readyz") as response:
            answer = await response.json()
            assert response.status == 503 and len(answer["pending_migrations"]) == 1


def test_nesting_counts_objects_and_arrays() -> None:
    assert [nesting(v) for v in (1, {}, [], {"a": [1, {"b": 2}]}, nested(5))] == [0, 1, 1, 3, 5]
    assert nesting(nested(10_000)) == MAX_DEPTH + 1  # stops looking one level past the limit


async def test_deeply_nested_json_is_a_bad_request(app: App, api: Api) -> None:
    deep = b"[" * 100_000 + b"]" * 100_000  # past the parser's recursion limit
    async with aiohttp.ClientSession() as anonymous:
        async with anonymous.post(f"{api.base}/login", data=deep, headers=JSON) as response:
            assert response.status == 400
            assert "nests deeper" in (await response.json())["error"]
    status, answer = await api.request("POST", "/tokens", data=b'{"uid": ' + deep + b"}",
                                       headers=JSON)
    assert status == 400 and "nests deeper" in answer["error"]
    assert await api.items("/tokens") == []


async def test_wrong_tokens_from_one_address_wait_ever_longer(app: App, api: Api) -> None:
    now = [1000.0]
    app.api.throttle = FailureLimit(3, clock=lambda: now[0])
    async with aiohttp.ClientSession() as client:

        async def login(token: str) -> tuple[int, str | None]:
            async with client.post(f"{api.base}/login", json={"token": token}) as response:
                return response.status, response.headers.get("Retry-After")

        async def bearer(token: str) -> int:
            async with client.get(f"{api.base}/tokens",
                                  headers={"Authorization": f"Bearer {token}"}) as response:
                return response.status

        assert [await login("wrong") for _ in range(2)] == [(401, None)] * 2  # free tries
        assert await login(API_TOKEN) == (200, None)  # a success starts the count again
        assert [await login("wrong") for _ in range(2)] == [(401, None)] * 2
        assert await bearer("wrong") == 401  # the 3rd: a wrong bearer token counts the same
        # Now the address waits 1 s, whatever it sends, a right token too.
        assert await login(API_TOKEN) == (429, "1")
        assert await bearer(API_TOKEN) == 429
        async with client.get(f"{api.base}/tokens") as response:
            assert response.status == 401  # no credentials: nothing guessed, nothing counted
        now[0] += 1
        assert await login("wrong") == (401, None)
        assert await login("wrong") == (429, "2")  # twice as long after each wrong one
        now[0] += 2
        assert await bearer("wrong") == 401
        async with client.post(f"{api.base}/login", json={"token": API_TOKEN}) as response:
            assert response.status == 429 and response.headers["Retry-After"] == "4"
            assert "too many wrong tokens" in (await response.json())["error"]
        now[0] += 4
        assert await bearer(API_TOKEN) == 200
        assert await login("wrong") == (401, None)  # the success reset it


def test_throttle_delays_are_capped_and_its_memory_bounded() -> None:
    now = [0.0]
    throttle = FailureLimit(1, first_delay=1.0, max_delay=8.0, forget_after=60.0, size=3,
                            clock=lambda: now[0])
    waits = []
    for _ in range(6):
        throttle.failed("192.0.2.1")
        waits.append(throttle.retry_after("192.0.2.1"))
        now[0] += waits[-1]
    assert waits == [1, 2, 4, 8, 8, 8]
    # One IPv6 host holds a whole /64: its addresses count together; an IPv4-mapped one as IPv4.
    assert client_key("2001:db8::1") == client_key("2001:db8::ffff") == "2001:db8::/64"
    assert client_key("2001:db8:0:1::1") != client_key("2001:db8::1")
    assert client_key("::ffff:192.0.2.1") == "192.0.2.1"
    # Many addresses: the least recently failed are let go.
    for n in range(100):
        throttle.failed(f"198.51.100.{n}")
    assert len(throttle) == 3
    # An address that stopped failing is forgotten after a while (once it waited its delay).
    throttle.failed("203.0.113.9")
    now[0] += 61
    assert throttle.retry_after("203.0.113.9") == 0
    throttle.failed("203.0.113.9")
    assert throttle.retry_after("203.0.113.9") == 1  # counted afresh


def test_the_client_address_is_the_peer_unless_a_trusted_proxy_names_it() -> None:
    proxies = networks("10.0.0.0/8, ::1")
    cases = [  # peer, X-Forwarded-For, trusted proxies -> the client
        ("192.0.2.1", "203.0.113.7", [], "192.0.2.1"),  # the header is anyone's to write
        ("192.0.2.1", "203.0.113.7", proxies, "192.0.2.1"),  # a peer that is no proxy of ours
        ("10.0.0.5", "203.0.113.7", proxies, "203.0.113.7"),
        ("10.0.0.5", "198.51.100.1, 203.0.113.7, 10.0.0.9", proxies, "203.0.113.7"),  # spoofed left
        ("::1", None, proxies, "::1"),
        ("10.0.0.5", "10.0.0.6", proxies, "10.0.0.6"),  # only proxies: the left-most
    ]
    for peer, forwarded, trusted, client in cases:
        assert client_address(peer, forwarded, trusted) == client, (peer, forwarded)


async def test_trusting_every_address_as_a_proxy_is_warned_of_at_start(make_app: AppFactory) -> None:
    with structlog.testing.capture_logs() as logs:
        await make_app(api={"trusted_proxies": "10.0.0.1, ::/0"})
    [warning] = [entry for entry in logs if entry["log_level"] == "warning"
                 and entry.get("setting") == "api.trusted_proxies"]
    assert "any client" in warning["problem"]


async def test_wrong_tokens_behind_a_trusted_proxy_count_per_client(app: App, api: Api) -> None:
    app.api.throttle = FailureLimit(1, clock=lambda: 1000.0)

    async def login(token: str, forwarded: str) -> int:
        async with aiohttp.ClientSession() as client, client.post(
                f"{api.base}/login", json={"token": token},
                headers={"X-Forwarded-For": forwarded}) as response:
            return response.status

    # Not trusted: a new X-Forwarded-For per try does not escape the throttle.
    assert [await login("wrong", f"203.0.113.{n}") for n in range(3)] == [401, 429, 429]
    app.api.throttle = FailureLimit(1, clock=lambda: 1000.0)
    app.api.proxies = networks("127.0.0.1")
    assert [await login("wrong", "203.0.113.1") for _ in range(3)] == [401, 429, 429]
    assert await login(API_TOKEN, "203.0.113.2") == 200  # another client behind the same proxy


async def test_every_status_filter_takes_its_enum_and_refuses_the_rest(app: App, api: Api) -> None:
    """Each enum of a query parameter in the description is what the route takes: every value
    listed answers 200, any other 400 (a new filter without its enum, or a value the route
    refuses, fails here)."""
    await register(app.pool, "CP1", None, {1: None})
    document = openapi_document()
    filters = [(path.replace("{cp}", "CP1"), parameter["name"], parameter["schema"]["enum"])
               for path, item in document["paths"].items() for method, op in item.items()
               if method == "get" for parameter in op.get("parameters", [])
               if parameter["in"] == "query" and "enum" in parameter["schema"]]
    assert {(path, name) for path, name, _ in filters} >= {("/sessions", "status"),
                                                          ("/outbox", "status")}
    for path, name, values in filters:
        for value in values:
            assert (await api.request("GET", f"{path}?{name}={value}"))[0] == 200, (path, value)
        status, answer = await api.request("GET", f"{path}?{name}=no-such-{name}")
        assert status == 400 and "error" in answer, (path, name)
