"""OICP roaming end to end: Hubject's remote start → charger → meter values → remote stop → one CDR."""

from __future__ import annotations

import json
import uuid
from typing import Any

from bridge import outbox
from csms.app import App
from csms.domain.charge_points import register
from csms.storage import store
from simulators.chargepoint import SimConfig
from simulators.chargepoint16 import ChargePoint16
from simulators.partners.hubject import SimulatedHubject
from tests.charging.test_charging import TICK_WH
from tests.conftest import AppFactory, SimFactory
from tests.support import eventually, oicp_settings, ws_url

CDR = "eRoamingChargeDetailRecord_V2.2"
EVCO = "DE-8EO-CAet5e4XY-3"


def remote_start_body(evse_id: str = "DE*ABC*E0001*1", **overrides: Any) -> dict[str, Any]:
    return {"SessionID": str(uuid.uuid4()), "EMPPartnerSessionID": "emp-1", "ProviderID": "DE-8EO",
            "EvseID": evse_id, "Identification": {"RemoteIdentification": {"EvcoID": EVCO}},
            "PartnerProductID": "AC3", **overrides}


def cpo_url(app: App) -> str:
    assert app.oicp is not None
    return f"http://127.0.0.1:{app.oicp.inbound.port}"


async def _async(value: Any) -> Any:
    return value


async def test_remote_start_to_exactly_one_cdr(make_app: AppFactory, hubject: SimulatedHubject,
                                               sims: SimFactory) -> None:
    app = await make_app(oicp=oicp_settings(hubject, time_zone="Europe/Berlin"))
    await register(app.pool, "CP1", None, {1: "DE*ABC*E0001*1"}, security_profile=0)
    sim = sims(app)
    await sim.start()

    start = remote_start_body()
    answer = await hubject.remote_start(cpo_url(app), start)
    assert (answer["Result"], answer["StatusCode"]["Code"]) == (True, "000")
    assert answer["SessionID"] == start["SessionID"]
    session_id = answer["CPOPartnerSessionID"]

    async def metered() -> bool:
        return len(await store.energy_readings(app.pool, session_id)) >= 4
    await eventually(metered)
    await sim.set_status(1, "Faulted", "GroundFailure")  # a charger fault mid-session
    stop = {k: start[k] for k in ("SessionID", "ProviderID", "EvseID", "EMPPartnerSessionID")}
    answer = await hubject.remote_stop(cpo_url(app), stop)
    assert (answer["Result"], answer["StatusCode"]["Code"]) == (True, "000")

    [cdr] = await eventually(lambda: _async(hubject.accepted(CDR)))
    session = await store.get_session(app.pool, session_id)
    assert session is not None and session["status"] == "completed"
    body = cdr.body
    assert body["SessionID"] == start["SessionID"] and body["CPOPartnerSessionID"] == session_id
    assert body["Identification"] == {"RemoteIdentification": {"EvcoID": EVCO}}
    assert (body["EMPPartnerSessionID"], body["PartnerProductID"], body["EvseID"]) == \
        ("emp-1", "AC3", "DE*ABC*E0001*1")
    energy_wh = session["meter_stop_wh"] - session["meter_start_wh"]
    assert energy_wh > 0 and energy_wh % TICK_WH == 0
    assert body["ConsumedEnergy"] == energy_wh / 1000
    assert (body["MeterValueStart"], body["MeterValueEnd"]) == (1.0, sim.meter_wh[1] / 1000)
    assert body["MeterValueInBetween"]["meterValues"] == sorted(body["MeterValueInBetween"]["meterValues"])
    assert body["SessionStart"].endswith("+01:00") and body["SessionEnd"].endswith("+01:00")
    assert body["ChargingEnd"] >= body["ChargingStart"]

    await sim.flush()
    await eventually(lambda: _no_pending(app))
    assert len(hubject.accepted(CDR)) == 1
    assert hubject.invalid == [] and hubject.bad_answers == []

    # Notifications, in order, before the CDR; Progress throttled to one per 5 minutes.
    roaming = [r for r in hubject.accepted() if r.operation != "eRoamingPushEvseStatus_V2.1"]
    assert [r.body.get("Type", "CDR") for r in roaming] == ["Start", "Progress", "Error", "End", "CDR"]
    notes = {r.body.get("Type"): r.body for r in roaming}
    assert all(n["SessionID"] == start["SessionID"] for n in notes.values())
    assert notes["Start"]["Identification"] == {"RemoteIdentification": {"EvcoID": EVCO}}
    assert notes["Progress"]["ChargingDuration"] >= 0 and notes["Progress"]["ConsumedEnergyProgress"] > 0
    assert notes["Error"]["ErrorType"] == "CriticalError"
    assert notes["End"]["ConsumedEnergy"] == body["ConsumedEnergy"]


