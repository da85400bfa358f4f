"""The web console: its login cookie, the live event stream, the OCPP message log, its pages in Chromium."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest

from csms.app import App
from csms.domain.charge_points import assign_sites, register
from csms.ocpp.messages import FRAME_CHARS, Frame, MessageLog
from csms.operator.console.feed import CHANNEL
from csms.operator.console.sessions import ConsoleSessions
from simulators.chargepoint import SimConfig
from simulators.chargepoint16 import ChargePoint16
from simulators.partners.hubject import SimulatedHubject
from tests.conftest import AppFactory
from tests.oicp.test_oicp_evse_data import demo_site
from tests.support import API_TOKEN, Api, eventually, oicp_settings, ws_url

CHROMIUM = os.environ.get("CSMS_CHROMIUM", "/usr/bin/chromium")
# A directory: the browser test writes the README's screenshots there (docs/screenshots).
SCREENSHOTS = os.environ.get("CSMS_CONSOLE_SCREENSHOTS")


def base(app: App) -> str:
    return f"http://127.0.0.1:{app.api.port}"


# --- the message log ---------------------------------------------------------------------------


def test_message_log_keeps_a_bounded_ring_and_copies_only_watched_chargers() -> None:
    log = MessageLog(size=3)
    seen: list[Frame] = []
    for n in range(5):
        log.record("CP1" if n % 2 == 0 else "CP2", "in", f"[2,\"{n}\",\"Heartbeat\",{{}}]")
    assert [f.text for f in log.recent("CP1")] == ['[2,"2","Heartbeat",{}]', '[2,"4","Heartbeat",{}]']
    assert [f.text for f in log.recent("CP2")] == ['[2,"3","Heartbeat",{}]']  # "1" left the ring
    assert log.recent("CP1", limit=1)[0].text == '[2,"4","Heartbeat",{}]'

    log.watch("CP1", seen.append)
    log.record("CP2", "out", "[3,\"5\",{}]")
    log.record("CP1", "out", b"[3,\"6\",{}]")
    assert [(f.charge_point_id, f.direction, f.text) for f in seen] == [("CP1", "out", '[3,"6",{}]')]
    log.unwatch("CP1", seen.append)
    assert log.watched() == []
    log.record("CP1", "in", "x" * (FRAME_CHARS + 10))
    assert len(seen) == 1  # no longer watched
    assert len(log.recent("CP1")[-1].text) == FRAME_CHARS + 1  # cut, marked with "…"


# --- login and the cookie ----------------------------------------------------------------------


async def test_console_pages_are_public_and_the_api_needs_the_token_or_the_cookie(app: App) -> None:
    url = base(app)
    async with aiohttp.ClientSession() as anonymous:
        async with anonymous.get(url + "/") as response:
            assert response.status == 200 and "/console/js/app.js" in await response.text()
        async with anonymous.get(url + "/console/js/chargers.js") as response:
            assert response.status == 200
        for path in ("/api/v1/events", "/api/v1/partners", "/api/v1/charge-points/CP1/messages",
                     "/api/v1/charge-points"):
            async with anonymous.get(url + path) as response:
                assert response.status == 401, path
        async with anonymous.get(url + "/api/v1/events",
                                 cookies={"csms_console": "forged"}) as response:
            assert response.status == 401
        for sent, status in (({"token": "wrong"}, 401), ({}, 400), ({"token": 7}, 400)):
            async with anonymous.post(url + "/api/v1/login", json=sent) as response:
                assert response.status == status, sent

    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as browser:
        async with browser.post(url + "/api/v1/login", json={"token": API_TOKEN}) as response:
            assert response.status == 200
            cookie = response.headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and API_TOKEN not in cookie
        async with browser.get(url + "/api/v1/charge-points") as response:
            assert response.status == 200
        async with browser.get(url + "/api/v1/events") as response:
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/event-stream")
            assert b"event: ready" in await response.content.readuntil(b"event: ready")
        # Credentials that are wrong are refused even with a good cookie.
        async with browser.get(url + "/api/v1/charge-points",
                               headers={"Authorization": "Bearer wrong"}) as response:
            assert response.status == 401
        async with browser.post(url + "/api/v1/logout", json={},
                                headers={"Origin": url}) as response:
            assert response.status == 200
        async with browser.get(url + "/api/v1/charge-points") as response:
            assert response.status == 401


async def logged_in(url: str, cookies: dict[str, str] | None = None) -> aiohttp.ClientSession:
    """A browser's session with the console's cookie (or the cookie given)."""
    browser = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True), cookies=cookies)
    if cookies is None:
        async with browser.post(url + "/api/v1/login", json={"token": API_TOKEN}) as response:
            assert response.status == 200
    return browser


async def test_a_change_with_the_cookie_must_come_from_the_console_itself(app: App, api: Api) -> None:
    url = base(app)
    await api.post("/tokens", {"uid": "CARD1"})
    cross_site = [  # what another site's page can make a logged-in browser send
        ("/tokens/CARD1/block", {"data": "x", "headers": {"Content-Type": "text/plain",
                                                          "Origin": url}}),
        ("/tokens/CARD1/block", {"data": {"a": "b"}, "headers": {"Origin": url}}),  # a form
        ("/tokens/CARD1/block", {"json": {}, "headers": {"Origin": "http://127.0.0.1:1"}}),
        ("/tokens/CARD1/block", {"json": {}, "headers": {"Origin": "null"}}),
        ("/tokens/CARD1/block", {"json": {}, "headers": {"Sec-Fetch-Site": "same-site"}}),
        ("/tokens/CARD1/block", {"json": {}}),  # neither Origin nor Sec-Fetch-Site
        ("/tokens", {"json": {"uid": "CARD2"}, "headers": {"Origin": url.replace("http", "https")}}),
    ]
    browser = await logged_in(url)
    try:
        for path, kwargs in cross_site:
            async with browser.post(url + "/api/v1" + path, **kwargs) as response:
                assert response.status == 403, (path, kwargs)
                assert "console" in (await response.json())["error"]
        assert [t["status"] for t in await api.items("/tokens")] == ["accepted"]  # nothing changed
        # The console's own requests: JSON with its Origin, or same-origin without one, and
        # behind a TLS proxy its https origin.
        for headers in ({"Origin": url}, {"Sec-Fetch-Site": "same-origin"},
                        {"Origin": url.replace("http", "https"), "X-Forwarded-Proto": "https"}):
            async with browser.post(url + "/api/v1/tokens/CARD1/unblock", json={},
                                    headers=headers) as response:
                assert response.status == 200, headers
        async with browser.get(url + "/api/v1/tokens",
                               headers={"Origin": "http://127.0.0.1:1"}) as response:
            assert response.status == 200  # reading changes nothing (and CORS keeps the answer)
    finally:
        await browser.close()
    # Bearer clients are no browser: no Origin asked for (though JSON it must be).
    status, _ = await api.request("POST", "/tokens", json={"uid": "CARD3"},
                                  headers={"Origin": "http://127.0.0.1:1"})
    assert status == 201
    assert (await api.post("/tokens/CARD1/block"))[0] == 200


async def test_console_sessions_end_at_logout_expiry_and_idle_on_every_node(
        make_app: AppFactory) -> None:
    first = await make_app()
    second = await make_app()  # another node of the cluster, on the same database
    url = base(first)
    browser = await logged_in(url)
    try:
        [cookie] = [c for c in browser.cookie_jar if c.key == "csms_console"]
        session_id = cookie.value
        assert cookie["max-age"] == "28800" and cookie["httponly"] and cookie["samesite"] == "Strict"
        stored = await first.pool.fetchval("SELECT id_hash FROM console_sessions")
        assert session_id.encode() not in stored and len(session_id) >= 43  # 256 random bits
        async with browser.get(base(second) + "/api/v1/charge-points") as response:
            assert response.status == 200
        async with browser.post(url + "/api/v1/logout", json={}, headers={"Origin": url}) as response:
            assert response.status == 200
    finally:
        await browser.close()
    # The cookie a logout left behind (or a copy of it) no longer works, on either node.
    for node in (first, second):
        async with aiohttp.ClientSession(cookies={"csms_console": session_id}) as copy:
            async with copy.get(base(node) + "/api/v1/charge-points") as response:
                assert response.status == 401

    async def refused_after(change: str) -> None:
        browser = await logged_in(url)
        try:
            async with browser.get(url + "/api/v1/charge-points") as response:
                assert response.status == 200
            await first.pool.execute(change)
            async with browser.get(url + "/api/v1/charge-points") as response:
                assert response.status == 401, change
        finally:
            await browser.close()

    await refused_after("UPDATE console_sessions SET expires_at = now() - interval '1 second'")
    await refused_after("UPDATE console_sessions SET last_seen_at = now() - interval '61 minutes'")
    # Expired and idle sessions are swept at the next login.
    browser = await logged_in(url)
    await browser.close()
    assert await first.pool.fetchval("SELECT count(*) FROM console_sessions") == 1
    # Keyed with the API token: a node with a new token knows none of the old sessions.
    session_id = await first.api.sessions.open()
    assert await first.api.sessions.valid(session_id)
    assert not await ConsoleSessions(first.pool, "a new token", 3600, 0).valid(session_id)


# --- the live feed -------------------------------------------------------------------------------


class Stream:
    """A server-sent event stream read over real HTTP, with the bearer token."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response
        self.events: list[tuple[str, Any]] = []

    async def read(self) -> tuple[str, Any]:
        name, data = "", ""
        while True:
            line = (await self.response.content.readline()).decode().rstrip("\n")
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data = line[6:]
            elif line == "" and name:
                event = (name, json.loads(data))
                self.events.append(event)
                return event

    async def until(self, wanted: Any, timeout: float = 10.0) -> tuple[str, Any]:
        """The first event, read so far or from now on, that is wanted (order across kinds of
        events is not guaranteed: a frame is streamed at once, a domain event after its commit)."""
        for event in self.events:
            if wanted(*event):
                return event
        async with asyncio.timeout(timeout):
            while True:
                event = await self.read()
                if wanted(*event):
                    return event


