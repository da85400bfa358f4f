"""OCPI through a hub (OCPI 2.2.1 transport_and_format Message Routing, mod_hub_client_info): two eMSPs
behind a hub stand-in, each reached by its own party; messages for a party not CONNECTED held."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest

from bridge import outbox
from bridge.ocpi import hub_client_info
from bridge.ocpi.client import outcome
from bridge.ocpi.handshake import partners
from bridge.ocpi.handshake.partners import Partner, Party
from bridge.ocpi.hub_client_info import ClientInfoError, read_client_info
from bridge.ocpi.transport import routing_headers, routing_of
from csms.app import App
from csms.domain.billing.tariffs import put_tariffs
from csms.domain.charge_points import assign_sites, register
from csms.operator.http.openapi import openapi_document
from simulators.chargepoint import SimConfig
from simulators.chargepoint16 import ChargePoint16
from simulators.partners.emsp import SimulatedEmsp
from simulators.partners.hub import SimulatedHub
from tests.conftest import AppFactory
from tests.ocpi.partners.test_ocpi_late_partner import csms
from tests.ocpi.test_ocpi_sessions import TARIFF
from tests.oicp.test_oicp_evse_data import demo_site
from tests.oicp.test_oicp_roaming import _async
from tests.operators.console.test_console import base, browser, screenshot  # noqa: F401  (fixture)
from tests.operators.test_api_schemas import _fits
from tests.operators.test_metrics import scrape
from tests.support import API_TOKEN, Api, eventually, ocpi_pushes_queued, ocpi_settings, ws_url

HUB_PARTIES = [Party("NL", "HUB", "HUB"), Party("NL", "EMS"), Party("BE", "OTH")]


@pytest.fixture
async def other() -> AsyncIterator[SimulatedEmsp]:
    stand_in = SimulatedEmsp("BE", "OTH")
    await stand_in.start()
    yield stand_in
    await stand_in.stop()


@pytest.fixture
async def charger() -> AsyncIterator[list[ChargePoint16]]:
    made: list[ChargePoint16] = []
    yield made
    for sim in made:
        await sim.stop()


async def through_hub(make_app: AppFactory, emsp: SimulatedEmsp,
                      other: SimulatedEmsp) -> tuple[App, SimulatedHub, int]:
    """OCPI on; we register with the hub for it and the two eMSPs behind it, which connect to
    the hub; CP1 on a site with tariff AC-1."""
    app = await make_app(ocpi=ocpi_settings())
    assert app.ocpi is not None
    hub = SimulatedHub([emsp, other])
    await hub.start()
    partner = await app.ocpi.registrar.register_with(hub.versions_url, hub.token_a, "hub",
                                                     parties=HUB_PARTIES)
    assert partner.is_hub and partner.own_party() == ("NL", "HUB")
    for stand_in in (emsp, other):
        await hub.connect(stand_in)
    await ocpi_pushes_queued(app)
    await put_tariffs(app.pool, app.events, [TARIFF])
    await register(app.pool, "CP1", None, {1: "DE*ABC*E0001*1"}, events=app.events,
                   security_profile=0)
    site = demo_site()
    await assign_sites(app.pool, app.events, [replace(site, evse=replace(site.evse, tariff="AC-1"),
                                                      evses={})])
    return app, hub, partner.id


async def charge(app: App, charger: list[ChargePoint16], uid: str) -> None:
    if not charger:
        charger.append(ChargePoint16(SimConfig(charge_point_id="CP1", url=ws_url(app),
                                               meter_interval=0.2)))
        await charger[0].start()
    sim = charger[0]
    start = sim.meter_wh[1]
    await sim.start_local_session(1, uid)
    await eventually(lambda: _async(sim.meter_wh[1] > start + 2000))
    await sim.stop_local_session(1)
    await sim.flush()


def cdrs(stand_in: SimulatedEmsp) -> list[Any]:
    return [r.body for r in stand_in.of("POST", "/cdrs")]


def routed_to(stand_in: SimulatedEmsp, prefix: str) -> set[tuple[str | None, ...]]:
    """The routing headers the eMSP got on its requests under `prefix`."""
    return {tuple(r.headers.get(h) for h in ("OCPI-from-country-code", "OCPI-from-party-id",
                                               "OCPI-to-country-code", "OCPI-to-party-id"))
            for r in stand_in.received if r.path.startswith(prefix)}


async def test_two_parties_behind_a_hub(make_app: AppFactory, emsp: SimulatedEmsp,
                                        other: SimulatedEmsp,
                                        charger: list[ChargePoint16]) -> None:
    """Tokens of each party come through the hub, authorize (pushed, or asked in real time
    addressed to the token's party), and their sessions and CDRs go to that party only."""
    app, hub, partner_id = await through_hub(make_app, emsp, other)
    try:
        for stand_in, uid, whitelist in ((emsp, "CAFE0101", "ALWAYS"),
                                         (other, "CAFE0202", "NEVER")):
            status, answer = await stand_in.push_token(stand_in.token(uid, whitelist))
            assert (status, answer["status_code"]) == (200, 1000), answer
        await charge(app, charger, "CAFE0101")
        await charge(app, charger, "CAFE0202")
        [mine] = await eventually(lambda: _async(cdrs(emsp)))
        [theirs] = await eventually(lambda: _async(cdrs(other)))
        assert mine["cdr_token"]["party_id"] == "EMS" and theirs["cdr_token"]["party_id"] == "OTH"
        await eventually(lambda: _no_pending(app))
        assert len(cdrs(emsp)) == 1 and len(cdrs(other)) == 1
        # Each got its own session only, addressed to it, from us.
        assert {m["cdr_token"]["uid"] for m in (s.body for s in emsp.of("PUT", "/sessions"))} \
            == {"CAFE0101"}
        assert {m["cdr_token"]["uid"] for m in (s.body for s in other.of("PUT", "/sessions"))} \
            == {"CAFE0202"}
        assert routed_to(emsp, "/sessions") == {("DE", "ABC", "NL", "EMS")}
        assert routed_to(other, "/cdrs") == {("DE", "ABC", "BE", "OTH")}
        # The NEVER token was asked about through the hub, addressed to its party.
        asked = [r for r in hub.received if r.path == "/tokens/CAFE0202/authorize"]
        assert asked and {(r.headers["OCPI-to-country-code"], r.headers["OCPI-to-party-id"])
                          for r in asked} == {("BE", "OTH")}
        assert other.of("POST", "/tokens/CAFE0202/authorize")
        # Locations went to the hub once each, as broadcasts, and on to both.
        assert {(r.headers["OCPI-to-party-id"]) for r in hub.received
                if r.path.startswith("/locations/")} == {"HUB"}
        assert emsp.location("berlin-hub") is not None and other.location("berlin-hub") is not None
        # GET sessions and CDRs through the hub: only the asking party's.
        for stand_in, uid in ((emsp, "CAFE0101"), (other, "CAFE0202")):
            for module in ("sessions", "cdrs"):
                status, headers, answer = await stand_in.call(
                    "GET", stand_in.cpo_endpoint(module),
                    headers={"OCPI-from-country-code": stand_in.country_code,
                             "OCPI-from-party-id": stand_in.party_id,
                             "OCPI-to-country-code": "DE", "OCPI-to-party-id": "ABC"})
                assert status == 200, answer
                assert [item["cdr_token"]["uid"] for item in answer["data"]] == [uid]
                assert (headers["OCPI-to-party-id"], headers["OCPI-from-party-id"]) \
                    == (stand_in.party_id, "ABC")
        assert hub.violations == []
        assert emsp.invalid == other.invalid == [] and emsp.bad_answers == other.bad_answers == []
        found = await partners.get(app.pool, partner_id)
        assert found is not None and found.is_hub
    finally:
        await hub.stop()


async def _no_pending(app: App) -> bool:
    return not await outbox.list_messages(app.pool, None, "pending")


async def test_a_party_not_connected_gets_nothing_until_it_is(
        make_app: AppFactory, emsp: SimulatedEmsp, other: SimulatedEmsp,
        charger: list[ChargePoint16]) -> None:
    """mod_hub_client_info: no requests to a party that is not CONNECTED. We hold its messages
    (rather than drop them) and send them, once, when the hub says it is CONNECTED again."""
    app, hub, partner_id = await through_hub(make_app, emsp, other)
    try:
        assert (await other.push_token(other.token("CAFE0303")))[0] == 200
        status, answer = await hub.set_status(("BE", "OTH"), "OFFLINE")
        assert (status, answer["status_code"]) == (200, 1000)
        await charge(app, charger, "CAFE0303")
        held = await eventually(lambda: _held(app, partner_id))
        assert {m["operation"] for m in held} >= {"PUT sessions", "POST cdrs"}
        assert {m["last_error"] for m in held} == {"held: BE*OTH is OFFLINE at the hub"}
        # The operator sees them held, for whom, and counted (a subset of the pending ones).
        api = Api(f"http://127.0.0.1:{app.api.port}/api/v1")
        try:
            listed = await api.items(f"/outbox?partner=ocpi:{partner_id}&status=pending")
            partner = await _as_listed(api, partner_id)
        finally:
            await api.http.close()
        # The partners view: the hub's parties, their status, and the messages held for each.
        assert {(c["party"], c["role"], c["status"], c["held"]) for c in partner["hub_clients"]} \
            == {("NL*EMS", "EMSP", "CONNECTED", 0), ("BE*OTH", "EMSP", "OFFLINE", len(held))}
        assert all(c["last_updated"].endswith("Z") for c in partner["hub_clients"])
        assert {(m["held"], m["addressee"]) for m in listed
                if m["operation"] == "POST cdrs"} == {(True, "BE*OTH")}
        _, samples = await scrape(app)
        assert samples[("csms_outbox_held", (("partner", f"ocpi:{partner_id}"),))] == len(held)
        assert cdrs(other) == [] and other.of("PUT", "/sessions") == []
        # The other party meanwhile is served as ever (a location's status PATCH, a broadcast).
        assert emsp.of("PATCH", "/locations")
        assert (await hub.set_status(("BE", "OTH"), "CONNECTED"))[0] == 200
        await eventually(lambda: _async(cdrs(other)))
        await eventually(lambda: _no_pending(app))
        assert len(cdrs(other)) == 1
        messages = [(r.method, (r.body or {}).get("status")) for r in other.received
                    if r.path.startswith("/sessions/")]
        assert messages[0] == ("PUT", "ACTIVE") and messages[-1] == ("PATCH", "COMPLETED")
        assert cdrs(emsp) == []
        assert hub.violations == []  # nothing reached the hub for it while OFFLINE
        assert other.invalid == []
    finally:
        await hub.stop()


async def test_a_party_the_hub_loses_meanwhile(make_app: AppFactory, emsp: SimulatedEmsp,
                                               other: SimulatedEmsp,
                                               charger: list[ChargePoint16]) -> None:
    """The hub answers 4003 (receiver not connected) before it tells us: retried, not dropped;
    once it says OFFLINE, what was pending waits too, and all of it goes when CONNECTED."""
    app, hub, partner_id = await through_hub(make_app, emsp, other)
    try:
        assert (await other.push_token(other.token("CAFE0808")))[0] == 200
        await hub.set_status(("BE", "OTH"), "OFFLINE", tell=False)
        await charge(app, charger, "CAFE0808")
        await eventually(lambda: _async(len(hub.not_connected) >= 2))  # a retry
        assert (await hub.set_status(("BE", "OTH"), "OFFLINE"))[0] == 200
        await eventually(lambda: _held(app, partner_id))
        asked = len(hub.not_connected)
        assert (await hub.set_status(("BE", "OTH"), "CONNECTED"))[0] == 200
        await eventually(lambda: _async(cdrs(other)))
        await eventually(lambda: _no_pending(app))
        assert len(cdrs(other)) == 1 and other.of("PUT", "/sessions")
        # Held: no more tries while OFFLINE (but for one under way when the hub told us).
        assert len(hub.not_connected) <= asked + 1 and len(hub.violations) <= 1
        assert other.invalid == []
    finally:
        await hub.stop()


async def test_the_roaming_page_shows_the_hub_clients_and_token_pulls(
        make_app: AppFactory, emsp: SimulatedEmsp, other: SimulatedEmsp,
        browser: Any) -> None:  # noqa: F811  (fixture)
    """The console's roaming page: the hub's parties with their status and the messages held for
    one not CONNECTED, linked to its outbox where they are marked held; the token pulls."""
    from playwright.async_api import expect

    app, hub, partner_id = await through_hub(make_app, emsp, other)
    try:
        assert (await hub.set_status(("BE", "OTH"), "OFFLINE"))[0] == 200
        partner = await partners.get(app.pool, partner_id)
        assert partner is not None
        async with app.pool.acquire() as conn, conn.transaction():
            await hub_client_info.enqueue(conn, partner, "PUT sessions", "/sessions/NL/CPO/s1",
                                          {"id": "s1"}, "BE*OTH")
        page = await browser.new_page(viewport={"width": 1280, "height": 800})
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        await page.goto(base(app) + "/#/roaming")
        await page.fill("#token", API_TOKEN)
        await page.click("form.login button")
        card = page.locator(f'.partner[data-partner="ocpi:{partner_id}"]')
        offline = card.locator('.hub-clients li[data-party="BE*OTH"]')
        await expect(offline).to_contain_text("BE*OTH (EMSP) offline")
        await expect(offline.locator(".held")).to_have_text("1 held")
        await expect(card.locator('.hub-clients li[data-party="NL*EMS"]')).to_contain_text(
            "connected")
        await expect(card.locator('.hub-clients li[data-party="NL*EMS"] .held')).to_have_count(0)
        await expect(card.locator(".token-pull")).to_contain_text("Tokens pulled: full")
        await screenshot(page, "roaming-hub")
        await offline.locator(".held").click()
        row = page.locator("#outbox tr").filter(has_text="PUT sessions")
        await expect(row.locator(".held")).to_have_text("held")
        await expect(row).to_contain_text("for BE*OTH")
        assert errors == []
    finally:
        await hub.stop()


async def _as_listed(api: Api, partner_id: int) -> dict[str, Any]:
    """The partner as GET /partners shows it, checked against its schema."""
    [partner] = [p for p in await api.items("/partners") if p["partner"] == f"ocpi:{partner_id}"]
    document = openapi_document()
    assert _fits(partner, document["components"]["schemas"]["Partner"], document) == []
    return partner


async def _held(app: App, partner_id: int) -> list[Any]:
    """The messages held for BE*OTH, once its CDR is among them (the session is over)."""
    rows = [dict(r) for r in await app.pool.fetch(
        """SELECT operation, last_error FROM outbox WHERE partner = $1 AND held
             AND addressee = 'BE*OTH' AND status = 'pending'""", f"ocpi:{partner_id}")]
    return rows if any(r["operation"] == "POST cdrs" for r in rows) else []


async def test_hub_requests_confined_and_client_info(make_app: AppFactory, emsp: SimulatedEmsp,
                                                     other: SimulatedEmsp, db_url: str) -> None:
    app, hub, partner_id = await through_hub(make_app, emsp, other)
    try:
        assert (await hub.set_status(("BE", "OTH"), "SUSPENDED"))[0] == 200
        code, out, err = await csms(db_url, app, "ocpi", "partners", "--json")
        assert code == 0, err
        [listed] = json.loads(out)
        assert (listed["roles"], listed["hub_clients"]) == (["HUB:NL*HUB"], "2/1 connected")
        # The hub's whole list, asked for (as at each start): the same.
        await app.pool.execute("DELETE FROM ocpi_hub_clients")
        assert app.ocpi is not None and await app.ocpi.pull_client_info(partner_id) == 2
        statuses = await app.pool.fetch(
            "SELECT party_id, role, status FROM ocpi_hub_clients ORDER BY party_id")
        assert [tuple(r) for r in statuses] == [("EMS", "EMSP", "CONNECTED"),
                                                ("OTH", "EMSP", "SUSPENDED")]
        base = app.settings.ocpi.public_url + "/ocpi/2.2.1"
        token_url = f"{base}/tokens/FR/XYZ/CAFE0404"
        body = {**emsp.token("CAFE0404"), "country_code": "FR", "party_id": "XYZ"}
        to_us = {"OCPI-to-country-code": "DE", "OCPI-to-party-id": "ABC"}
        # A party the hub does not front; none named; one half named; another receiver.
        for headers in ({"OCPI-from-country-code": "FR", "OCPI-from-party-id": "XYZ", **to_us},
                        to_us,
                        {"OCPI-from-country-code": "FR", **to_us},
                        {"OCPI-from-country-code": "NL", "OCPI-from-party-id": "EMS",
                         "OCPI-to-country-code": "DE", "OCPI-to-party-id": "XYZ"}):
            status, answer = await hub.call_cpo("PUT", token_url, body, headers)
            assert (status, answer["status_code"]) == (400, 2001), (headers, answer)
        assert await app.pool.fetchval("SELECT count(*) FROM tokens WHERE uid = 'CAFE0404'") == 0
        # Nor does it list sessions or CDRs for such a party.
        for module in ("sessions", "cdrs"):
            status, answer = await hub.call_cpo("GET", f"{base}/{module}", None, {
                "OCPI-from-country-code": "FR", "OCPI-from-party-id": "XYZ", **to_us})
            assert (status, answer["status_code"]) == (400, 2001), answer
        # GET of a ClientInfo as we hold it; no routing headers on this module's answers.
        status, answer = await hub.call_cpo("GET", f"{base}/hubclientinfo/NL/EMS")
        assert status == 200 and answer["data"]["status"] == "CONNECTED"
        assert answer["data"]["role"] == "EMSP"
        status, answer = await hub.call_cpo("GET", f"{base}/hubclientinfo/NL/XXX")
        assert (status, answer["status_code"]) == (404, 2000)
        # A ClientInfo that is not one: refused, nothing stored.
        status, answer = await hub.call_cpo("PUT", f"{base}/hubclientinfo/NL/EMS",
                                            {**hub.client_info(hub.clients[("NL", "EMS")]),
                                             "status": "GONE"})
        assert (status, answer["status_code"]) == (400, 2001)
        status, answer = await hub.call_cpo("PUT", f"{base}/hubclientinfo/NL/EMS",
                                            {**hub.client_info(hub.clients[("NL", "EMS")]),
                                             "party_id": "OTH"})
        assert (status, answer["status_code"]) == (400, 2001)
        assert hub.violations == []
    finally:
        await hub.stop()


async def test_commands_and_open_routing_through_a_hub(
        make_app: AppFactory, emsp: SimulatedEmsp, other: SimulatedEmsp,
        charger: list[ChargePoint16]) -> None:
    """A command's result goes back through the hub to the party that sent it; a token nobody
    pushed is asked about with an Open Routing Request (no OCPI-to- headers), and a token one
    party broadcasts through the hub (from the hub, OCPI 2.2.1 Broadcast Push) is that party's."""
    app, hub, _ = await through_hub(make_app, emsp, other)
    try:
        sim = ChargePoint16(SimConfig(charge_point_id="CP1", url=ws_url(app), meter_interval=0.2))
        charger.append(sim)
        await sim.start()
        # A client of the hub commands with its own tokens only: another party's is refused.
        _, refused = await other.command("START_SESSION", {
            "token": emsp.token("CAFE0909"), "location_id": "berlin-hub", "evse_uid": "CP1-1"})
        assert refused["status_code"] == 2001 and "NL*EMS is not BE*OTH" in refused["status_message"]
        start_id, answer = await other.command("START_SESSION", {
            "token": other.token("CAFE0505"), "location_id": "berlin-hub", "evse_uid": "CP1-1"})
        assert answer["data"]["result"] == "ACCEPTED", answer
        assert (await eventually(lambda: _async(other.result(start_id)))) == {"result": "ACCEPTED"}
        [result] = [r for r in hub.received if r.path.startswith("/results/")]
        assert (result.headers["OCPI-to-country-code"], result.headers["OCPI-to-party-id"]) \
            == ("BE", "OTH")
        await eventually(lambda: _async(len(other.of("PUT", "/sessions")) >= 2))  # PENDING, ACTIVE
        [active] = await app.pool.fetch("SELECT id FROM sessions WHERE status = 'active'")
        stop_id, answer = await other.command("STOP_SESSION", {"session_id": str(active["id"])})
        assert answer["data"]["result"] == "ACCEPTED", answer
        assert (await eventually(lambda: _async(other.result(stop_id)))) == {"result": "ACCEPTED"}
        await sim.flush()
        await eventually(lambda: _async(cdrs(other)))
        assert emsp.of("PUT", "/sessions") == [] and emsp.result(start_id) is None

        # Known to the eMSP, never pushed: asked about without naming whose it is.
        emsp.token("CAFE0606")
        await charge(app, charger, "CAFE0606")
        [cdr] = await eventually(lambda: _async(cdrs(emsp)))
        assert cdr["cdr_token"]["uid"] == "CAFE0606"
        asked = [r for r in hub.received if r.path == "/tokens/CAFE0606/authorize"]
        assert asked and all("OCPI-to-party-id" not in r.headers
                             and r.headers["OCPI-from-party-id"] == "ABC" for r in asked)

        # A broadcast token push: it reaches us from the hub, the URL naming its party.
        token = other.token("CAFE0707")
        status, _, answer = await other.call(
            "PUT", f"{other.cpo_endpoint('tokens')}/BE/OTH/CAFE0707", token,
            headers={"OCPI-from-country-code": "BE", "OCPI-from-party-id": "OTH",
                     "OCPI-to-country-code": "NL", "OCPI-to-party-id": "HUB"})
        assert (status, answer["status_code"]) == (200, 1000)
        stored = await eventually(lambda: app.pool.fetchrow(
            "SELECT country_code, party_id FROM tokens WHERE uid = 'CAFE0707'"))
        assert tuple(stored) == ("BE", "OTH")
        assert hub.violations == []
        assert other.invalid == emsp.invalid == [] and other.bad_answers == emsp.bad_answers == []
    finally:
        await hub.stop()


# --- pure parts: headers, ClientInfo, a hub's answers, whom a partner's messages go to -------

@pytest.mark.parametrize(("headers", "expected"), [
    ({}, None),
    ({"OCPI-from-country-code": "nl", "OCPI-from-party-id": "ems"}, ("NL", "EMS")),
    ({"OCPI-from-country-code": "NL"}, ValueError),
    ({"OCPI-from-party-id": "EMS"}, ValueError),
    ({"OCPI-from-country-code": "NLD", "OCPI-from-party-id": "EMS"}, ValueError),
    ({"OCPI-from-country-code": "NL", "OCPI-from-party-id": "EM"}, ValueError),
    ({"OCPI-from-country-code": "N1", "OCPI-from-party-id": "EMS"}, ValueError),
    ({"OCPI-from-country-code": "NL", "OCPI-from-party-id": "E-S"}, ValueError),
])
def test_routing_headers_read(headers: dict[str, str], expected: Any) -> None:
    if expected is ValueError:
        with pytest.raises(ValueError):
            routing_of(headers, "from")
    else:
        assert routing_of(headers, "from") == expected


def test_routing_headers_written() -> None:
    assert routing_headers(("DE", "ABC"), ("NL", "EMS")) == {
        "OCPI-from-country-code": "DE", "OCPI-from-party-id": "ABC",
        "OCPI-to-country-code": "NL", "OCPI-to-party-id": "EMS"}
    assert routing_headers(("DE", "ABC"), None) == {  # an Open Routing Request
        "OCPI-from-country-code": "DE", "OCPI-from-party-id": "ABC"}


GOOD = {"country_code": "NL", "party_id": "EMS", "role": "EMSP", "status": "CONNECTED",
        "last_updated": "2026-12-04T10:00:00Z"}


@pytest.mark.parametrize(("body", "refusal"), [
    (GOOD, None),
    ({**GOOD, "country_code": "nl", "party_id": "ems"}, None),  # CiString
    ([GOOD], "ClientInfo object"),
    ({**GOOD, "party_id": "OTH"}, "party_id must be the one in the URL"),
    ({**GOOD, "country_code": "BE"}, "country_code must be the one in the URL"),
    ({**GOOD, "role": "DRIVER"}, "role must be one of"),
    ({**GOOD, "status": "ONLINE"}, "status must be one of"),
    ({k: v for k, v in GOOD.items() if k != "status"}, "status must be one of"),
    ({**GOOD, "last_updated": "yesterday"}, "last_updated"),
    ({**GOOD, "last_updated": "2026-12-04T10:00:00+02:00"}, "last_updated"),
])
def test_client_info_read(body: Any, refusal: str | None) -> None:
    if refusal is None:
        assert read_client_info(body, "NL", "EMS") == {**GOOD, "country_code": "NL",
                                                       "party_id": "EMS"}
    else:
        with pytest.raises(ClientInfoError, match=refusal):
            read_client_info(body, "NL", "EMS")


@pytest.mark.parametrize(("code", "ok", "retry"), [
    (1000, True, False), (4000, False, False), (4001, False, False),  # unknown receiver: for good
    (4002, False, True), (4003, False, True),  # timed out, not connected: later
])
def test_hub_answers(code: int, ok: bool, retry: bool) -> None:
    delivery = outcome(200, {"status_code": code, "timestamp": "2026-12-04T10:00:00Z"})
    assert (delivery.ok, delivery.retry) == (ok, retry)


def _partner(roles: list[tuple[str, str, str]], parties: tuple[Party, ...] = ()) -> Partner:
    return Partner(1, "p", "registered", "t", "base64", None, "2.2.1", [],
                   [{"role": r, "country_code": c, "party_id": p} for r, c, p in roles], parties)


def test_whom_messages_go_to() -> None:
    hub = _partner([("HUB", "NL", "HUB")], (Party("NL", "HUB", "HUB"), Party("BE", "OTH")))
    assert hub.is_hub and hub.own_party() == ("NL", "HUB")
    assert hub.route("BE*OTH") == ("BE", "OTH") and hub.route(None) == ("NL", "HUB")
    assert hub.fronts("be", "oth") and hub.fronts("NL", "HUB") and not hub.fronts("FR", "XYZ")
    peer = _partner([("CPO", "NL", "EMS"), ("EMSP", "NL", "EMS")], (Party("NL", "EMS"),))
    assert not peer.is_hub and peer.own_party() == ("NL", "EMS") and peer.route(None) == ("NL", "EMS")
    assert _partner([]).own_party() is None


@pytest.mark.parametrize(("caller", "asking"), [
    (None, None), ("NL*HUB", None), ("BE*OTH", "BE*OTH")])
def test_the_party_a_request_came_from(caller: str | None, asking: str | None) -> None:
    """Through a hub, a client's own (commands, charging profiles, lists); the hub itself asks
    for all of its clients."""
    hub = replace(_partner([("HUB", "NL", "HUB")], (Party("NL", "HUB", "HUB"), Party("BE", "OTH"))),
                  caller=caller)
    assert hub.asking() == asking