async def _no_pending(app: App) -> bool:
    return not await outbox.list_messages(app.pool, "hubject", "pending")


async def test_local_sessions_of_our_own_customers_make_no_oicp_cdr(
        make_app: AppFactory, hubject: SimulatedHubject) -> None:
    app = await make_app(oicp=oicp_settings(hubject))
    await register(app.pool, "CP1", None, {1: "DE*ABC*E0001*1"}, security_profile=0)
    await store.upsert_token(app.pool, "OURCARD")
    sim = ChargePoint16(SimConfig("CP1", ws_url(app), meter_interval=0.1))
    await sim.start()
    try:
        await sim.start_local_session(1, "OURCARD")
        await eventually(lambda: _async(sim.meter_wh[1] > 1000))
        await sim.stop_local_session(1)
        await sim.flush()
        await eventually(lambda: _no_pending(app))
    finally:
        await sim.stop()
    assert hubject.accepted(CDR) == []
    assert {r.operation for r in hubject.received} == {"eRoamingPushEvseStatus_V2.1"}


async def test_negative_acknowledgements(make_app: AppFactory, hubject: SimulatedHubject) -> None:
    app = await make_app(oicp=oicp_settings(hubject))
    await register(app.pool, "CP1", None, {1: "DE*ABC*E0001*1"}, security_profile=0)
    await register(app.pool, "CP2", None, {1: "DE*ABC*E0002*1"}, security_profile=0)  # never connects
    sim = ChargePoint16(SimConfig("CP1", ws_url(app), meter_interval=0.2))
    await sim.start()
    url = cpo_url(app)
    start_path = "/api/oicp/charging/v21/providers/DE-8EO/authorize-remote/start"

    async def code(answer: Any) -> str:
        assert answer["Result"] is False, answer
        return str(answer["StatusCode"]["Code"])

    try:
        bad: list[tuple[Any, str]] = [
            (await hubject.send(url, start_path, None, raw=b"{not json"), "022"),
            (await hubject.send(url, start_path, None, raw=b"[" * 30_000 + b"]" * 30_000), "022"),
            (await hubject.remote_start(url, {**remote_start_body(), "Identification": {}}), "022"),
            (await hubject.remote_start(url, {k: v for k, v in remote_start_body().items()
                                              if k != "SessionID"}), "022"),
            (await hubject.send(url, start_path.replace("DE-8EO", "DE-XXX"), remote_start_body()),
             "022"),
            (await hubject.remote_start(url, remote_start_body("DE*ABC*E9999*1")), "603"),
            (await hubject.remote_start(url, remote_start_body("DE*ABC*E0002*1")), "501"),
            (await hubject.remote_stop(url, {"SessionID": str(uuid.uuid4()), "ProviderID": "DE-8EO",
                                             "EvseID": "DE*ABC*E0001*1"}), "400"),
        ]
        for answer, expected in bad:
            assert await code(answer) == expected, json.dumps(answer)
        assert await store.list_sessions(app.pool, None, None, None, 10, 0) == []  # no side effect

        first = remote_start_body()
        assert (await hubject.remote_start(url, first))["Result"] is True
        await eventually(lambda: _active(app))
        assert await code(await hubject.remote_start(url, remote_start_body())) == "602"
        assert await code(await hubject.remote_start(url, first)) == "400"  # SessionID reused
        wrong_evse = {"SessionID": first["SessionID"], "ProviderID": "DE-8EO",
                      "EvseID": "DE*ABC*E0002*1"}
        assert await code(await hubject.remote_stop(url, wrong_evse)) == "400"
        # The charger itself refused the 602 one (it, not our record, knows the EVSE is busy).
        assert [s["status"] for s in await store.list_sessions(app.pool, None, None, None, 10, 0)] \
            == ["failed", "active"]
    finally:
        await sim.stop()
    assert hubject.bad_answers == []


