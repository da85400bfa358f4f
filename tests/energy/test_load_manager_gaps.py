"""The load manager end to end, both versions: fallback changes lower first, Tx profiles end with
their session, an EVSE's energy settings followed at once."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from csms.app import App
from csms.domain.energy.fallback import FALLBACK_PROFILE_ID
from csms.storage import store
from csms.storage.energy import load_store
from simulators.chargepoint import SimulatedChargePoint
from tests.conftest import AppFactory, SimFactory
from tests.energy.test_load_manager import _charger, sims  # noqa: F401  (both versions, taking turns)
from tests.energy_support import Watch, make_site, set_limit, settled, tx_limit, wait_for
from tests.support import Api, eventually


async def _tx_recorded(api: Api, cp: str) -> list[tuple[int, int]]:
    """The Tx profiles we list for the charger: (EVSE, profile id)."""
    return [(p["evse"], p["profile"]["id"])
            for p in await api.items(f"/charge-points/{cp}/charging-profiles")
            if p["profile"]["purpose"] == "Tx"]


async def _ended(app: App, cp: str) -> bool:
    return not await app.pool.fetchval(
        "SELECT EXISTS (SELECT 1 FROM sessions WHERE charge_point_id = $1 AND status = 'active')",
        cp)


def _tx_held(sim: SimulatedChargePoint) -> list[tuple[int, int]]:
    return [(h.evse, h.id) for h in sim.profiles.held.values() if h.purpose == "tx"]


async def test_tx_profiles_end_with_their_session(app: App, api: Api,
                                                  sims: SimFactory) -> None:  # noqa: F811
    """What we list matches what the charger holds: its Tx profile is gone with the session."""
    await store.upsert_token(app.pool, "CARD")
    await make_site(app, "S1", {"CPA": 1, "CPB": 1})
    await set_limit(app, "S1", 32, fallback=0)
    a = await _charger(app, sims, "CPA")  # 1.6
    b = await _charger(app, sims, "CPB")  # 2.0.1
    await a.start_local_session(1, "CARD")
    await b.start_local_session(1, "CARD")
    await wait_for(lambda: tx_limit(a) == 16 and tx_limit(b) == 16)
    await settled(app, "S1")  # the answers recorded
    for sim, cp in ((a, "CPA"), (b, "CPB")):
        assert await _tx_recorded(api, cp) == _tx_held(sim) == [(1, 9002)]

    await a.stop_local_session(1)
    await b.stop_local_session(1)
    for sim, cp in ((a, "CPA"), (b, "CPB")):
        await eventually(lambda cp=cp: _ended(app, cp))  # type: ignore[misc]
        assert _tx_held(sim) == []
        assert await _tx_recorded(api, cp) == []  # in the session's own transaction
    # The fallback (a TxDefaultProfile) outlives the sessions, here and there.
    assert FALLBACK_PROFILE_ID in a.profiles.held
    assert [p["profile"]["id"] for p in await api.items("/charge-points/CPA/charging-profiles")
            ] == [FALLBACK_PROFILE_ID]


def _fallback(sim: SimulatedChargePoint) -> float | None:
    """The limit of our fallback profile the charger holds, or None."""
    held = sim.profiles.held.get(FALLBACK_PROFILE_ID)
    return None if held is None else float(held.schedule["charging_schedule_period"][0]["limit"])


async def _sharing(app: App, sims: SimFactory, watch: Watch, fallback: float,  # noqa: F811
                   ) -> tuple[SimulatedChargePoint, SimulatedChargePoint]:
    """CPA (1.6) charging, CPB (2.0.1) idle, on a 32 A site with this fallback."""
    await store.upsert_token(app.pool, "CARD")
    await make_site(app, "S1", {"CPA": 1, "CPB": 1})
    await set_limit(app, "S1", 32, fallback=fallback)
    a = await _charger(app, sims, "CPA", watch, fallback=fallback)
    b = await _charger(app, sims, "CPB", watch, fallback=fallback)
    await a.start_local_session(1, "CARD")
    await wait_for(lambda: tx_limit(a) == 32 - fallback)
    await settled(app, "S1")
    assert app.fallback is not None
    await app.fallback.settled()
    watch.limit = 32  # armed now that every charger holds its fallback
    watch.note()
    return a, b


async def test_a_raised_fallback_waits_for_the_sessions_lowered(app: App, api: Api,
                                                                sims: SimFactory) -> None:  # noqa: F811
    watch = Watch(limit=float("inf"))  # a charger is not bound before its fallback profile
    a, b = await _sharing(app, sims, watch, fallback=0)
    a.profile_answers.clear()  # what CPA is sent stays in flight until we let it through
    status, answer = await api.request("PUT", "/sites/S1/limit",
                                       json={"amps": 32, "fallback_amps": 8})
    assert status == 200, answer
    await wait_for(lambda: a.profiles_waiting > 0)  # CPA's session lowered to make room: in flight
    assert app.fallback is not None
    await app.fallback.settled()
    assert _fallback(b) == 0  # the idle EVSE's fallback is raised only after that
    a.profile_answers.set()
    await wait_for(lambda: tx_limit(a) == 24 and _fallback(a) == 8 and _fallback(b) == 8)
    assert watch.history and not watch.over(), watch.over()


async def test_a_lowered_fallback_is_taken_before_anything_is_raised(
        app: App, api: Api, sims: SimFactory) -> None:  # noqa: F811
    watch = Watch(limit=float("inf"))  # a charger is not bound before its fallback profile
    a, b = await _sharing(app, sims, watch, fallback=8)
    b.profile_answers.clear()  # CPB's lower fallback stays in flight until we let it through
    status, answer = await api.request("PUT", "/sites/S1/limit",
                                       json={"amps": 32, "fallback_amps": 0})
    assert status == 200, answer
    await wait_for(lambda: b.profiles_waiting > 0)
    # CPA's fallback lowered alongside (the same round's lowerings): not raised meanwhile.
    await wait_for(lambda: _fallback(a) == 0)
    assert tx_limit(a) == 24 and _fallback(b) == 8
    b.profile_answers.set()
    await wait_for(lambda: tx_limit(a) == 32 and _fallback(a) == 0 and _fallback(b) == 0)
    assert watch.history and not watch.over(), watch.over()


async def test_an_evse_priority_is_followed_at_once(app: App, api: Api,
                                                    sims: SimFactory) -> None:  # noqa: F811
    watch = Watch(limit=float("inf"))  # a charger is not bound before its fallback profile
    await store.upsert_token(app.pool, "CARD")
    await make_site(app, "S1", {"CPA": 1, "CPB": 1})
    await set_limit(app, "S1", 32, fallback=0)
    # No meter values (their draws trigger rounds too): what moves the current is the change.
    a = await _charger(app, sims, "CPA", watch, meter_interval=3600)
    b = await _charger(app, sims, "CPB", watch, meter_interval=3600)
    await a.start_local_session(1, "CARD")
    await b.start_local_session(1, "CARD")
    await wait_for(lambda: tx_limit(a) == 16 and tx_limit(b) == 16)
    await settled(app, "S1")
    watch.limit = 32
    watch.note()
    # No periodic round from here on: only the change's own trigger can move the current.
    assert app.load_manager is not None and app.load_manager._loop_task is not None
    app.load_manager._loop_task.cancel()

    status, answer = await api.request("PUT", "/charge-points/CPB/evses/1/energy",
                                       json={"priority": 5})
    assert status == 200, answer
    await wait_for(lambda: tx_limit(b) == 26 and tx_limit(a) == 6)  # A keeps its minimum
    status, answer = await api.request("DELETE", "/charge-points/CPB/evses/1/energy")
    assert status == 200, answer
    await wait_for(lambda: tx_limit(a) == 16 and tx_limit(b) == 16)
    assert not watch.over(), watch.over()


async def test_an_evse_maximum_is_followed_at_once_without_a_site_limit(
        app: App, api: Api, sims: SimFactory) -> None:  # noqa: F811
    """A charger managed for its caps alone (its site has no limit) follows its EVSE's maximum."""
    await store.upsert_token(app.pool, "CARD")
    await make_site(app, "S1", {"CPA": 1})
    a = await _charger(app, sims, "CPA", fallback=None, meter_interval=3600)
    await a.start_local_session(1, "CARD")
    result = await app.commands.set_evse_cap("CPA", 1, "grid:EMS", Decimal(20))
    assert result.accepted, result
    await wait_for(lambda: tx_limit(a) == 20)
    assert app.load_manager is not None and app.load_manager._loop_task is not None
    app.load_manager._loop_task.cancel()  # no periodic round: only the change's own trigger

    status, answer = await api.request("PUT", "/charge-points/CPA/evses/1/energy",
                                       json={"max_amps": 10})
    assert status == 200, answer
    await wait_for(lambda: tx_limit(a) == 10)
    status, answer = await api.request("DELETE", "/charge-points/CPA/evses/1/energy")
    assert status == 200, answer
    await wait_for(lambda: tx_limit(a) == 20)


