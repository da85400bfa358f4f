"""The fallback profile end to end (both versions): a charger on a limited site holds it from boot."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from csms.app import App
from csms.domain.charge_points import assign_sites, register, retire
from csms.domain.energy.fallback import FALLBACK_PROFILE_ID
from csms.domain.energy.load_allocation import SiteLimit
from csms.domain.energy.site_limits import SiteLimits
from csms.domain.sites import Site
from csms.storage.energy import site_limit_store as limits_store
from simulators.chargepoint import SimulatedChargePoint
from tests.conftest import AppFactory, SimFactory
from tests.support import Api, eventually

LIMIT = "/sites/S1/limit"


async def _site(app: App, *charge_points: str) -> None:
    for charge_point_id in charge_points:
        await register(app.pool, charge_point_id, None, {1: None, 2: None}, security_profile=0)
    await assign_sites(app.pool, app.events, [Site(
        id="S1", name="Depot", country="DEU", city="Berlin", street="Hauptstr.", postal_code="10115",
        house_number="1", latitude=52.5, longitude=13.4, hotline="+4930123456",
        time_zone="Europe/Berlin", charge_points=charge_points)])


def _held(sim: SimulatedChargePoint) -> Any:
    """The fallback as the charger holds it: (EVSE, purpose, stack level, limit now on EVSE 1)."""
    held = sim.profiles.held.get(FALLBACK_PROFILE_ID)
    if held is None:
        return None
    return held.evse, held.purpose, held.stack_level, sim.profiles.limit(1, datetime.now(UTC))


async def _holds(sim: SimulatedChargePoint, amps: float) -> bool:
    return _held(sim) == (0, "default", 0, amps)


async def test_fallback_from_boot_and_on_change(app: App, api: Api, sims: SimFactory) -> None:
    await _site(app, "CP1", "CP2")
    # 40 A on the lowest phase over 4 EVSEs: 10 A each by default.
    status, answer = await api.request("PUT", LIMIT, json={"amps": [63, 63, 40]})
    assert status == 200 and answer["fallback_amps"] == 10, answer
    sim = sims(app, "CP1", connectors=2)
    await sim.start()
    await eventually(lambda: _holds(sim, 10.0))
    # As we recorded it: sent through the command service, accepted.
    assert await eventually(lambda: _recorded(api)) == [
        (0, "Accepted", FALLBACK_PROFILE_ID, "TxDefault", [{"start": 0, "limit": 10.0,
                                                            "phases": None}])]

    # A session that starts before any Tx profile of ours draws at most the fallback.
    from csms.storage import store
    await store.upsert_token(app.pool, "CARD")
    await sim.start_local_session(1, "CARD")
    assert sim.drawn_w(1) == 10.0 * 230 * 3
    await sim.stop_local_session(1)

    # Held as we recorded it: a reconnect (or a change that leaves it) sends nothing again.
    assert app.fallback is not None
    await app.fallback.settled()  # what the boot and connection started is done
    calls = _profile_calls(sim)
    assert await app.fallback.push("CP1", force=False) is None
    assert _profile_calls(sim) == calls

    # CP2's EVSEs retired: two EVSEs share the 40 A now, the default fallback follows.
    await retire(app.pool, app.events, "CP2", None)
    await eventually(lambda: _holds(sim, 20.0))

    # A change whose notification was lost (the LISTEN connection down): the load manager's
    # periodic round makes up for it (a fallback held is its to change: lower first, then
    # raise), and the fallback service's periodic check then finds nothing to do.
    await app.fallback.settled()
    await limits_store.set_site_limits(app.pool, SiteLimits(
        "S1", SiteLimit((63, 63, 40)), fallback_amps=Decimal(9), fallback_is_default=False))
    assert app.load_manager is not None
    await app.load_manager.tick()
    await eventually(lambda: _holds(sim, 9.0))
    assert await app.fallback.recheck() == []

    # Set while the charger is offline: it is given the new fallback when it is back.
    sim.network.clear()
    await sim.drop_connection()
    await eventually(lambda: _true(not sim.connected.is_set()))
    await eventually(lambda: _offline(app))
    status, answer = await api.request("PUT", LIMIT, json={"amps": [63, 63, 40],
                                                           "fallback_amps": 6})
    assert status == 200, answer
    assert await _holds(sim, 9.0)
    sim.network.set()
    await eventually(lambda: _holds(sim, 6.0))
    # A bad change is refused whole.
    status, answer = await api.request("PUT", LIMIT, json={"amps": 40, "fallback_amps": 41})
    assert status == 400 and (await api.get(LIMIT))["fallback_amps"] == 6
    # The limit goes: so does our fallback, on the charger and here.
    status, answer = await api.request("DELETE", LIMIT)
    assert status == 200
    await eventually(lambda: _true(FALLBACK_PROFILE_ID not in sim.profiles.held))
    await eventually(lambda: _no_fallback_recorded(api))


async def test_firmware_without_smart_charging_is_not_asked_again(app: App, api: Api,
                                                                   sims: SimFactory) -> None:
    await _site(app, "CP1")
    status, _ = await api.request("PUT", LIMIT, json={"amps": 32})
    assert status == 200
    sim = sims(app, "CP1", connectors=2, smart_charging=False)
    await sim.start()
    await eventually(lambda: _true(_profile_calls(sim) >= 1))  # refused with a CALLERROR
    assert app.fallback is not None
    await app.fallback.settled()
    assert await app.fallback.recheck() == []


async def test_no_limit_no_profile(app: App, api: Api, sims: SimFactory) -> None:
    """A charger on a site without a limit is sent nothing of ours."""
    await _site(app, "CP1")
    sim = sims(app, "CP1", connectors=2)
    await sim.start()
    await eventually(lambda: app.commands.online("CP1"))
    assert app.fallback is not None
    assert await app.fallback.push("CP1", force=True) is None
    assert sim.profiles.held == {}
    assert not [name for name, _ in sim.calls if name == "SetChargingProfile"]


async def _recorded(api: Api) -> list[tuple[Any, ...]]:
    return [(p["evse"], p["status"], p["profile"]["id"], p["profile"]["purpose"],
             p["profile"]["periods"])
            for p in await api.items("/charge-points/CP1/charging-profiles")]


def _profile_calls(sim: SimulatedChargePoint) -> int:
    return len([name for name, _ in sim.calls if "ChargingProfile" in name])


async def _offline(app: App) -> bool:
    return not await app.commands.online("CP1")


async def _true(value: bool) -> bool:
    return value


async def _no_fallback_recorded(api: Api) -> bool:
    return all(p["profile"]["id"] != FALLBACK_PROFILE_ID
               for p in await api.items("/charge-points/CP1/charging-profiles"))


async def test_a_change_on_one_node_reaches_a_charger_on_another(make_app: AppFactory,
                                                                  sims: SimFactory) -> None:
    """The node that changes the limit need not hold the charger: the one that does sends."""
    a = await make_app(node_id="a")
    b = await make_app(node_id="b")
    await _site(a, "CP1")
    api = Api(f"http://127.0.0.1:{a.api.port}/api/v1")
    try:
        status, _ = await api.request("PUT", LIMIT, json={"amps": 32, "fallback_amps": 8})
        assert status == 200
        sim = sims(b, "CP1", connectors=2)  # on node b
        await sim.start()
        await eventually(lambda: _holds(sim, 8.0))
        assert b.fallback is not None
        await b.fallback.settled()  # what its boot and connection started is done
        status, _ = await api.request("PUT", LIMIT, json={"amps": 32, "fallback_amps": 12})
        assert status == 200
        await eventually(lambda: _holds(sim, 12.0))
    finally:
        await api.http.close()
