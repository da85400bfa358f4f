"""The tariffs' admin API: create, replace, read, assign and withdraw, as `csms tariffs` does."""

from __future__ import annotations

from typing import Any

import asyncpg

from csms.app import App
from csms.domain.charge_points import register
from csms.domain.events import DomainEvent, TariffAssigned, TariffChanged
from csms.domain.sites import EvseDetails
from csms.storage import store
from simulators.chargepoint import SimConfig
from simulators.chargepoint201 import ChargePoint201
from tests.energy_support import place
from tests.operators.console.test_console import browser  # noqa: F401  (the fixture)
from tests.support import API_TOKEN, Api, eventually, ws_url

AC = {"id": "AC", "currency": "EUR", "elements": [
    {"price_components": [{"type": "ENERGY", "price": 0.39, "vat": 19.0, "step_size": 1}]}]}


def recorded(app: App) -> list[Any]:
    """The tariff events published from now on (what the roaming bridges queue pushes from)."""
    seen: list[Any] = []

    async def keep(conn: asyncpg.Connection, event: DomainEvent) -> None:
        if isinstance(event, TariffChanged | TariffAssigned):
            seen.append(event)
    app.events.subscribe(keep)
    return seen


async def versions(app: App) -> int:
    return int(await app.pool.fetchval("SELECT count(*) FROM tariff_versions"))


async def test_a_tariff_is_created_read_listed_and_replaced_with_its_event(app: App,
                                                                           api: Api) -> None:
    events = recorded(app)
    status, created = await api.request("PUT", "/tariffs/AC", json={**AC, "id": "AC"})
    assert status == 201, created
    assert (created["id"], created["currency"], created["assignments"]) == ("AC", "EUR", [])
    assert created["tariff"] == AC
    assert await api.get("/tariffs/AC") == created
    page = await api.get("/tariffs")
    assert (page["items"], page["total"]) == ([created], 1)
    # The id may be left to the path; the same tariff again is no new version, no event.
    without_id = {k: v for k, v in AC.items() if k != "id"}
    assert (await api.request("PUT", "/tariffs/AC", json=without_id))[0] == 200
    assert len(events) == 1 and await versions(app) == 1
    dearer = {**AC, "elements": [{"price_components": [
        {"type": "ENERGY", "price": 0.45, "step_size": 1}]}]}
    status, replaced = await api.request("PUT", "/tariffs/AC", json=dearer)
    assert status == 200 and replaced["tariff"] == dearer
    assert [(e.tariff_id, e.data) for e in events] == [("AC", AC), ("AC", dearer)]
    assert await versions(app) == 2  # the old version kept: sessions priced by it keep it
    second = await api.request("PUT", "/tariffs/DC", json={**AC, "id": "DC"})
    assert second[0] == 201
    page = await api.get("/tariffs?limit=1&offset=1")
    assert ([t["id"] for t in page["items"]], page["total"]) == (["DC"], 2)


BAD = [  # (path, body, the reason's words)
    ("/tariffs/AC", {**AC, "id": "DC"}, "the body's id 'DC' is not the path's 'AC'"),
    ("/tariffs/AC", {**AC, "currency": "EURO"}, "currency must be an ISO 4217 code"),
    ("/tariffs/AC", {**AC, "elements": []}, "elements must list at least one element"),
    ("/tariffs/AC", {**AC, "elements": [{}]}, "every element needs price_components"),
    ("/tariffs/AC", {**AC, "elements": [{"price_components": [{"type": "KWH", "price": 1,
                                                               "step_size": 1}]}]},
     "a price component needs type"),
    ("/tariffs/AC", {**AC, "elements": [{"price_components": [{"type": "ENERGY",
                                                               "price": "1", "step_size": 1}]}]},
     "a price component needs type"),
    ("/tariffs/AC", {**AC, "elements": [{"price_components": [  # JSON's NaN, as Python writes it
        {"type": "ENERGY", "price": float("nan"), "step_size": 1}]}]}, "NaN is not a JSON value"),
    ("/tariffs/AC", [AC], "body must be a JSON object"),
    ("/tariffs/" + "X" * 37, {**AC, "id": "X" * 37}, "1 to 36 printable characters"),
    ("/tariff-assignments", {"evse_ids": ["DE*ABC*E0001*1"]}, "'tariff_id' is required"),
    ("/tariff-assignments", {"tariff_id": 5}, "'tariff_id' is required"),
    ("/tariff-assignments", {"tariff_id": "AC", "evse_ids": "DE*ABC*E0001*1"},
     "'evse_ids' lists EvseIDs"),
    ("/tariff-assignments", {"tariff_id": "AC", "provider_id": "nobody"},
     "a ProviderID such as DE-8EO"),
]


