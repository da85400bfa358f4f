"""The overview's figures: power drawn now, energy charged since midnight across sessions, faults."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from csms.app import App
from csms.domain.charge_points import register
from csms.operator.http.overview_api import fleet
from simulators.chargepoint import SimConfig
from simulators.chargepoint16 import ChargePoint16
from simulators.partners.emsp import SimulatedEmsp
from tests.conftest import AppFactory
from tests.ocpi.test_ocpi_sessions import _async, finished_session
from tests.ocpi.test_ocpi_sessions import setup as ocpi_setup
from tests.operators.console.test_console import api_for  # noqa: F401 (a fixture)
from tests.support import Api, eventually, ws_url


async def session(app: App, evse: int, status: str, started: datetime, stopped: datetime | None,
                  start_wh: float, stop_wh: float | None,
                  samples: list[tuple[str, datetime, float]]) -> str:
    evse_pk = await app.pool.fetchval(
        "SELECT id FROM evses WHERE charge_point_id = 'CP1' AND evse_number = $1", evse)
    session_id = await app.pool.fetchval(
        """INSERT INTO sessions (charge_point_id, evse, status, started_at, stopped_at,
                                 meter_start_wh, meter_stop_wh)
           VALUES ('CP1', $1, $2, $3, $4, $5, $6) RETURNING id""",
        evse_pk, status, started, stopped, start_wh, stop_wh)
    await app.pool.executemany(
        """INSERT INTO meter_samples (session_id, charge_point_id, evse, sampled_at, measurand, value)
           VALUES ($1, 'CP1', $2, $3, $4, $5)""",
        [(session_id, evse_pk, at, measurand, value) for measurand, at, value in samples])
    return str(session_id)


ENERGY, POWER = "Energy.Active.Import.Register", "Power.Active.Import"


async def test_overview_counts_power_now_and_energy_since_midnight(app: App, api: Api) -> None:
    await register(app.pool, "CP1", None, {1: None, 2: None, 3: None}, events=app.events,
                   security_profile=0)
    now = datetime.now(UTC).replace(microsecond=0)
    since = now - timedelta(hours=5)  # "midnight"
    hour = timedelta(hours=1)
    # Running since before midnight: only what it charged after counts; its power is fresh.
    await session(app, 1, "active", since - hour, None, 1000, None, [
        (ENERGY, since - timedelta(minutes=10), 1500), (ENERGY, since + hour, 2500),
        (POWER, now - timedelta(minutes=1), 7000)])
    # Charged all after midnight: all of it.
    await session(app, 1, "completed", since + hour, since + 2 * hour, 0, 4000, [])
    # Ended before midnight: none of it.
    await session(app, 1, "completed", since - 3 * hour, since - 2 * hour, 0, 9000, [])
    # Running, but its power was last said an hour ago: not drawn "now".
    await session(app, 2, "active", since + hour, None, 0, None, [
        (ENERGY, since + 2 * hour, 300), (POWER, now - hour, 22000)])
    await app.pool.execute("""UPDATE evses SET status = 'faulted', error_code = 'GroundFailure',
                              status_at = now() WHERE evse_number = 3""")
    await app.pool.execute("""UPDATE charge_points SET status = 'faulted', error_code = 'OtherError',
                              last_seen = now() - interval '1 day'""")

    seen: dict[str, Any] = await fleet(app.pool, since)
    assert seen["chargers"] == {"total": 1, "online": 0, "offline": 1, "faulted": 1}
    assert seen["sessions"] == {"active": 2}
    assert seen["power_w"] == 7000
    assert seen["energy_today_wh"] == 1000 + 4000 + 300
    assert seen["evses"] == {"unknown": 2, "faulted": 1}
    assert [(f["evse_number"], f["error_code"]) for f in seen["faults"]] == [
        (3, "GroundFailure"), (0, "OtherError")]  # an EVSE's, the whole charger's

    overview = await api.get("/overview")
    assert overview["chargers"]["total"] == 1 and overview["since"].endswith("Z")
    status, error = await api.request("GET", "/sessions/00000000-0000-0000-0000-000000000000/details")
    assert status == 404 and error["error"] == "unknown session"
    status, _ = await api.request("GET", "/sessions/nope/details")
    assert status == 404


async def test_an_ocpi_sessions_details_name_its_token_party_cost_and_cdr(
        make_app: AppFactory, emsp: SimulatedEmsp, api_for: Any) -> None:  # noqa: F811
    app = await ocpi_setup(make_app, emsp)
    await emsp.push_token(emsp.token("AABB0011"))
    sim = ChargePoint16(SimConfig("CP1", ws_url(app), meter_interval=0.2))
    await sim.start()
    try:
        await sim.start_local_session(1, "AABB0011")
        await eventually(lambda: _async(sim.meter_wh[1] > 3000))
        await sim.stop_local_session(1)
        await sim.flush()
    finally:
        await sim.stop()
    await eventually(lambda: _async(emsp.of("POST", "/cdrs")))
    session = await eventually(lambda: finished_session(app))
    api = await api_for(app)

    async def delivered() -> Any:
        details = await api.get(f"/sessions/{session['id']}/details")
        return details if [c["status"] for c in details["cdrs"]] == ["delivered"] else None

    details = await eventually(delivered)
    assert details["roaming"]["oicp"] is None
    assert details["roaming"]["ocpi"] == {**details["roaming"]["ocpi"], "token_uid": "AABB0011",
                                          "party": "NL*EMS"}
    assert (details["cdrs"][0]["protocol"], details["cdrs"][0]["credit"]) == ("ocpi", False) \
        and details["cdrs"][0]["id"] == str(session["id"]) and details["cdrs"][0]["partner"] == \
        f"ocpi:{details['roaming']['ocpi']['partner']}" and details["power_w"] is None
    cost = details["cost"]
    kwh = (session["meter_stop_wh"] - session["meter_start_wh"]) / 1000
    assert (cost["final"], cost["tariff_id"], cost["source"], cost["currency"]) == \
        (True, "AC-1", "ocpi CDR", "EUR")
    assert cost["total_cost"]["incl_vat"] == round(kwh * 0.40 * 1.19, 4)
