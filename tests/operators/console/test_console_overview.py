"""The console answers the operator, in real Chromium at desktop and phone width: the overview, a
charger's session and fault, a session's cost and roaming, partners' errors in words, the layout fixes."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ocpp.v16 import call

from csms.domain.billing.tariffs import put_tariffs
from csms.domain.charge_points import assign_sites, register
from csms.storage import store
from simulators.chargepoint import SimConfig
from simulators.chargepoint16 import ChargePoint16
from simulators.partners.hubject import SimulatedHubject
from tests.conftest import AppFactory
from tests.oicp.test_oicp_evse_data import demo_site
from tests.oicp.test_oicp_roaming import EVCO, cpo_url, remote_start_body
from tests.operators.console.test_console import api_for, base, browser, screenshot  # noqa: F401 (fixtures)
from tests.support import API_TOKEN, oicp_settings, ws_url

TARIFF = {"id": "AC-1", "currency": "EUR", "elements": [{"price_components": [
    {"type": "ENERGY", "price": 0.40, "vat": 19.0, "step_size": 1}]}]}
REFUSED = ("ClientConnectorError: Cannot connect to host hub.example.com:443 ssl:default "
           "[Connect call failed ('203.0.113.7', 443)]")
PHONE = {"width": 390, "height": 800}
# What the pages look at again every 5 s (power, energy, deliveries) rather than hear of.
POLLED = 20_000

# Layout facts, read from the page in one evaluation each.
ROW_TOPS = """(row) => [...row.cells].filter((c) => c.offsetParent !== null)
                          .map((c) => Math.round(c.getBoundingClientRect().top))"""
IN_ROW_BOX = """(li) => {
  const box = li.getBoundingClientRect(), wrap = li.closest('.log-wrap').getBoundingClientRect();
  const inside = (e) => { const r = e.getBoundingClientRect();
    return r.top >= box.top - 0.5 && r.bottom <= box.bottom + 0.5 && r.left >= box.left - 0.5
      && r.right <= box.right + 0.5 && r.right <= wrap.right + 0.5; };
  const time = li.querySelector('time'), code = li.querySelector('code');
  return inside(time) && inside(code) && time.getBoundingClientRect().top <= code.getBoundingClientRect().top
    && li.scrollWidth <= li.clientWidth + 1;
}"""


async def chart_label_heights(page: Any) -> list[float]:
    return list(await page.locator("#chart text.axis").evaluate_all(
        "(labels) => labels.map((l) => l.getBoundingClientRect().height)"))


async def test_the_console_answers_the_operator(make_app: AppFactory, hubject: SimulatedHubject,
                                                browser: Any, api_for: Any) -> None:  # noqa: F811
    from playwright.async_api import expect

    app = await make_app(oicp=oicp_settings(hubject))
    await put_tariffs(app.pool, app.events, [TARIFF])
    await register(app.pool, "CP1", None, {1: "DE*ABC*E0001*1", 2: "DE*ABC*E0001*2"},
                   events=app.events, security_profile=0)
    await register(app.pool, "CP2", None, {1: None}, events=app.events, security_profile=0)
    site = demo_site()
    await assign_sites(app.pool, app.events, [replace(site, evse=replace(site.evse, tariff="AC-1"),
                                                      evses={})])
    # What a refused connection left in the outbox, and a charger's security event.
    await app.pool.execute(
        """INSERT INTO outbox (partner, operation, path, body, status, attempts, last_error)
           VALUES ('hubject', 'PushEvseStatus', '/x', '{}', 'failed', 3, $1)""", REFUSED)
    # And one waiting for ten minutes, in a lane of its own (no worker takes it, none waits on it).
    await app.pool.execute(
        """INSERT INTO outbox (partner, operation, path, body, attempts, last_error, lane,
                               created_at, next_attempt_at)
           VALUES ('hubject', 'ChargeDetailRecord', '/x', '{}', 2, 'HTTP 503', 'test',
                   now() - interval '10 minutes', now() + interval '1 hour')""")
    await store.insert_report(app.pool, "CP2", "SecurityEventNotification",
                              {"type": "InvalidFirmwareSignature", "techInfo": "bad signature"})
    sim = ChargePoint16(SimConfig("CP1", ws_url(app), connectors=2, meter_interval=0.3,
                                  sample_seconds=60))
    page = await browser.new_page(viewport={"width": 1280, "height": 800})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.goto(base(app) + "/")
    await page.fill("#token", API_TOKEN)
    await page.click("form.login button")

    # The overview is the first page, and live: the charger connects, a roaming session starts.
    tiles = page.locator("#overview-tiles")
    await expect(tiles.locator('[data-metric="chargers"] .tile-value')).to_have_text("2")
    await expect(tiles.locator('[data-metric="online"]')).to_have_text("0 online")
    await sim.start()
    try:
        await expect(tiles.locator('[data-metric="online"]')).to_have_text("1 online")
        await expect(tiles.locator('[data-metric="offline"]')).to_have_text("1 offline")
        start = remote_start_body()
        answer = await hubject.remote_start(cpo_url(app), start)
        assert answer["Result"] is True, answer
        session_id = answer["CPOPartnerSessionID"]
        await expect(tiles.locator('[data-metric="sessions"] .tile-value')).to_have_text("1")
        await expect(tiles.locator('[data-metric="power"] .tile-value')).to_have_text(
            "11.0 kW", timeout=POLLED)
        await expect(tiles.locator('[data-metric="energy"] .tile-value')).not_to_have_text(
            "0.0 kWh", timeout=POLLED)
        # A fault, with the vendor's own words.
        await sim.call(call.StatusNotification(connector_id=2, error_code="GroundFailure",
                                               status="Faulted", info="RCD tripped",
                                               vendor_id="SimVendor", vendor_error_code="E42"))
        await expect(tiles.locator('[data-metric="faulted"]')).to_have_text("1 faulted")
        await expect(page.locator('#overview-faults tr[data-charger="CP1"]')).to_contain_text(
            "GroundFailure")
        await expect(page.locator('#overview-evses [data-status="charging"]')).to_have_text(
            "1 charging")
        await expect(page.locator("#overview-security")).to_contain_text("InvalidFirmwareSignature")
        hub = page.locator('#overview-partners tr[data-partner="hubject"]')
        await expect(hub).to_contain_text("Hubject")
        await expect(hub.locator(".failed")).to_have_text("1")
        await expect(hub.locator(".pending")).to_have_text("1")
        await expect(hub.locator(".oldest")).to_contain_text("10 min")
        await expect(hub).to_contain_text("HTTP 503 from Hubject")
        await screenshot(page, "overview")

        # The chargers list: a row's cells share their top; EVSE badges say their number.
        await page.click('#nav a[data-page="chargers"]')
        row = page.locator('tr[data-id="CP1"]')
        await expect(row.locator('.evse[data-evse="2"]')).to_have_text("2 faulted")
        await expect(row.locator('.evse[data-evse="1"]')).to_have_text("1 charging")
        tops = await row.evaluate(ROW_TOPS)
        assert len(set(tops)) == 1, tops

        # The charger: its session's power, energy, duration and cost; the fault in words;
        # only the buttons that fit; outcomes in words.
        await row.locator("a").first.click()
        charging = page.locator('.evse-card[data-evse="1"]')
        live = charging.locator(".live-session")
        await expect(live.locator(".power")).to_contain_text("11.0 kW", timeout=POLLED)
        await expect(live.locator(".energy")).to_contain_text("kWh")
        await expect(live.locator(".cost")).to_contain_text("EUR")
        await expect(charging.locator("button.start")).to_have_count(0)
        await expect(charging.locator("button.unlock")).to_have_count(0)
        await expect(charging.locator("button.make-unavailable")).to_have_count(1)
        await expect(charging.locator("button.make-available")).to_have_count(0)
        faulted = page.locator('.evse-card[data-evse="2"]')
        await expect(faulted.locator(".fault")).to_contain_text("GroundFailure")
        await expect(faulted.locator(".fault")).to_contain_text("vendor SimVendor code E42")
        await expect(faulted.locator(".fault")).to_contain_text("RCD tripped")
        await expect(faulted.locator("button.start")).to_have_count(0)
        # The charger as a whole in fault (connector 0), said live on its page.
        await sim.call(call.StatusNotification(connector_id=0, error_code="OtherError",
                                               status="Faulted", info="door open"))
        await expect(page.locator("#charger-fault")).to_have_text("Error OtherError — “door open”")
        await screenshot(page, "charger-live")
        await faulted.locator("button.make-unavailable").click()
        await expect(page.locator("#outcome")).to_have_text(
            "EVSE 2 unavailable: accepted by the charger")
        await expect(faulted.locator("button.make-available")).to_have_count(1)
        await expect(page.locator("#ocpp-log")).to_contain_text("ChangeAvailability")
        assert all(await page.locator("#ocpp-log li").evaluate_all(
            f"(items) => items.map({IN_ROW_BOX})")), "a frame outside its line's box"

        # A charger offline offers no command at all.
        await page.goto(base(app) + "/#/chargers/CP2")
        await expect(page.locator("#charger-state")).to_have_text("offline")
        await expect(page.locator(".offline-note")).to_have_count(1)
        await expect(page.locator("button.start")).to_have_count(0)
        await expect(page.locator("#reset-soft")).to_be_hidden()

        # The session: cost by its tariff, Hubject's ids, its chart from the session's start.
        await page.goto(base(app) + f"/#/sessions/{session_id}")
        facts = page.locator("#session-facts")
        await expect(facts.locator("#oicp-session-id")).to_have_text(start["SessionID"])
        await expect(facts.locator("#evco-id")).to_contain_text(EVCO)
        await expect(facts.locator("#session-cost")).to_contain_text("EUR")
        await expect(facts.locator("#session-tariff")).to_contain_text("AC-1")
        await expect(page.locator("#chart polyline.energy")).to_have_count(1)
        assert min(await chart_label_heights(page)) >= 11
        session = await store.get_session(app.pool, session_id)
        assert session is not None
        first_label = await page.evaluate("""(iso) => new Date(iso).toLocaleTimeString([],
            { hour: '2-digit', minute: '2-digit', second: '2-digit' })""",
                                          session["started_at"].isoformat())
        await expect(page.locator("#chart text.axis").filter(has_text=first_label)).to_have_count(1)
        began = session["started_at"].isoformat(timespec="milliseconds").replace("+00:00", "Z")
        await expect(page.locator("#chart svg")).to_have_attribute("data-from", began)
        # Stopped by Hubject: the CDR goes, and the page shows it delivered.
        stop = {k: start[k] for k in ("SessionID", "ProviderID", "EvseID", "EMPPartnerSessionID")}
        assert (await hubject.remote_stop(cpo_url(app), stop))["Result"] is True
        await expect(page.locator('#cdrs tr[data-status="delivered"]')).to_have_count(
            1, timeout=POLLED)
        await expect(facts.locator("#session-tariff")).to_contain_text("oicp CDR")
        await screenshot(page, "session-roaming")

        # Roaming: the partner by name, the error in words (the stored text on hover).
        await page.click('#nav a[data-page="roaming"]')
        card = page.locator('.partner[data-partner="hubject"]')
        await expect(card.locator(".last-failed")).to_contain_text(
            "connection refused by hub.example.com:443")
        await expect(card.locator(".last-error")).to_contain_text("HTTP 503 from Hubject")
        await expect(card.locator(".oldest")).to_contain_text("10 min")
        assert "ClientConnectorError" not in await card.inner_text()
        await screenshot(page, "roaming-errors")
        # Its outbox: by its name, each message's error in words.
        await card.locator(".count.failed").click()
        await expect(page.locator("#outbox-title")).to_have_text("Outbox of Hubject")
        await expect(page.locator("#outbox")).to_contain_text(
            "connection refused by hub.example.com:443")

        # A phone: the overview fits, the sessions keep their Status, the log's lines keep
        # their time with their frame, the chart's labels stay readable.
        await page.set_viewport_size(PHONE)
        await page.click('#nav a[data-page="overview"]')
        await expect(tiles.locator('[data-metric="chargers"] .tile-value')).to_have_text("2")
        assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        await screenshot(page, "phone-overview")
        await page.click('#nav a[data-page="chargers"]')
        row = page.locator('tr[data-id="CP1"]')
        await expect(row.locator('.evse[data-evse="2"]')).to_have_text("2 unavailable")
        tops = await row.evaluate(ROW_TOPS)
        assert len(tops) >= 3 and len(set(tops)) == 1, tops
        await page.click('#nav a[data-page="sessions"]')
        await page.locator('.tabs [data-view=""]').click()
        status = page.locator("#sessions tr").first.locator("td.status")
        await expect(status).to_have_text("completed")
        await screenshot(page, "phone-sessions")
        box = await page.locator("th.status").bounding_box()
        assert box is not None and box["x"] + box["width"] <= PHONE["width"], box
        await page.goto(base(app) + f"/#/sessions/{session_id}")
        await expect(page.locator("#chart polyline.energy")).to_have_count(1)
        heights = await chart_label_heights(page)
        assert min(heights) >= 11, heights
        await page.goto(base(app) + "/#/chargers/CP1")
        await expect(page.locator("#ocpp-log")).to_contain_text("ChangeAvailability")
        await page.locator("#ocpp-log").scroll_into_view_if_needed()
        await screenshot(page, "phone-log")
        lines = page.locator("#ocpp-log li")
        assert all(await lines.evaluate_all(f"(items) => items.map({IN_ROW_BOX})")), \
            "a frame outside its line's box"
    finally:
        await sim.stop()
    assert errors == []