async def test_bad_input_is_refused_with_its_reason_and_changes_nothing(app: App,
                                                                       api: Api) -> None:
    assert (await api.request("PUT", "/tariffs/AC", json=AC))[0] == 201
    events = recorded(app)
    before = (await versions(app),
              await app.pool.fetchval("SELECT count(*) FROM tariff_assignments"))
    wrong = []
    for path, body, reason in BAD:
        status, answer = await api.request("PUT", path, json=body)
        if status != 400 or reason not in answer["error"] or "\n" in answer["error"]:
            wrong.append(f"PUT {path} {body}: {status} {answer}")
    assert wrong == [], "\n".join(wrong)
    assert (await versions(app),
            await app.pool.fetchval("SELECT count(*) FROM tariff_assignments")) == before
    assert events == [] and (await api.get("/tariffs/AC"))["tariff"] == AC


async def test_unknown_tariffs_are_404(api: Api) -> None:
    for method, path, body in (("GET", "/tariffs/NOPE", None), ("DELETE", "/tariffs/NOPE", None),
                               ("PUT", "/tariff-assignments", {"tariff_id": "NOPE"})):
        status, answer = await api.request(method, path, json=body)
        assert status == 404 and "'NOPE'" in answer["error"], (method, path, answer)


async def test_a_tariff_is_assigned_and_withdrawn_only_once_nothing_is_priced_by_it(
        app: App, api: Api) -> None:
    await register(app.pool, "CP1", None, {1: "DE*ABC*E0001*1"}, security_profile=0)
    assert (await api.request("PUT", "/tariffs/AC", json=AC))[0] == 201
    events = recorded(app)
    status, assigned = await api.request("PUT", "/tariff-assignments", json={
        "tariff_id": "AC", "evse_ids": ["DE*ABC*E0001*1", "DE*ABC*E0009*1"],
        "provider_id": "DE-8EO"})
    assert status == 200, assigned
    assert assigned["unregistered_evse_ids"] == ["DE*ABC*E0009*1"]
    assert [e.tariff_id for e in events] == ["AC"]
    listed = await api.items("/tariff-assignments")
    assert {(a["provider_id"], a["evse_id"], a["tariff_id"]) for a in listed} == {
        ("DE-8EO", "DE*ABC*E0001*1", "AC"), ("DE-8EO", "DE*ABC*E0009*1", "AC")}
    assert len((await api.get("/tariffs/AC"))["assignments"]) == 2

    status, answer = await api.request("DELETE", "/tariffs/AC")
    assert status == 409 and "assigned to DE*ABC*E0001*1 for DE-8EO" in answer["error"]
    assert (await api.get("/tariffs/AC"))["id"] == "AC"  # nothing withdrawn
    assert (await api.request("PUT", "/tariff-assignments", json={
        "tariff_id": None, "evse_ids": ["DE*ABC*E0001*1", "DE*ABC*E0009*1"],
        "provider_id": "DE-8EO"}))[0] == 200
    assert await api.items("/tariff-assignments") == []

    # A site naming it as its EVSEs' tariff prices by it too.
    await place(app, "S1", ["CP1"])
    site = await store.get_site(app.pool, "S1")
    assert site is not None
    await store.upsert_site(app.pool, "S1", {**site, "evse": {**site["evse"], "tariff": "AC"}})
    status, answer = await api.request("DELETE", "/tariffs/AC")
    assert status == 409 and "named by site(s) S1" in answer["error"], answer
    await store.upsert_site(app.pool, "S1", {**site, "evse": {**site["evse"], "tariff": ""}})
    assert EvseDetails().tariff == ""

    status, answer = await api.request("DELETE", "/tariffs/AC")
    assert status == 200, answer
    assert events[-1] == TariffChanged("AC", None, events[-1].valid_from)  # partners told
    assert (await api.request("GET", "/tariffs/AC"))[0] == 404
    assert (await api.get("/tariffs"))["total"] == 0
    assert await versions(app) == 2  # the priced version stays for the sessions it priced
    # Withdrawn, it cannot be assigned.
    assert (await api.request("PUT", "/tariff-assignments", json={"tariff_id": "AC"}))[0] == 404