async def open_stream(http: aiohttp.ClientSession, app: App, **query: str
                      ) -> AsyncIterator[Stream]:
    async with http.get(base(app) + "/api/v1/events", params=query,
                        headers={"Authorization": f"Bearer {API_TOKEN}"}) as response:
        assert response.status == 200
        stream = Stream(response)
        await stream.until(lambda name, data: name == "ready")
        yield stream


async def test_stream_sends_committed_events_and_the_watched_chargers_frames(
        app: App, api: Api) -> None:
    await register(app.pool, "CP1", None, {1: None}, events=app.events, security_profile=0)
    sim = ChargePoint16(SimConfig("CP1", ws_url(app), meter_interval=None))
    async with aiohttp.ClientSession() as http:
        async for stream in open_stream(http, app, charge_point="CP1"):
            await sim.start()
            try:
                await stream.until(lambda n, d: n == "domain" and d["type"] == "connected")
                await stream.until(lambda n, d: n == "domain" and d == {
                    **d, "type": "evse_status", "charge_point_id": "CP1", "evse_number": 1,
                    "status": "available"})
                _, boot = await stream.until(lambda n, d: n == "frame" and "BootNotification"
                                             in d["frame"])
                assert boot["direction"] == "in" and boot["at"].endswith("Z")
                await stream.until(lambda n, d: n == "frame" and d["direction"] == "out")
            finally:
                await sim.stop()
            await stream.until(lambda n, d: n == "domain" and d["type"] == "disconnected")
    frames = await api.items("/charge-points/CP1/messages")
    assert any("BootNotification" in f["frame"] and f["direction"] == "in" for f in frames)
    assert all(f["charge_point_id"] == "CP1" for f in frames)
    status, _ = await api.request("GET", "/charge-points/NOPE/messages")
    assert status == 404
    status, error = await api.request("GET", "/events?charge_point=%0A")
    assert status == 400 and "charge_point" in error["error"]