async def _active(app: App) -> bool:
    return len(await store.list_sessions(app.pool, "active", None, None, 10, 0)) == 1


async def test_outage_and_restart_mid_session_deliver_everything_once_in_order(
        make_app: AppFactory, hubject: SimulatedHubject, sims: SimFactory) -> None:
    app = await make_app(oicp=oicp_settings(hubject, progress_interval=0))
    await register(app.pool, "CP1", None, {1: "DE*ABC*E0001*1"}, security_profile=0)
    sim = sims(app)
    await sim.start()
    await eventually(lambda: _no_pending(app))
    hubject.down = True  # from before the session starts until after our restart

    start = remote_start_body()
    answer = await hubject.remote_start(cpo_url(app), start)
    assert answer["Result"] is True
    session_id = answer["CPOPartnerSessionID"]

    async def metered() -> bool:
        return len(await store.energy_readings(app.pool, session_id)) >= 3
    await eventually(metered)
    stop = {k: start[k] for k in ("SessionID", "ProviderID", "EvseID")}
    assert (await hubject.remote_stop(cpo_url(app), stop))["Result"] is True
    await sim.flush()
    await eventually(lambda: _async(hubject.received))  # tried, and refused: Hubject is down

    # Our process goes away with everything undelivered, and comes back.
    await sim.stop()
    pending = await outbox.list_messages(app.pool, "hubject", "pending")
    await app.stop()
    app = await make_app(oicp=oicp_settings(hubject, progress_interval=0))
    assert hubject.accepted() == []
    hubject.down = False
    await eventually(lambda: _no_pending(app))

    roaming = [r for r in hubject.accepted() if r.operation != "eRoamingPushEvseStatus_V2.1"]
    kinds = [r.body.get("Type", "CDR") for r in roaming]
    assert kinds[0] == "Start" and kinds[-2:] == ["End", "CDR"]
    assert set(kinds[1:-2]) == {"Progress"} and len(kinds) == len(
        [m for m in pending if m["partner"] == "hubject"
         and m["operation"] != "PushEvseStatus"])
    # Exactly once: no message twice, the CDR once.
    bodies = [json.dumps(r.body, sort_keys=True) for r in roaming]
    assert len(bodies) == len(set(bodies)) and len(hubject.accepted(CDR)) == 1
    assert hubject.accepted(CDR)[0].body["SessionID"] == start["SessionID"]
    assert hubject.invalid == []


async def test_remote_start_refused_for_a_card_we_hold_as_blocked(
        make_app: AppFactory, hubject: SimulatedHubject) -> None:
    app = await make_app(oicp=oicp_settings(hubject))
    await register(app.pool, "CP1", None, {1: "DE*ABC*E0001*1"}, security_profile=0)
    await store.upsert_token(app.pool, "04BLOCKED", status="blocked")
    await store.upsert_token(app.pool, EVCO, type_="eMAID", status="blocked")
    await store.upsert_token(app.pool, "04GOOD")
    sim = ChargePoint16(SimConfig("CP1", ws_url(app), meter_interval=0.2))
    await sim.start()

    def rfid(uid: str) -> dict[str, Any]:
        return remote_start_body(Identification={"RFIDMifareFamilyIdentification": {"UID": uid}})
    try:
        url = cpo_url(app)
        answer = await hubject.remote_start(url, rfid("04BLOCKED"))
        assert (answer["Result"], answer["StatusCode"]) == (
            False, {"Code": "102", "Description": "token is blocked"}), answer
        answer = await hubject.remote_start(url, remote_start_body())  # the EvcoID
        assert (answer["Result"], answer["StatusCode"]["Code"]) == (False, "200"), answer
        assert [name for name, _ in sim.calls if name == "RemoteStartTransaction"] == []
        assert await store.list_sessions(app.pool, None, None, None, 10, 0) == []

        answer = await hubject.remote_start(url, rfid("04GOOD"))
        assert (answer["Result"], answer["StatusCode"]["Code"]) == (True, "000"), answer
        assert (await sim.wait_for_call("RemoteStartTransaction"))["idTag"] == "04GOOD"
    finally:
        await sim.stop()
    assert hubject.bad_answers == []
