"""The load manager end to end, both versions: fallback changes lower first, Tx profiles end with
their session, an EVSE's energy settings followed at once."""

from __future__ import annotations

from csms.app import App
from csms.domain.energy.fallback import FALLBACK_PROFILE_ID
from csms.storage import store
from simulators.chargepoint import SimulatedChargePoint
from tests.conftest import SimFactory
from tests.energy_support import make_site, set_limit, tx_limit, wait_for
from tests.support import Api, eventually
from tests.test_load_manager import _charger, sims  # noqa: F401  (both versions, taking turns)


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