async def test_nothing_is_notified_while_no_console_is_open(app: App) -> None:
    """The cost of the console for a fleet nobody watches: not even a NOTIFY per event."""
    received: list[str] = []
    listening = await asyncpg.connect(app.database_url)
    try:
        await listening.add_listener(CHANNEL, lambda *args: received.append(args[-1]))
        await register(app.pool, "CP1", None, {1: None}, events=app.events, security_profile=0)
        await asyncio.sleep(0.3)
        assert received == []
        assert app.console is not None
        client = await app.console.join(None, None)
        try:
            await register(app.pool, "CP2", None, {1: None}, events=app.events, security_profile=0)
            await eventually(lambda: asyncio.sleep(0, received))
            assert json.loads(received[0]) == {"type": "evse_data", "charge_point_id": "CP2"}
            # The app's own listener may hear it after the test's: the client stays until then.
            item = await asyncio.wait_for(client.queue.get(), 5)
            assert item is not None and b'"charge_point_id":"CP2"' in item
        finally:
            app.console.leave(client)
    finally:
        await listening.close()


async def test_partners_overview(make_app: AppFactory, hubject: SimulatedHubject, api_for: Any) -> None:
    app = await make_app(oicp=oicp_settings(hubject))
    await register(app.pool, "CP1", None, {1: "DE*ABC*E0001*1"}, events=app.events, security_profile=0)
    await assign_sites(app.pool, app.events, [replace(demo_site(), evses={})])
    api = await api_for(app)

    async def delivered() -> Any:
        [hub] = await api.items("/partners")
        return hub if hub["last_data_push"] and hub["last_data_push"]["status"] == "delivered" \
            else None

    hub = await eventually(delivered)
    assert hub["partner"] == "hubject" and hub["state"] == "ok" and hub["registration"] == "enabled"
    assert hub["outbox"]["delivered"] >= 1 and hub["outbox"]["failed"] == 0
    assert hub["last_delivered_at"].endswith("Z")


