"""EVSE status to Hubject, end to end: charger → CSMS → outbox → simulated Hubject; outages and restarts."""

from __future__ import annotations

from typing import Any

from bridge import outbox
from csms.app import App
from csms.domain.charge_points import register
from simulators.chargepoint import SimConfig
from simulators.chargepoint16 import ChargePoint16
from simulators.partners.hubject import SimulatedHubject
from tests.conftest import AppFactory
from tests.support import Api, eventually, oicp_settings, ws_url

STATUS = "eRoamingPushEvseStatus_V2.1"


def last_status(hubject: SimulatedHubject) -> dict[str, str]:
    """EvseID → the last status Hubject accepted for it."""
    latest: dict[str, str] = {}
    for received in hubject.accepted(STATUS):
        for record in received.body["OperatorEvseStatus"]["EvseStatusRecord"]:
            latest[record["EvseID"]] = record["EvseStatus"]
    return latest


async def _delivered_everything(app: App) -> bool:
    pending = await outbox.list_messages(app.pool, "hubject", "pending")
    return not pending


async def start_charger(app: App) -> ChargePoint16:
    await register(app.pool, "CP1", None, {1: "DE*ABC*E0001*1", 2: "DE*ABC*E0001*2"}, security_profile=0)
    sim = ChargePoint16(SimConfig("CP1", ws_url(app), connectors=2))
    await sim.start()
    return sim


async def test_status_changes_reach_hubject_one_push_at_a_time(
        make_app: AppFactory, hubject: SimulatedHubject) -> None:
    app = await make_app(oicp=oicp_settings(hubject))
    hubject.delay = 0.02  # slow answers: parallel pushes would overlap
    sim = await start_charger(app)
    try:
        for status in ("Preparing", "Charging", "Faulted", "Available"):
            await sim.set_status(1, status)
        await sim.set_status(2, "Unavailable")
        await eventually(lambda: _async(last_status(hubject) == {
            "DE*ABC*E0001*1": "Available", "DE*ABC*E0001*2": "OutOfService"}))
        await eventually(lambda: _delivered_everything(app))
    finally:
        await sim.stop()
    assert hubject.invalid == []
    assert hubject.max_in_flight == 1
    assert all(r.path == "/evsepush/v21/operators/DE*ABC/status-records" for r in hubject.received)
    pushed = [(rec["EvseID"], rec["EvseStatus"]) for r in hubject.accepted(STATUS)
              for rec in r.body["OperatorEvseStatus"]["EvseStatusRecord"]]
    # per EVSE the order is kept; bursts may be coalesced but never reordered
    evse1 = iter(s for e, s in pushed if e == "DE*ABC*E0001*1")
    happened = ["Available", "Occupied", "OutOfService", "Available"]  # boot, then the changes
    assert all(status in happened for status in evse1)  # a subsequence: nothing reordered


async def _async(value: Any) -> Any:
    return value


async def test_outage_then_every_message_once_in_order(
        make_app: AppFactory, hubject: SimulatedHubject) -> None:
    app = await make_app(oicp=oicp_settings(hubject))
    sim = await start_charger(app)
    api = Api(f"http://127.0.0.1:{app.api.port}/api/v1")
    try:
        await eventually(lambda: _async(last_status(hubject) == {
            "DE*ABC*E0001*1": "Available", "DE*ABC*E0001*2": "Available"}))
        await eventually(lambda: _delivered_everything(app))
        before = len(hubject.accepted(STATUS))
        hubject.down = True
        await sim.set_status(1, "Charging")
        await sim.set_status(2, "Faulted")

        async def waiting_with_error() -> bool:
            pending = await api.items("/outbox?partner=hubject&status=pending")
            # the oldest is retried; the one behind it waits its turn (order per EVSE and session)
            return len(pending) == 2 and [m["last_error"] for m in pending] == [None, "HTTP 503"]
        await eventually(waiting_with_error)
        await sim.set_status(1, "Available")  # coalesced into the waiting EVSE 1 message

        hubject.down = False
        await eventually(lambda: _delivered_everything(app))
        after = hubject.accepted(STATUS)[before:]
        assert [rec["EvseID"] + "=" + rec["EvseStatus"] for r in after
                for rec in r.body["OperatorEvseStatus"]["EvseStatusRecord"]] == \
            ["DE*ABC*E0001*1=Available", "DE*ABC*E0001*2=OutOfService"]
        delivered = await api.items("/outbox?partner=hubject&status=delivered")
        assert len(delivered) == len(hubject.accepted(STATUS))  # each delivered exactly once
    finally:
        await sim.stop()
        await api.http.close()


async def test_restart_with_undelivered_messages(make_app: AppFactory,
                                                 hubject: SimulatedHubject) -> None:
    app = await make_app(oicp=oicp_settings(hubject))
    sim = await start_charger(app)
    await eventually(lambda: _async(len(last_status(hubject)) == 2))
    await eventually(lambda: _delivered_everything(app))
    hubject.down = True
    await sim.set_status(2, "Reserved")
    await eventually(lambda: _async(hubject.received[-1].body["OperatorEvseStatus"]
                                    ["EvseStatusRecord"][0]["EvseStatus"] == "Reserved"))
    await sim.stop()
    await app.stop()

    hubject.down = False
    app = await make_app(oicp=oicp_settings(hubject))
    await eventually(lambda: _delivered_everything(app))
    assert last_status(hubject)["DE*ABC*E0001*2"] == "Reserved"
    assert len([r for r in hubject.accepted(STATUS)
                if r.body["OperatorEvseStatus"]["EvseStatusRecord"][0]["EvseStatus"] == "Reserved"]) == 1


async def test_refusal_is_kept_as_failed_and_can_be_retried(
        make_app: AppFactory, hubject: SimulatedHubject) -> None:
    app = await make_app(oicp=oicp_settings(hubject))
    api = Api(f"http://127.0.0.1:{app.api.port}/api/v1")
    try:
        await register(app.pool, "CP1", None, {1: "DE*ABC*E0001*1"}, security_profile=0)
        hubject.failures = [("nack", "018")]  # Inconsistent EvseID: retrying will not help
        assert app.oicp is not None
        assert await app.oicp.push_all_statuses() == 1

        async def failed() -> list[Any]:
            return list(await api.items("/outbox?status=failed"))
        [message] = await eventually(failed)
        assert message["last_error"].startswith("018") and message["attempts"] == 1
        assert message["operation"] == "PushEvseStatus" and message["body"]["ActionType"] == "fullLoad"

        status, answer = await api.post(f"/outbox/{message['id']}/retry")
        assert status == 200
        await eventually(lambda: _async(len(hubject.accepted(STATUS)) == 1))
        assert (await api.items("/outbox?status=failed")) == []
        assert (await api.post("/outbox/999999/retry"))[0] == 404
    finally:
        await api.http.close()