async def test_a_tariff_pricing_a_session_in_progress_is_not_withdrawn(app: App, api: Api) -> None:
    """Assigned when the session started, unassigned since: the session is still priced by it
    (its CDR names it), so it stays until the session ended; for a Hubject session, its EMP's
    own tariff too."""
    await register(app.pool, "CP1", None, {1: "DE*ABC*E0001*1"}, security_profile=0)
    assert (await api.request("PUT", "/tariffs/AC", json=AC))[0] == 201
    assert (await api.request("PUT", "/tariffs/DEAL", json={**AC, "id": "DEAL"}))[0] == 201
    assert (await api.request("PUT", "/tariff-assignments", json={
        "tariff_id": "AC", "evse_ids": ["DE*ABC*E0001*1"]}))[0] == 200
    assert (await api.request("PUT", "/tariff-assignments", json={
        "tariff_id": "DEAL", "evse_ids": ["DE*ABC*E0001*1"], "provider_id": "DE-8EO"}))[0] == 200
    assert (await api.post("/tokens", {"uid": "CARD1"}))[0] == 201
    sim = ChargePoint201(SimConfig(charge_point_id="CP1", url=ws_url(app)))
    await sim.start()
    try:
        await eventually(lambda: _connected(api))
        await sim.start_local_session(1, "CARD1")
        await eventually(lambda: _with_status(api, "active"))
        # What an authorization by Hubject keeps of the session's EMP (bridge/oicp).
        await app.pool.execute("""UPDATE sessions SET attributes = attributes
                                  || '{"oicp": {"ProviderID": "DE-8EO"}}'::jsonb""")
        for provider in ("*", "DE-8EO"):
            assert (await api.request("PUT", "/tariff-assignments", json={
                "tariff_id": None, "evse_ids": ["DE*ABC*E0001*1"],
                "provider_id": provider}))[0] == 200
        assert await api.items("/tariff-assignments") == []
        for tariff_id in ("AC", "DEAL"):
            status, answer = await api.request("DELETE", f"/tariffs/{tariff_id}")
            assert status == 409 and "prices 1 session(s) in progress" in answer["error"], \
                (tariff_id, answer)
        await sim.stop_local_session(1)
        await eventually(lambda: _with_status(api, "completed"))
        for tariff_id in ("AC", "DEAL"):
            assert (await api.request("DELETE", f"/tariffs/{tariff_id}"))[0] == 200
    finally:
        await sim.stop()


async def _connected(api: Api) -> bool:
    return bool((await api.get("/charge-points/CP1"))["connected"])


async def _with_status(api: Api, status: str) -> bool:
    return bool(await api.items(f"/sessions?status={status}"))


async def test_the_console_lists_tariffs_with_prices_and_assignments(
        app: App, api: Api, browser: Any) -> None:  # noqa: F811
    from playwright.async_api import expect

    from tests.operators.console.test_console import base, screenshot

    evening = {**AC, "id": "EVENING", "elements": [
        {"price_components": [{"type": "ENERGY", "price": 0.49, "step_size": 1}],
         "restrictions": {"start_time": "17:00", "end_time": "21:00"}},
        {"price_components": [{"type": "ENERGY", "price": 0.39, "step_size": 1},
                              {"type": "FLAT", "price": 1, "step_size": 1}]}]}
    assert (await api.request("PUT", "/tariffs/EVENING", json=evening))[0] == 201
    assert (await api.request("PUT", "/tariffs/AC", json=AC))[0] == 201
    assert (await api.request("PUT", "/tariff-assignments", json={
        "tariff_id": "EVENING", "evse_ids": ["DE*ABC*E0001*1"], "provider_id": "DE-8EO"}))[0] == 200
    for name, width in (("tariffs", 1280), ("phone-tariffs", 390)):
        page = await browser.new_page(viewport={"width": width, "height": 800})
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))  # noqa: B023
        await page.goto(base(app) + "/#/tariffs")
        await page.fill("#token", API_TOKEN)
        await page.click("form.login button")
        await expect(page.locator("h1")).to_have_text("Tariffs")
        row = page.locator('tr[data-tariff="EVENING"]')
        await expect(row).to_contain_text("0.49 EUR/kWh (17:00–21:00)")
        await expect(row).to_contain_text("0.39 EUR/kWh + 1 EUR per session")
        await expect(row).to_contain_text("DE*ABC*E0001*1 for DE-8EO")
        await expect(page.locator('tr[data-tariff="AC"]')).to_contain_text("not assigned")
        # No sideways scrolling of the page (the nav's links wrap; the table scrolls in its box).
        assert await page.evaluate("document.documentElement.scrollWidth") <= width
        await screenshot(page, name)
        await page.close()
        assert errors == []