@pytest.fixture
async def api_for() -> AsyncIterator[Any]:
    clients: list[Api] = []

    async def make(app: App) -> Api:
        client = Api(f"{base(app)}/api/v1")
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.http.close()


# --- the pages in a real browser -----------------------------------------------------------------


def chromium() -> str:
    """Chromium must be there in CI (.ci/run installs it); on a developer's machine without it
    the browser tests are skipped."""
    try:
        import playwright  # noqa: F401
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("playwright is missing: pip install -e '.[dev]'")
        pytest.skip("playwright is not installed")
    if not os.access(CHROMIUM, os.X_OK):
        if os.environ.get("CI"):
            pytest.fail(f"no Chromium at {CHROMIUM}: apt-get install chromium (see .ci/run)")
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    return CHROMIUM


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    executable = chromium()
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        # No sandbox: CI runs as root, where Chromium's sandbox refuses to start.
        launched = await playwright.chromium.launch(executable_path=executable,
                                                    args=["--no-sandbox"])
        yield launched
        await launched.close()


async def screenshot(page: Any, name: str) -> None:
    if SCREENSHOTS:
        await asyncio.to_thread(Path(SCREENSHOTS).mkdir, parents=True, exist_ok=True)
        await page.screenshot(path=str(Path(SCREENSHOTS) / f"{name}.png"))


