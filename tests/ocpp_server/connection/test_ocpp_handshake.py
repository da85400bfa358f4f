"""The OCPP handshake under attack: bad ids, password floods, half-open upgrades, no password."""

from __future__ import annotations

import asyncio
import base64
from collections import Counter
from typing import Any

import pytest
import structlog.testing
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidHandshake, InvalidStatus

from csms.app import App
from csms.config import OcppSettings, Settings
from csms.domain.charge_points import register
from csms.security import exposure
from csms.security.throttle import FIRST_DELAY, FORGET_AFTER, FailureLimit
from tests.conftest import AppFactory
from tests.support import eventually, ws_url


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


async def refusal(url: str, **headers: str) -> Any:
    """The HTTP response a handshake is refused with; None when it is accepted."""
    try:
        async with connect(url, subprotocols=["ocpp1.6"],  # type: ignore[list-item]
                           additional_headers=headers, open_timeout=60):
            return None
    except InvalidStatus as refused:
        return refused.response


async def status_of(url: str, **headers: str) -> Any:
    """The HTTP status a handshake is refused with; None when it is accepted."""
    response = await refusal(url, **headers)
    return None if response is None else response.status_code


@pytest.mark.parametrize("segment", ["CP1%00", "CP%FF1", "CP%0A1", "%E2%80", "CP%7F"])
async def test_undecodable_or_control_character_id_is_400(app: App, segment: str) -> None:
    await register(app.pool, "CP1", "secret-pass-1", {1: None})
    assert await status_of(f"{ws_url(app)}/{segment}") == 400


async def test_wrong_password_flood_is_throttled_and_the_charger_still_connects(
        make_app: AppFactory) -> None:
    app = await make_app()
    await register(app.pool, "CP1", "right-password-1", {1: None})
    url, right = f"{ws_url(app)}/CP1", basic("CP1", "right-password-1")
    assert await status_of(url, Authorization=right) is None  # connected before the flood
    wrong = [refusal(url, Authorization=basic("CP1", f"guess-{n}")) for n in range(60)]
    *refused, legitimate = await asyncio.gather(*wrong, status_of(url, Authorization=right))
    assert legitimate is None  # got in during the flood
    statuses = Counter(response.status_code for response in refused)
    # 5 checks, then one more each time the (doubling) delay is over: a slow machine sees a few.
    assert set(statuses) <= {401, 429} and statuses[401] <= 10, statuses
    assert all(int(r.headers["Retry-After"]) >= 1 for r in refused if r.status_code == 429)
    assert await status_of(url, Authorization=right) is None


async def test_password_checks_beyond_the_queue_get_503(make_app: AppFactory) -> None:
    app = await make_app(max_pending_password_checks=1, auth_failures_per_charger=0,
                         auth_failures_per_address=0)
    await register(app.pool, "CP1", "right-password-1", {1: None})
    url = f"{ws_url(app)}/CP1"
    refused = await asyncio.gather(*(refusal(url, Authorization=basic("CP1", f"guess-{n}"))
                                     for n in range(60)))
    statuses = Counter(response.status_code for response in refused)
    assert set(statuses) == {401, 503}, statuses
    assert all(r.headers["Retry-After"] == "1" for r in refused if r.status_code == 503)


async def test_half_open_upgrades_count_per_address_and_time_out(make_app: AppFactory) -> None:
    app = await make_app(max_connections_per_ip=3, handshake_timeout=5)
    await register(app.pool, "CP1", "right-password-1", {1: None})
    url, right = f"{ws_url(app)}/CP1", basic("CP1", "right-password-1")
    slow = []
    for _ in range(5):  # a request that never ends (slowloris); 2 of them beyond the limit
        reader, writer = await asyncio.open_connection("127.0.0.1", app.ocpp.port)
        writer.write(b"GET /ocpp/CP1 HTTP/1.1\r\nHost: x\r\n")
        slow.append((reader, writer))
    assert await eventually(lambda: status_of(url, Authorization=right)) == 429
    for reader, writer in slow:  # the server drops every one of them
        assert await asyncio.wait_for(_closed(reader), 60)
        writer.close()
    assert await eventually(lambda: _accepted(url, right))


async def _closed(reader: asyncio.StreamReader) -> bool:
    try:
        return await reader.read() == b""
    except ConnectionResetError:
        return True


async def _accepted(url: str, authorization: str) -> bool:
    try:
        return await status_of(url, Authorization=authorization) is None
    except (OSError, TimeoutError, InvalidHandshake):  # a busy machine: try again
        return False


def test_failure_limit_grows_its_delay_and_forgets() -> None:
    now = [0.0]
    limit = FailureLimit(2, size=3, clock=lambda: now[0])
    for _ in range(2):
        assert limit.retry_after("CP1") == 0
        limit.start("CP1")
    assert limit.retry_after("CP1") > 0  # two checks under way: a third waits
    limit.finish("CP1", failed=True)
    limit.finish("CP1", failed=True)
    assert limit.retry_after("CP1") == FIRST_DELAY
    now[0] += FIRST_DELAY
    assert limit.retry_after("CP1") == 0  # one more try
    limit.start("CP1")
    limit.finish("CP1", failed=True)
    assert limit.retry_after("CP1") == 2 * FIRST_DELAY  # doubled
    limit.succeeded("CP1")
    assert limit.retry_after("CP1") == 0
    for key in ("A", "B", "C", "D"):
        limit.start(key)
        limit.finish(key, failed=True)
    assert len(limit._keys) == 3  # bounded
    limit.start("E")
    limit.finish("E", failed=True)
    limit.start("E")
    limit.finish("E", failed=True)
    now[0] += FORGET_AFTER + 1
    assert limit.retry_after("E") == 0  # forgotten
    assert FailureLimit(0).retry_after("X") == 0  # no limit


async def test_charger_without_a_password_is_refused_unless_registered_so(
        make_app: AppFactory) -> None:
    app = await make_app()
    await register(app.pool, "CP1", None, {1: None})  # profile 1, Basic auth, yet no password
    await register(app.pool, "CP0", None, {1: None}, security_profile=0)  # explicitly none
    response = await refusal(f"{ws_url(app)}/CP1")
    assert response.status_code == 401 and b"No password registered" in response.body
    assert await status_of(f"{ws_url(app)}/CP1", Authorization=basic("CP1", "anything")) == 401
    assert await status_of(f"{ws_url(app)}/CP0") is None
    with structlog.testing.capture_logs() as logs:
        relaxed = await make_app(allow_unauthenticated=True)
    assert any(entry.get("setting") == "ocpp.allow_unauthenticated"
               and entry["log_level"] == "warning" for entry in logs)
    assert await status_of(f"{ws_url(relaxed)}/CP1") is None


@pytest.mark.parametrize(("setting", "value"), [
    ("allow_unauthenticated", True), ("accept_unknown_charge_points", True),
    ("auth_failures_per_charger", 0), ("auth_failures_per_address", 0),
    ("handshake_timeout", 0), ("max_connections_per_ip", 0)])
def test_each_relaxation_is_named_at_start(setting: str, value: Any) -> None:
    settings = Settings()
    settings.ocpp = OcppSettings(host="127.0.0.1")
    assert exposure.violations(settings) == []  # the defaults relax nothing
    settings.ocpp = OcppSettings(host="127.0.0.1", **{setting: value})
    assert [v for v in exposure.violations(settings) if setting in v.line()]