async def test_a_limit_lowered_below_the_fallbacks_lowers_them_first(
        make_app: AppFactory, sims: SimFactory) -> None:  # noqa: F811
    """The limit and the fallback lowered together: the fallbacks go out with the sessions'
    lowering, and nothing is raised into the room they leave before the chargers took them."""
    app = await make_app(call_timeout=2)  # a call held in flight ends the round soon
    api = Api(f"http://127.0.0.1:{app.api.port}/api/v1")
    watch = Watch(limit=float("inf"))  # a charger is not bound before its fallback profile
    try:
        await store.upsert_token(app.pool, "CARD")
        await make_site(app, "S1", {"CPA": 1, "CPB": 1, "CPC": 1})
        await set_limit(app, "S1", 48, fallback=16)
        a = await _charger(app, sims, "CPA", watch, fallback=16)  # 1.6
        b = await _charger(app, sims, "CPB", watch, fallback=16)  # 2.0.1
        await _charger(app, sims, "CPC", watch, fallback=16)  # 1.6
        await a.start_local_session(1, "CARD")
        await wait_for(lambda: tx_limit(a) == 16)  # the others keep 16 each for a session
        await settled(app, "S1")
        watch.limit = 48
        watch.note()

        b.profile_answers.clear()  # CPB's lower fallback stays in flight
        since = await load_store.clock(app.pool)
        status, answer = await api.request("PUT", "/sites/S1/limit",
                                           json={"amps": 40, "fallback_amps": 4})
        assert status == 200, answer
        await eventually(lambda: _evaluated_after(app, since))  # a round over, CPB unanswered
        assert _fallback(a) == 4 and _fallback(b) == 16
        assert tx_limit(a) == 16  # not raised into room CPB may not have given yet
        b.profile_answers.set()
        await wait_for(lambda: _fallback(b) == 4 and tx_limit(a) == 32)  # 40 - 2 x 4
        assert watch.history and not watch.over(), watch.over()
        watch.limit = 40
        watch.note()
        assert not watch.over(), watch.over()
    finally:
        await api.http.close()


async def _evaluated_after(app: App, since: datetime) -> bool:
    at = await load_store.evaluated_at(app.pool, "S1")
    return at is not None and at > since
