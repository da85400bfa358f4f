"""The console's charging profiles and composite schedule against the load manager's intent, in Chromium."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from csms.app import App
from csms.domain.charge_points import register
from simulators.chargepoint import SimConfig
from simulators.chargepoint16 import ChargePoint16
from tests.conftest import AppFactory
from tests.support import Api, ws_url
from tests.test_console import api_for, browser, screenshot  # noqa: F401  (fixtures)
from tests.test_console import base as console_base

PROFILES = "/charge-points/CP1/charging-profiles"


async def _intend(app: App, evse: int, amps: str) -> None:
    """What the load manager writes when it allows an EVSE a current (interface 3)."""
    await app.pool.execute(
        """INSERT INTO evse_allowances (charge_point_id, evse, amps, status)
           VALUES ('CP1', $1, $2, 'Accepted')
           ON CONFLICT (charge_point_id, evse) DO UPDATE SET amps = EXCLUDED.amps""",
        evse, Decimal(amps))


async def test_allowances_show_what_the_load_manager_intends(app: App, api: Api) -> None:
    status, answer = await api.request("GET", "/charge-points/NOPE/allowances")
    assert status == 404, answer
    await register(app.pool, "CP1", None, {1: None, 2: None}, security_profile=0)
    assert await api.get("/charge-points/CP1/allowances") == [
        {"evse": 1, "amps": None}, {"evse": 2, "amps": None}]  # not managed
    await _intend(app, 2, "12.5")
    assert await api.get("/charge-points/CP1/allowances") == [
        {"evse": 1, "amps": None}, {"evse": 2, "amps": 12.5}]


async def test_profiles_and_composite_schedule_in_chromium(
        make_app: AppFactory, browser: Any, api_for: Any) -> None:  # noqa: F811  (fixtures)
    from playwright.async_api import expect

    app = await make_app()
    api = await api_for(app)
    await register(app.pool, "CP1", None, {1: None, 2: None}, security_profile=0)
    sim = ChargePoint16(SimConfig("CP1", ws_url(app), connectors=2))
    await sim.start()
    try:
        # The charger holds a maximum of 20 A set through the API; the load manager means 16 A.
        status, answer = await api.post(PROFILES, {"evse": 0, "profile": {
            "id": 1, "stack_level": 0, "purpose": "ChargePointMax", "unit": "A",
            "periods": [{"start": 0, "limit": 20}]}})
        assert status == 200, answer
        await _intend(app, 1, "16")

        page = await browser.new_page(viewport={"width": 1280, "height": 800})
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        await page.goto(console_base(app) + "/#/chargers/CP1")
        await page.fill("#token", "test-token")
        await page.click("form.login button")
        first = page.locator('#profiles tr[data-profile="1"]')
        await expect(first).to_contain_text("ChargePointMax")
        await expect(first.locator(".profile-status")).to_have_text("Accepted")

        # Against the maximum alone, the charger allows 20 A: a mismatch, marked on the chart.
        await page.click("#composite-ask")
        await expect(page.locator("#composite polyline.reported")).to_have_count(1)
        await expect(page.locator("#composite polyline.intended")).to_have_count(1)
        await expect(page.locator("#composite-verdict")).to_have_text(
            "Mismatch: the charger allows 20 A now, the load manager intends 16 A.")
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
        assert set(sim.profiles.held) == {1, 2}

        # Now the charger allows what the load manager intends: no mismatch, no mark.
        await page.click("#composite-ask")
        await expect(page.locator("#composite-verdict")).to_have_text("As intended: 16 A now.")
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
        assert set(sim.profiles.held) == {1, 2}
        await page.fill("#profile-json", '{"evse": 2, "profile": {"id": 3, "stack_level": 0, '
                        '"purpose": "TxDefault", "periods": [{"start": 0, "limit": 8}]}}')
        await page.click("#set-json")
        await expect(page.locator('#profiles tr[data-profile="3"]')).to_contain_text("0 s: 8 A")
        assert set(sim.profiles.held) == {1, 2, 3}

        # Cleared from its row: gone from the charger and the list.
        await first.locator("button.clear").click()
        await expect(page.locator("#charging-outcome")).to_have_text("Clear #1: accepted (Accepted)")
        await expect(first).to_have_count(0)
        assert set(sim.profiles.held) == {2, 3}

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
