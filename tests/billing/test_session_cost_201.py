"""OCPP 2.0.1 block I end to end: CostUpdated while charging on a tariffed EVSE, the final totalCost
in the Ended event's answer equal to the CDR's cost, and nothing of either without a tariff."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from csms.app import App
from csms.domain.billing.cost import Costing, Price
from csms.domain.billing.session_costs import shown_total
from csms.domain.billing.tariffs import assign, put_tariffs
from csms.domain.charge_points import register
from csms.storage import store
from simulators.chargepoint import SimConfig
from simulators.chargepoint201 import ChargePoint201
from simulators.partners.emsp import SimulatedEmsp
from tests.conftest import AppFactory
from tests.ocpi.test_ocpi_sessions import TARIFF, check_cdr, setup
from tests.oicp.test_oicp_roaming import _async
from tests.support import eventually, ws_url

TICK_KWH = 2.75  # the simulator's 11 kW for 900 simulated seconds per meter value
PRICE_INCL_VAT = 0.40 * 1.19  # test_ocpi_sessions' tariff AC-1: 0.40 EUR/kWh, 19 % VAT


@pytest.fixture
async def charger() -> AsyncIterator[list[ChargePoint201]]:
    made: list[ChargePoint201] = []
    yield made
    for sim in made:
        await sim.stop()


def _sim(app: App, made: list[ChargePoint201], charge_point_id: str) -> ChargePoint201:
    sim = ChargePoint201(SimConfig(charge_point_id=charge_point_id, url=ws_url(app),
                                   meter_interval=0.2))
    made.append(sim)
    return sim


async def test_running_and_final_cost_on_a_tariffed_evse(
        make_app: AppFactory, emsp: SimulatedEmsp, charger: list[ChargePoint201]) -> None:
    app = await setup(make_app, emsp, cost_updated_interval=0)
    await emsp.push_token(emsp.token("AABB0011"))
    sim = _sim(app, charger, "CP1")
    await sim.start()
    transaction_id = await sim.start_local_session(1, "AABB0011")

    # I02: the cost so far on the meter values, growing with the energy (one tick at a time).
    shown = await eventually(lambda: _async(
        (costs := sim.displayed_costs.get(transaction_id, [])) and len(costs) >= 3 and list(costs)))
    possible = {round(k * TICK_KWH * PRICE_INCL_VAT, 4) for k in range(1, 200)}
    assert set(shown) <= possible and shown == sorted(shown)
    await sim.stop_local_session(1)
    await sim.flush()

    # I03: the final total, the very cost the CDR states (incl. VAT), with a line for the display.
    cdr = await check_cdr(app, emsp, "WHITELIST")
    total, message = sim.final_costs[transaction_id]
    assert total == cdr["total_cost"]["incl_vat"] and total >= shown[-1] > 0
    assert message == {"format": "ASCII", "content": f"Total cost: {total:.2f} EUR"}


async def test_no_cost_messages_without_a_tariff(make_app: AppFactory,
                                                 charger: list[ChargePoint201]) -> None:
    app = await make_app(cost_updated_interval=0)
    await register(app.pool, "CP9", None, {1: "DE*ABC*E0009*1"}, events=app.events,
                   security_profile=0)
    await store.upsert_token(app.pool, "CARD9")
    sim = _sim(app, charger, "CP9")
    await sim.start()
    transaction_id = await sim.start_local_session(1, "CARD9")
    start_wh = sim.meter_wh[1]
    await eventually(lambda: _async(sim.meter_wh[1] >= start_wh + 3 * 2750))
    await sim.flush()
    await sim.stop_local_session(1)
    await sim.flush()
    [session] = await store.list_sessions(app.pool, "completed", None, None, 10, 0)
    assert session["meter_stop_wh"] >= start_wh + 3 * 2750  # it charged, metered all along
    assert sim.displayed_costs == {} and transaction_id not in sim.final_costs
    assert [name for name, _ in sim.calls if name == "CostUpdated"] == []


@pytest.mark.parametrize(("incl", "excl", "shown"), [
    (2.38, 2.0, 2.38),  # OCPP's totalCost is including taxes
    (None, 2.0, 2.0),   # a tariff without VAT: excluding is all we know
    (0.0, 0.0, 0.0),    # a free session on a tariff says so: 0.00
])
def test_shown_total(incl: float | None, excl: float, shown: float) -> None:
    cost = Costing(Price(excl, incl), None, None, None, None, 0.0, 0.0, 0.0, [])
    assert shown_total(cost) == shown


@pytest.mark.parametrize(("interval", "display", "shown"), [
    (60.0, True, 1),   # at most one a minute: the first meter values only, in a short session
    (0.0, False, 0),   # no display (CostUpdated NotImplemented): asked once, then no more
])
async def test_cost_updates_throttled_and_refused(make_app: AppFactory, charger: list[ChargePoint201],
                                                  interval: float, display: bool, shown: int) -> None:
    app = await make_app(cost_updated_interval=interval)
    await put_tariffs(app.pool, app.events, [TARIFF])
    await register(app.pool, "CP8", None, {1: "DE*ABC*E0008*1"}, events=app.events,
                   security_profile=0)
    await assign(app.pool, app.events, "AC-1", ["DE*ABC*E0008*1"])
    await store.upsert_token(app.pool, "CARD8")
    sim = _sim(app, charger, "CP8")
    sim.display = display
    await sim.start()
    transaction_id = await sim.start_local_session(1, "CARD8")
    start_wh = sim.meter_wh[1]
    await eventually(lambda: _async(sim.meter_wh[1] >= start_wh + 4 * 2750))
    await sim.flush()
    await sim.stop_local_session(1)
    await sim.flush()
    assert len([name for name, _ in sim.calls if name == "CostUpdated"]) == 1
    assert len(sim.displayed_costs.get(transaction_id, [])) == shown
    assert sim.final_costs[transaction_id][0] > 0  # the final cost comes all the same
