"""Dynamic pricing with Hubject end to end: tariffs and assignments as pushes, an outage, and a
time-of-day session costed alike for OICP and OCPI."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest
import structlog

from bridge import outbox
from csms.app import App
from csms.domain.billing.cost import session_cost
from csms.domain.billing.pricing import readings
from csms.domain.billing.tariffs import assign, put_tariffs
from csms.domain.charge_points import assign_sites, register
from csms.domain.events import EventBus
from csms.operator.command_line.cli import main
from csms.storage import store
from simulators.chargepoint import SimConfig
from simulators.chargepoint16 import ChargePoint16
from simulators.partners.emsp import SimulatedEmsp
from simulators.partners.hubject import SimulatedHubject
from tests.conftest import AppFactory
from tests.oicp.test_oicp_evse_data import demo_site
from tests.oicp.test_oicp_roaming import CDR, _async, cpo_url, remote_start_body
from tests.operators.test_cli import cli_database  # noqa: F401  (the CLI tests' fixture: an empty database)
from tests.runtime.test_cluster import _jsonb
from tests.support import ROOT, eventually, ocpi_settings, oicp_settings, parties_of, ws_url

PRODUCTS = "eRoamingPushPricingProductData_V1.0"
EVSE_PRICING = "eRoamingPushEVSEPricing_V1.0"
DEMO_DIR = ROOT / "simulators" / "demo"
DEMO = json.loads((DEMO_DIR / "tariffs.json").read_text())[0]
DEAL = {"id": "DEAL-8EO", "currency": "EUR", "elements": [{"price_components": [
    {"type": "ENERGY", "price": 0.29, "vat": 19.0, "step_size": 1}]}]}
E1, E2 = "DE*ABC*E0001*1", "DE*ABC*E0001*2"


def peak(price: float) -> dict[str, Any]:
    """The demo tariff with another price from 17:00 to 21:00."""
    first = DEMO["elements"][0]
    return {**DEMO, "elements": [{**first, "price_components": [
        {**first["price_components"][0], "price": price}]}, DEMO["elements"][1]]}


def pushes(hubject: SimulatedHubject) -> list[tuple[str, str, Any]]:
    """Accepted pricing pushes: (data set, ActionType, what they carry)."""
    found: list[tuple[str, str, Any]] = []
    for r in hubject.accepted():
        if r.operation == PRODUCTS:
            data = r.body["PricingProductData"]
            prices = {p["ProductID"]: p["PricePerReferenceUnit"]
                      for p in data["PricingProductDataRecords"]}
            found.append((f"products {data['ProviderID']}", r.body["ActionType"], prices))
        elif r.operation == EVSE_PRICING:
            found.append(("evse", r.body["ActionType"], sorted(
                (e["ProviderID"], e["EvseID"], tuple(e["EvseIDProductList"]))
                for e in r.body["EVSEPricing"])))
    return found


async def _priced(app: App) -> bool:
    """Prices worked out: the mark is cleared in the transaction that queues the pushes."""
    return not await app.pool.fetchval("SELECT count(*) FROM oicp_pricing_due")


async def _delivered(app: App) -> bool:
    """Prices worked out and every push delivered."""
    return await _priced(app) and not await outbox.list_messages(app.pool, "hubject", "pending")


async def priced_site(make_app: AppFactory, hubject: SimulatedHubject, **oicp: Any) -> App:
    """OICP on, CP1 with two EVSEs on the demo site, whose EVSEs charge by AC-STANDARD."""
    app = await make_app(oicp=oicp_settings(hubject, **oicp))
    await put_tariffs(app.pool, app.events, [DEMO])  # in use nowhere yet: Hubject hears nothing
    await register(app.pool, "CP1", None, {1: E1, 2: E2}, events=app.events, security_profile=0)
    await assign_sites(app.pool, app.events, [demo_site()])
    await eventually(lambda: _delivered(app))
    return app


async def test_tariff_changes_reach_hubject_as_product_updates_and_evse_assignments(
        make_app: AppFactory, hubject: SimulatedHubject) -> None:
    app = await priced_site(make_app, hubject)
    both = {"AC-STANDARD-1": 0.39, "AC-STANDARD-2": 0.49}
    for_all = [("*", E1, ("AC-STANDARD-1", "AC-STANDARD-2")), ("*", E2, ("AC-STANDARD-1", "AC-STANDARD-2"))]
    assert pushes(hubject) == [("products *", "fullLoad", both), ("evse", "insert", for_all)]
    [first] = hubject.accepted(PRODUCTS)
    data = first.body["PricingProductData"]
    assert (data["OperatorID"], data["PricingDefaultPrice"], data["PricingDefaultPriceCurrency"]) == \
        ("DE*ABC", 0.0, "EUR")  # no tariff for every EVSE: nothing to default to
    # The 50 kW EVSE charges by it too: the products go up to 50 kW.
    assert {p["MaximumProductChargingPower"] for p in data["PricingProductDataRecords"]} == {50}

    # A new peak price: only the product that changed, as an update.
    await put_tariffs(app.pool, app.events, [peak(0.55)])
    # An EMP's own deal at one EVSE: its products and that EVSE's pricing for it.
    await put_tariffs(app.pool, app.events, [DEAL])
    assert await assign(app.pool, app.events, "DEAL-8EO", [E1], "DE-8EO") == []
    await eventually(lambda: _delivered(app))
    assert pushes(hubject)[2:] == [
        ("products *", "update", {"AC-STANDARD-2": 0.55}),
        ("products DE-8EO", "fullLoad", {"DEAL-8EO": 0.29}),
        ("evse", "insert", [("DE-8EO", E1, ("DEAL-8EO",))])]

    # The deal ends: its product and its EVSE pricing are taken back.
    await assign(app.pool, app.events, None, [E1], "DE-8EO")
    await eventually(lambda: _delivered(app))
    assert pushes(hubject)[5:] == [
        ("products DE-8EO", "delete", {"DEAL-8EO": 0.29}),
        ("evse", "delete", [("DE-8EO", E1, ("DEAL-8EO",))])]
    # Every EVSE, every EMP: the site's key still decides its EVSEs, but the default price
    # (for EVSEs Hubject has no pricing of) is now this tariff's.
    await assign(app.pool, app.events, "DEAL-8EO", [])
    await eventually(lambda: _delivered(app))
    assert pushes(hubject)[7:] == [
        ("products *", "fullLoad", {"AC-STANDARD-1": 0.39, "AC-STANDARD-2": 0.55, "DEAL-8EO": 0.29})]
    assert hubject.accepted(PRODUCTS)[-1].body["PricingProductData"]["PricingDefaultPrice"] == 0.29

    # A fullLoad of everything on demand; every row shows in the outbox under its operation.
    assert app.oicp is not None
    assert await app.oicp.push_all_pricing() == 2  # the EMP's empty data set needs none
    await eventually(lambda: _delivered(app))
    assert [p[:2] for p in pushes(hubject)[8:]] == [("products *", "fullLoad"), ("evse", "fullLoad")]
    listed = await outbox.list_messages(app.pool, "hubject", "delivered",
                                        operation="PushPricingProductData")
    assert len(listed) == 6
    assert hubject.invalid == []


# Every kind of tariff element: a start fee, energy, parking, a minimum and a maximum, and what a
# product cannot say (an element restricted by power, a time price beside the energy price).
EVERY_KIND = {"id": "EVERY-KIND", "currency": "EUR",
              "min_price": {"excl_vat": 2.0, "incl_vat": 2.38}, "max_price": {"excl_vat": 40.0},
              "elements": [
                  {"price_components": [{"type": "ENERGY", "price": 0.19, "vat": 19.0, "step_size": 1}],
                   "restrictions": {"max_power": 11.0}},
                  {"price_components": [{"type": "FLAT", "price": 1.5, "vat": 19.0, "step_size": 0},
                                        {"type": "ENERGY", "price": 0.35, "vat": 19.0, "step_size": 1},
                                        {"type": "TIME", "price": 1.2, "vat": 19.0, "step_size": 1}]},
                  {"price_components": [{"type": "PARKING_TIME", "price": 6.0, "vat": 19.0,
                                         "step_size": 1}]}]}


async def test_every_element_kind_reaches_hubject_in_units_an_emp_cannot_misread(
        make_app: AppFactory, hubject: SimulatedHubject) -> None:
    """The products pass Hubject's OpenAPI and its dynamic pricing Swagger (the simulated Hubject
    checks both); per-session fees are not priced per kWh; what is left out is logged once."""
    with structlog.testing.capture_logs() as logs:
        app = await priced_site(make_app, hubject)
        await put_tariffs(app.pool, app.events, [EVERY_KIND])
        await assign(app.pool, app.events, "EVERY-KIND", [E1, E2])
        await eventually(lambda: _delivered(app))
        # Another change prices everything again: nothing new to say about EVERY-KIND.
        await put_tariffs(app.pool, app.events, [DEAL])
        await assign(app.pool, app.events, "DEAL-8EO", [E1], "DE-8EO")
        await eventually(lambda: _delivered(app))
    assert hubject.invalid == []
    [record] = [p for r in hubject.accepted(PRODUCTS)
                for p in r.body["PricingProductData"]["PricingProductDataRecords"]
                if p["ProductID"] == "EVERY-KIND"]
    assert (record["ReferenceUnit"], record["PricePerReferenceUnit"]) == ("KILOWATT_HOUR", 0.35)
    assert [(a["AdditionalReference"], a["AdditionalReferenceUnit"], a["PricePerAdditionalReferenceUnit"])
            for a in record["AdditionalReferences"]] == [
        ("START FEE", "HOUR", 1.5), ("PARKING FEE", "HOUR", 6.0), ("MINIMUM FEE", "HOUR", 2.0),
        ("MAXIMUM FEE", "HOUR", 40.0)]
    warned = [e for e in logs if e["log_level"] == "warning" and e.get("tariff") == "EVERY-KIND"]
    assert len(warned) == 1, warned
    left_out = warned[0]["left_out"]
    assert len(left_out) == 2
    assert left_out[0].startswith("element 1 is left out: max_power cannot be expressed")
    assert left_out[1].startswith("EVERY-KIND: its TIME price (1.2/h) is left out")


async def test_a_site_of_many_chargers_reaches_hubject_as_one_push_of_each_kind(
        make_app: AppFactory, hubject: SimulatedHubject) -> None:
    """Each charger placed on a site changes EVSE data: Hubject still hears of the prices as one
    products push and one EVSE pricing push naming every EVSE. (That they are worked out once,
    not once per charger, shows in time only: 400 chargers took 7 s before, 0.5 s now.)"""
    app = await make_app(oicp=oicp_settings(hubject))
    await put_tariffs(app.pool, app.events, [DEMO])
    chargers = {f"CP{n:03d}": f"DE*ABC*E{n:04d}*1" for n in range(60)}
    for charge_point_id, evse_id in chargers.items():
        await register(app.pool, charge_point_id, None, {1: evse_id}, security_profile=0)
    await assign_sites(app.pool, app.events, [demo_site(charge_points=tuple(chargers), evses={})])
    await eventually(lambda: _delivered(app))
    assert [p[:2] for p in pushes(hubject)] == [("products *", "fullLoad"), ("evse", "insert")]
    assert len(pushes(hubject)[1][2]) == 60


async def test_prices_made_due_before_a_crash_are_worked_out_after_the_restart(
        make_app: AppFactory, hubject: SimulatedHubject) -> None:
    app = await priced_site(make_app, hubject)
    await app.stop()
    # What a process that died right after committing a tariff change leaves behind: the change,
    # and the mark set in its transaction, but no pushes.
    pool = await asyncpg.create_pool(app.database_url, min_size=1, max_size=2, init=_jsonb)
    try:
        await put_tariffs(pool, EventBus(), [peak(0.61)])  # no bridge listening in
        await store.mark_pricing_due(pool)
        assert not await outbox.list_messages(pool, "hubject", "pending")
    finally:
        await pool.close()
    app = await make_app(oicp=oicp_settings(hubject))
    await eventually(lambda: _delivered(app))
    assert pushes(hubject)[-1] == ("products *", "update", {"AC-STANDARD-2": 0.61})


async def test_a_change_committed_while_prices_are_worked_out_leaves_them_due(db_url: str) -> None:
    """Seen as a time-of-day tariff never pushed: its assignment found prices already due, and
    the pricer took that mark before the assignment committed, so computed without it."""
    pool = await asyncpg.create_pool(db_url, min_size=2, max_size=2)
    try:
        await store.mark_pricing_due(pool)  # an earlier change, not worked out yet
        async with pool.acquire() as change, change.transaction():
            await store.mark_pricing_due(change)  # a tariff assignment, say; not committed yet
            async with pool.acquire() as pricer, pricer.transaction():
                assert await store.take_pricing_due(pricer)  # prices worked out without it
        async with pool.acquire() as pricer, pricer.transaction():
            assert await store.take_pricing_due(pricer)  # the change's turn
            assert not await store.take_pricing_due(pricer)
    finally:
        await pool.close()


async def test_an_outage_during_pricing_pushes_delivers_the_newest_pricing_once(
        make_app: AppFactory, hubject: SimulatedHubject) -> None:
    app = await priced_site(make_app, hubject)
    before = len(hubject.accepted())
    hubject.down = True
    await put_tariffs(app.pool, app.events, [peak(0.51)])

    async def tried() -> bool:
        return any(r.operation == PRODUCTS and not r.ok for r in hubject.received)
    await eventually(tried)  # refused while Hubject is away, and retried
    await put_tariffs(app.pool, app.events, [peak(0.52)])
    await put_tariffs(app.pool, app.events, [DEAL])
    await assign(app.pool, app.events, "DEAL-8EO", [E2], "DE-8EO")
    await put_tariffs(app.pool, app.events, [peak(0.53)])
    await eventually(lambda: _priced(app))
    pending = await outbox.list_messages(app.pool, "hubject", "pending")
    assert sorted(m["operation"] for m in pending) == [
        "PushEVSEPricing", "PushPricingProductData", "PushPricingProductData"]
    assert all(m["last_error"] for m in pending if m["operation"] == "PushPricingProductData"
               and m["body"]["PricingProductData"]["ProviderID"] == "*")
    hubject.down = False
    await eventually(lambda: _delivered(app))
    after = hubject.accepted()[before:]
    # Once each, products before the EVSE pricing that names them; 0.51 and 0.52 never went.
    assert [r.operation for r in after] == [PRODUCTS, PRODUCTS, EVSE_PRICING]
    assert pushes(hubject)[2:] == [
        ("products *", "fullLoad", {"AC-STANDARD-1": 0.39, "AC-STANDARD-2": 0.53}),
        ("products DE-8EO", "fullLoad", {"DEAL-8EO": 0.29}),
        ("evse", "insert", [("DE-8EO", E2, ("DEAL-8EO",))])]
    assert hubject.invalid == [] and hubject.max_in_flight == 1


def boundary_ahead(zone: ZoneInfo, lead: float = 20.0) -> datetime:
    """The next whole minute at least `lead` seconds away, in the site's zone: time enough, on a
    busy machine too, to price the site and start both sessions before it."""
    now = datetime.now(zone)
    boundary = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    return boundary if (boundary - now).total_seconds() >= lead else boundary + timedelta(minutes=1)


@pytest.mark.timeout(150)
async def test_a_time_of_day_product_across_its_boundary_costs_alike_for_oicp_and_ocpi(
        make_app: AppFactory, hubject: SimulatedHubject, emsp: SimulatedEmsp) -> None:
    zone = ZoneInfo("Europe/Berlin")
    app = await make_app(oicp=oicp_settings(hubject), ocpi=ocpi_settings())
    assert app.ocpi is not None
    await app.ocpi.registrar.register_with(emsp.versions_url, emsp.token_a, "sim", parties=parties_of(emsp))
    await register(app.pool, "CP1", None, {1: E1, 2: E2}, events=app.events, security_profile=0)
    await assign_sites(app.pool, app.events, [replace(demo_site(), evses={})])
    await emsp.push_token(emsp.token("AABB0077"))
    sim = ChargePoint16(SimConfig("CP1", ws_url(app), connectors=2, meter_interval=0.25))
    await sim.start()
    try:
        # Chosen only now, all else set up: only pricing and the two starts must fit before it.
        boundary = boundary_ahead(zone)
        # 0.30/kWh for the half hour before the boundary, 0.50/kWh after it.
        tod = {"id": "TOD", "currency": "EUR", "elements": [
            {"price_components": [{"type": "ENERGY", "price": 0.30, "vat": 19.0, "step_size": 1}],
             "restrictions": {"start_time": f"{boundary - timedelta(minutes=30):%H:%M}",
                              "end_time": f"{boundary:%H:%M}"}},
            {"price_components": [{"type": "ENERGY", "price": 0.50, "vat": 19.0, "step_size": 1}]}]}
        await put_tariffs(app.pool, app.events, [tod])
        # Both EVSEs, every EMP: beats the site's own tariff key (AC-STANDARD, not loaded here anyway).
        await assign(app.pool, app.events, "TOD", [E1, E2])
        start = remote_start_body(E1)  # a Hubject EMP's driver on EVSE 1
        answer = await hubject.remote_start(cpo_url(app), start)
        assert answer["Result"] is True
        await sim.start_local_session(2, "AABB0077")  # an OCPI eMSP's driver on EVSE 2

        async def metered_past_boundary() -> bool:
            """Both sessions have stored a reading after the boundary: energy at either price."""
            return bool(await app.pool.fetchval(
                """SELECT count(DISTINCT session_id) = 2 FROM meter_samples
                   WHERE sampled_at > $1 AND measurand = 'Energy.Active.Import.Register'""",
                boundary))
        await eventually(metered_past_boundary,
                         timeout=(boundary - datetime.now(zone)).total_seconds() + 30)
        stop = {k: start[k] for k in ("SessionID", "ProviderID", "EvseID", "EMPPartnerSessionID")}
        assert (await hubject.remote_stop(cpo_url(app), stop))["Result"] is True
        await sim.stop_local_session(2)
        await sim.flush(timeout=30)
        [oicp_cdr] = await eventually(lambda: _async(hubject.accepted(CDR)))
        [ocpi_cdr] = await eventually(lambda: _async(emsp.of("POST", "/cdrs")))
        await eventually(lambda: _delivered(app))
    finally:
        await sim.stop()

    [products] = [r.body["PricingProductData"] for r in hubject.accepted(PRODUCTS)]
    cheap = {p["PricePerReferenceUnit"]: p["ProductID"] for p in products["PricingProductDataRecords"]}[0.30]
    assert oicp_cdr.body["PartnerProductID"] == cheap  # in force when the session started

    costs = {}
    for session_id in (oicp_cdr.body["CPOPartnerSessionID"], ocpi_cdr.body["id"]):
        session = await store.get_session(app.pool, session_id)
        assert session is not None
        started, stopped = session["started_at"], session["stopped_at"]
        assert started < boundary < stopped
        # The shared pure function, fed with the session's readings, here by the test itself.
        cost = session_cost(tod, started, stopped, await readings(
            app.pool, session_id, started, session["meter_start_wh"], stopped, session["meter_stop_wh"]),
            "Europe/Berlin")
        kwh = cost.total_energy_kwh
        assert 0.30 * kwh < cost.total_cost.excl_vat < 0.50 * kwh  # both prices applied
        assert len(cost.charging_periods) >= 2
        [recorded] = await store.session_costs(app.pool, session_id)
        costs[recorded["protocol"]] = (recorded, cost)
        assert recorded["costing"]["total_cost"] == {"excl_vat": cost.total_cost.excl_vat,
                                                     "incl_vat": cost.total_cost.incl_vat}
        assert recorded["costing"]["charging_periods"] == cost.charging_periods
        assert (recorded["tariff_id"], recorded["currency"]) == ("TOD", "EUR")
    assert costs["oicp"][0]["product_id"] == cheap and costs["oicp"][0]["provider_id"] == "DE-8EO"
    # OCPI's CDR states exactly what was recorded for its session.
    assert ocpi_cdr.body["total_cost"] == costs["ocpi"][0]["costing"]["total_cost"]
    assert ocpi_cdr.body["charging_periods"] == costs["ocpi"][1].charging_periods
    assert hubject.invalid == [] and emsp.invalid == []


@pytest.mark.usefixtures("cli_database")
def test_cli_assigns_lists_and_pushes(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    for key, value in (("ENABLED", "true"), ("ALLOW_PLAIN_HTTP", "true"),
                       ("BASE_URL", "http://127.0.0.1:9")):
        monkeypatch.setenv(f"CSMS_OICP_{key}", value)
    demo = DEMO_DIR
    assert main(["charge-points", "add", "CP1", "--evse", f"1={E1}", "--evse", f"2={E2}"]) == 0
    assert main(["sites", "load", str(demo / "sites.toml")]) == 0
    assert main(["tariffs", "load", str(demo / "tariffs.json")]) == 0
    assert main(["tariffs", "assign", "AC-STANDARD", "--evse", E2, "--provider", "DE-8EO"]) == 0
    assert main(["tariffs", "assign", "NOPE"]) == 2
    assert "no tariff 'NOPE'" in capsys.readouterr().err
    assert main(["tariffs", "assign", "AC-STANDARD", "--provider", "not an EMP"]) == 2
    assert main(["oicp", "push-pricing"]) == 0
    assert "queued 3 pricing fullLoad(s)" in capsys.readouterr().out
    assert main(["tariffs", "list"]) == 0
    out = capsys.readouterr().out
    assert "product AC-STANDARD-2: 0.49/KILOWATT_HOUR (Everyday 17:00-21:00)" in out
    # What EMPs see of each fee, and what is left out and why.
    (tmp_path / "every.json").write_text(json.dumps([EVERY_KIND]))
    assert main(["tariffs", "load", str(tmp_path / "every.json")]) == 0
    capsys.readouterr()
    assert main(["tariffs", "list", "--json"]) == 0
    [every] = [row["hubject_pricing"] for row in json.loads(capsys.readouterr().out)
               if row["tariff_id"] == "EVERY-KIND" and row["hubject_pricing"]]
    assert "start fee 1.5 per session, parking fee 6.0/HOUR, minimum fee 2.0 per session" in every
    assert "note: element 1 is left out: max_power cannot be expressed in a pricing product" in every
    assert main(["tariffs", "list", "--json"]) == 0
    assert {"tariff_id": "AC-STANDARD", "evse_id": E2, "provider_id": "DE-8EO", "currency": None,
            "valid_from": None, "hubject_pricing": None} in json.loads(capsys.readouterr().out)
    assert main(["tariffs", "unassign", "--evse", E2, "--provider", "DE-8EO"]) == 0
    assert main(["tariffs", "costs"]) == 0

