"""The console's charging profiles and composite schedule against the load manager's intent, in Chromium."""

from __future__ import annotations

from typing import Any

from csms.app import App
from csms.domain.charge_points import register
from csms.storage.energy import energy_store
from simulators.chargepoint import SimConfig
from simulators.chargepoint16 import ChargePoint16
from tests.conftest import AppFactory
from tests.energy_support import make_site
from tests.operators.console.test_console import api_for, browser, screenshot  # noqa: F401  (fixtures)
from tests.operators.console.test_console import base as console_base
from tests.support import Api, eventually, ws_url

PROFILES = "/charge-points/CP1/charging-profiles"


async def _managed(app: App, api: Api) -> tuple[ChargePoint16, float]:
    """CP1 (two EVSEs) on a site limited to 40 A, a session on EVSE 1: what the load manager
    allows it, once its charger holds the profile."""
    await make_site(app, "DEPOT", {"CP1": 2})
    status, answer = await api.request("PUT", "/sites/DEPOT/limit", json={"amps": 40})
    assert status == 200, answer
    await api.post("/tokens", {"uid": "MYCARD"})
    sim = ChargePoint16(SimConfig("CP1", ws_url(app), connectors=2, meter_interval=60))
    await sim.start()
    await sim.start_local_session(1, "MYCARD")
    await eventually(lambda: _holds_tx(sim))
    amps = await eventually(lambda: energy_store.allowed(app.pool, "CP1", 1))
    return sim, float(amps)


async def _holds_tx(sim: ChargePoint16) -> bool:
    return any(h.purpose == "tx" for h in sim.profiles.held.values())


async def test_allowances_show_what_the_load_manager_intends(app: App, api: Api) -> None:
    status, answer = await api.request("GET", "/charge-points/NOPE/allowances")
    assert status == 404, answer
    await register(app.pool, "CP0", None, {1: None}, security_profile=0)
    assert await api.items("/charge-points/CP0/allowances") == [{"evse": 1, "amps": None}]
    sim, amps = await _managed(app, api)
    try:
        shown = await api.items("/charge-points/CP1/allowances")
        assert [a["evse"] for a in shown] == [1, 2] and shown[0]["amps"] == amps > 0
        stored = await energy_store.allowed(app.pool, "CP1", 2)
        assert shown[1]["amps"] == (float(stored) if stored is not None else None)
    finally:
        await sim.stop()


async def test_profiles_and_composite_schedule_in_chromium(
        make_app: AppFactory, browser: Any, api_for: Any) -> None:  # noqa: F811  (fixtures)
    from playwright.async_api import expect

    app = await make_app()
    api = await api_for(app)
    sim, intended = await _managed(app, api)
    try:
        # The charger also holds a maximum below that, set through the API.
        below = round(intended / 2, 1)
        status, answer = await api.post(PROFILES, {"evse": 0, "profile": {
            "id": 1, "stack_level": 0, "purpose": "ChargePointMax", "unit": "A",
            "periods": [{"start": 0, "limit": below}]}})
        assert status == 200, answer

        page = await browser.new_page(viewport={"width": 1280, "height": 800})
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        await page.goto(console_base(app) + "/#/chargers/CP1")
        await page.fill("#token", "test-token")
        await page.click("form.login button")
        first = page.locator('#profiles tr[data-profile="1"]')
        await expect(first).to_contain_text("ChargePointMax")
        await expect(first.locator(".profile-status")).to_have_text("Accepted")

        # Capped by that maximum, the charger allows less than intended: marked on the chart.
        await page.click("#composite-ask")
        await expect(page.locator("#composite polyline.reported")).to_have_count(1)
        await expect(page.locator("#composite polyline.intended")).to_have_count(1)
        await expect(page.locator("#composite-verdict")).to_have_text(
            f"Mismatch: the charger allows {below:g} A now, the load manager intends "
            f"{intended:g} A.")
        await expect(page.locator("#composite line.mark")).to_have_count(1)
        await page.locator("#charging").scroll_into_view_if_needed()
        await screenshot(page, "charging-mismatch")

        # The form: a default of 16 A, then 10 A after ten minutes, on EVSE 1.
        form = page.locator("#profile-form")
        await form.locator('[name="id"]').fill("2")
        await form.locator('[name="limit"]').fill("16")
        await page.click("#add-period")
        await form.locator('[name="start"]').nth(1).fill("600")
        await form.locator('[name="limit"]').nth(1).fill("10")
        await page.click("#set-profile")
        await expect(page.locator("#charging-outcome")).to_have_text("Set profile: accepted (Accepted)")
        second = page.locator('#profiles tr[data-profile="2"]')
        await expect(second).to_contain_text("0 s: 16 A, 600 s: 10 A")
        await expect(second.locator(".profile-status")).to_have_text("Accepted")
        assert {1, 2} <= set(sim.profiles.held)

        # Cleared from its row: gone from the charger and the list; the charger now allows what
        # the load manager intends: no mismatch, no mark.
        await first.locator("button.clear").click()
        await expect(page.locator("#charging-outcome")).to_have_text("Clear #1: accepted (Accepted)")
        await expect(first).to_have_count(0)
        assert 1 not in sim.profiles.held
        await page.click("#composite-ask")
        await expect(page.locator("#composite-verdict")).to_have_text(
            f"As intended: {intended:g} A now.")
        await expect(page.locator("#composite line.mark")).to_have_count(0)

        # JSON: not JSON is caught in the page; a bad profile is refused by the server, nothing sent.
        await page.click(".profile-json summary")
        await page.fill("#profile-json", "{nope")
        await page.click("#set-json")
        await expect(page.locator("#charging-outcome")).to_contain_text("Not JSON")
        await page.fill("#profile-json", '{"evse": 2, "profile": {"id": 3, "stack_level": 0, '
                        '"purpose": "TxDefault", "periods": [{"start": 60, "limit": 8}]}}')
        await page.click("#set-json")
        await expect(page.locator("#charging-outcome")).to_have_text(
            "Set profile: invalid (the first period must start at 0)")
        assert 3 not in sim.profiles.held
        await page.fill("#profile-json", '{"evse": 2, "profile": {"id": 3, "stack_level": 0, '
                        '"purpose": "TxDefault", "periods": [{"start": 0, "limit": 8}]}}')
        await page.click("#set-json")
        await expect(page.locator('#profiles tr[data-profile="3"]')).to_contain_text("0 s: 8 A")
        assert {2, 3} <= set(sim.profiles.held)

        # A phone: the same page and chart at 375 px, without sideways scrolling of the page.
        await page.set_viewport_size({"width": 375, "height": 740})
        await page.reload()
        await expect(page.locator('#profiles tr[data-profile="2"]')).to_be_visible()
        await page.click("#composite-ask")
        await expect(page.locator("#composite polyline.reported")).to_have_count(1)
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, width
        await page.locator("#composite").scroll_into_view_if_needed()
        await screenshot(page, "charging-phone")
        assert errors == []
    finally:
        await sim.stop()