async def test_console_in_chromium(make_app: AppFactory, hubject: SimulatedHubject,
                                   browser: Any, api_for: Any) -> None:
    from playwright.async_api import expect

    app = await make_app(oicp=oicp_settings(hubject))
    api = await api_for(app)
    await api.post("/tokens", {"uid": "MYCARD"})
    page = await browser.new_page(viewport={"width": 1280, "height": 800})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.goto(base(app) + "/#/chargers")

    # The login: a wrong token is refused, the right one opens the chargers list.
    await page.fill("#token", "wrong")
    await page.click("form.login button")
    await expect(page.locator("#login-error")).to_contain_text("wrong token")
    await page.fill("#token", API_TOKEN)
    await page.click("form.login button")
    await expect(page.locator("#charger-count")).to_contain_text("0 chargers")
    await expect(page.locator("#live")).to_have_class("live on")

    # A charger registered meanwhile appears, connects and reports its status: all live.
    await register(app.pool, "CP1", None, {1: "DE*ABC*E0001*1"}, events=app.events, security_profile=0)
    await assign_sites(app.pool, app.events, [replace(demo_site(), evses={})])
    row = page.locator('tr[data-id="CP1"]')
    await expect(row.locator(".state")).to_have_text("offline")
    sim = ChargePoint16(SimConfig("CP1", ws_url(app), meter_interval=0.3, sample_seconds=60))
    await sim.start()
    try:
        await expect(row.locator(".state")).to_have_text("online")
        await expect(row.locator('.evse[data-evse="1"]')).to_have_text("1 available")
        await expect(row).to_contain_text("SimVendor SimModel")
        await screenshot(page, "chargers")

        # The charger's page: a remote start with the button, its outcome, the status and log live.
        await row.locator("a").click()
        card = page.locator('.evse-card[data-evse="1"]')
        await expect(card.locator(".evse-status")).to_have_text("available")
        await expect(page.locator("#ocpp-log")).to_contain_text("BootNotification")
        await card.locator("input.token").fill("MYCARD")
        await card.locator("button.start").click()
        await expect(page.locator("#outcome")).to_contain_text("Start on EVSE 1: accepted")
        await expect(card.locator(".evse-status")).to_have_text("charging")
        await expect(page.locator("#ocpp-log")).to_contain_text("RemoteStartTransaction")
        await expect(page.locator("#ocpp-log")).to_contain_text("StartTransaction")
        await expect(card.locator("button.stop")).to_be_visible()
        # What the charger manages besides its EVSEs: a firmware update shown as it goes, live.
        await expect(page.locator("#certificates")).to_contain_text("No certificates known")
        status, job = await api.post("/charge-points/CP1/firmware",
                                     {"location": "https://firmware.example.com/cp-2.1.bin"})
        assert status == 201, job
        job_row = page.locator(f'#jobs tr[data-job="{job["id"]}"]')
        await expect(job_row.locator(".job-state")).to_have_text("installed")
        await expect(job_row).to_contain_text("Firmware update")
        await screenshot(page, "charger")

        # The session in the list, then its page with the chart drawn from the meter values.
        await page.click('#nav a[data-page="sessions"]')
        session_row = page.locator('#sessions tr[data-status="active"]')
        await expect(session_row).to_have_count(1)
        await expect(session_row.locator(".token")).to_have_text("MYCARD")
        await screenshot(page, "sessions")
        await session_row.locator("a").first.click()
        await expect(page.locator("#session-facts")).to_contain_text("MYCARD")
        await expect(page.locator("#chart polyline.energy")).to_have_count(1)
        await page.wait_for_timeout(1500)  # a few more meter values, drawn live
        await screenshot(page, "session")

        # Roaming: Hubject with its outbox and the last pushes.
        await page.click('#nav a[data-page="roaming"]')
        hub = page.locator('.partner[data-partner="hubject"]')
        await expect(hub.locator(".link-state")).to_have_text("ok")
        await expect(hub).to_contain_text("EVSE data push: delivered")
        await expect(hub).to_contain_text("EVSE status push: delivered")
        await screenshot(page, "roaming")
        await hub.locator(".count.delivered").click()
        await expect(page.locator('.tabs [aria-selected="true"]')).to_have_text("delivered")
        await expect(page.locator("#outbox")).to_contain_text("PushEvseData")

        # A phone: the list still works at 375 px, without sideways scrolling of the page.
        await page.set_viewport_size({"width": 375, "height": 740})
        await page.goto(base(app) + "/#/chargers")
        await expect(page.locator('tr[data-id="CP1"] .state')).to_have_text("online")
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, width
        await screenshot(page, "phone")
    finally:
        await sim.stop()
    assert errors == []


async def test_the_console_asks_for_the_login_again_once_the_cookie_is_gone(
        app: App, browser: Any) -> None:
    from playwright.async_api import expect

    page = await browser.new_page()
    await page.goto(base(app) + "/#/sessions")
    await page.fill("#token", API_TOKEN)
    await page.click("form.login button")
    await expect(page.locator("h1")).to_have_text("Sessions")  # back where it was going
    await page.context.clear_cookies()
    await page.goto(base(app) + "/#/roaming")
    await expect(page.locator("#token")).to_be_visible()


async def test_an_event_stream_opened_with_the_cookie_ends_with_its_session(
        make_app: AppFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("csms.operator.console.web.KEEPALIVE", 0.1)
    first, second = await make_app(), await make_app()
    browser = await logged_in(base(first))
    try:
        async with browser.get(base(first) + "/api/v1/events") as stream:
            assert b"event: ready" in await stream.content.readuntil(b"event: ready")
            async with browser.post(base(second) + "/api/v1/logout", json={},
                                    headers={"Origin": base(second)}) as response:
                assert response.status == 200  # logged out on another node
            async with asyncio.timeout(30):
                rest = await stream.content.read()  # to the end: the server closed it
            assert b"event:" not in rest
    finally:
        await browser.close()
