"""The admin API over real HTTP: authentication, bad input, registration, tokens, OpenAPI."""

from __future__ import annotations

import aiohttp

from csms.app import App
from tests.support import Api


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
    described = {(path, method) for path, item in document["paths"].items() for method in item}
    served = set()
    for route in app.api.app.router.routes():
        canonical = route.resource.canonical if route.resource else ""
        path = canonical.removeprefix("/api/v1")
        # Probes sit outside the API (for load balancers and orchestrators), as does its description.
        if route.method in ("GET", "POST") and path != "/openapi.json" and path != canonical:
            served.add((path, route.method.lower()))
    assert served == described


async def test_register_charge_point_and_evses(app: App, api: Api) -> None:
    status, created = await api.post("/charge-points", {
        "id": "CP9", "password": "pw-123456", "evses": {"1": "DE*ABC*E9*1", "2": "DE*ABC*E9*2"}})
    assert status == 201
    assert [e["evse_id"] for e in created["evses"]] == ["DE*ABC*E9*1", "DE*ABC*E9*2"]
    assert "password_hash" not in created and created["live"] is False
    status, clash = await api.post("/charge-points", {"id": "CP8", "evses": {"1": "DE*ABC*E9*1"}})
    assert status == 409
    listed = await api.get("/charge-points")
    assert [cp["id"] for cp in listed] == ["CP9"]  # the clash left nothing behind


async def test_bad_requests_get_clear_errors_and_change_nothing(app: App, api: Api) -> None:
    cases = [
        ("POST", "/charge-points", {"data": b"{not json"}, 400, "not valid JSON"),
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
    assert await api.get("/charge-points") == []
    assert await api.get("/tokens") == []


async def test_tokens(app: App, api: Api) -> None:
    status, token = await api.post("/tokens", {"uid": "CARD1", "expires_at": "2030-01-01T00:00:00Z"})
    assert status == 201 and token["status"] == "accepted"
    assert token["expires_at"] == "2030-01-01T00:00:00.000Z"
    assert (await api.post("/tokens/CARD1/block"))[1]["status"] == "blocked"
    assert (await api.get("/tokens/CARD1"))["status"] == "blocked"
    assert (await api.post("/tokens/CARD1/unblock"))[1]["status"] == "accepted"


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
