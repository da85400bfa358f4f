"""The registration policy per charger: Accepted, Pending with an interval, Rejected; B02/B03 refusals."""

from __future__ import annotations

import asyncio

import pytest
from ocpp.exceptions import OCPPError
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201

from csms.app import App
from csms.domain.charge_points import register
from csms.ocpp.translations.registration import allowed
from csms.operator.command_line.cli import main
from tests.conftest import SimFactory
from tests.support import Api, eventually


@pytest.mark.parametrize(("status", "action", "triggered", "expected"), [
    (None, "Heartbeat", frozenset(), True),  # a reconnect without a boot
    ("Accepted", "TransactionEvent", frozenset(), True),
    ("Pending", "BootNotification", frozenset(), True),
    ("Pending", "Heartbeat", frozenset(), False),
    ("Pending", "Authorize", frozenset(), False),
    ("Pending", "TransactionEvent", frozenset(), False),
    ("Pending", "StatusNotification", frozenset({"StatusNotification"}), True),
    ("Pending", "NotifyReport", frozenset(), True),  # the answer to our GetBaseReport
    ("Pending", "FirmwareStatusNotification", frozenset(), True),
    ("Rejected", "BootNotification", frozenset(), True),
    ("Rejected", "NotifyReport", frozenset(), False),
    ("Rejected", "StatusNotification", frozenset({"StatusNotification"}), False),
])
def test_what_a_charger_not_accepted_may_send(status: str | None, action: str,
                                             triggered: frozenset[str], expected: bool) -> None:
    assert allowed(status, action, triggered) is expected


async def _heartbeat(sim: object, protocol: str) -> str:
    """The answer to a Heartbeat: 'answered' or the CALLERROR's code."""
    payload = call16.Heartbeat() if protocol == "1.6" else call201.Heartbeat()
    try:
        await sim.call(payload)  # type: ignore[attr-defined]
    except OCPPError as error:
        return str(error.code)
    return "answered"


async def test_pending_charger_is_configured_then_accepted(sims: SimFactory, api: Api,
                                                           app: App) -> None:
    await register(app.pool, "CP1", None, {1: None}, security_profile=0)
    status, answer = await api.post("/charge-points/CP1/registration",
                                    {"registration": "pending", "interval": 3600})
    assert (status, answer["registration"], answer["interval"]) == (200, "pending", 3600)
    sim = sims(app, "CP1")
    starting = asyncio.create_task(sim.start())
    try:
        await eventually(lambda: _is(sim.boot_status, "Pending"))
        assert sim.csms_heartbeat_interval == 3600  # the policy's interval, not the heartbeat's
        # B02/B_30: a Pending 2.0.1 charger's other calls are refused; 1.6 §4.2 names no
        # refusal, so a 1.6 charger is answered (its transactions must never be lost).
        refused = "SecurityError" if sims.protocol == "2.0.1" else "answered"  # type: ignore[attr-defined]
        assert await _heartbeat(sim, sims.protocol) == refused  # type: ignore[attr-defined]
        # B02.FR.01: the CSMS may configure it meanwhile, and what it triggers is answered.
        status, answer = await api.post("/charge-points/CP1/configuration",
                                         {"key": "SampledDataCtrlr.TxUpdatedInterval"
                                          if sims.protocol == "2.0.1"  # type: ignore[attr-defined]
                                          else "MeterValueSampleInterval", "value": "30"})
        assert (status, answer["outcome"]) == (200, "accepted")
        status, answer = await api.post("/charge-points/CP1/trigger",
                                        {"message": "StatusNotification"})
        assert status == 200
        await eventually(lambda: _evse_status(app, "available"))
        assert "SecurityError" not in sim.errors[1:]
        # Not a remote start, though (1.6 §4.2, 2.0.1 B02): refused before it is sent.
        status, answer = await api.post("/charge-points/CP1/evses/1/start", {"token": "TAG"})
        assert (status, answer["detail"]) == (409, {"reason": "charger registration is pending"})
        assert "RemoteStartTransaction" not in [name for name, _ in sim.calls]
        assert "RequestStartTransaction" not in [name for name, _ in sim.calls]
        # Accepted now: the charger is asked to boot again at once, not after its hour.
        status, answer = await api.post("/charge-points/CP1/registration",
                                        {"registration": "accepted"})
        assert (status, answer["boot_triggered"]) == (200, "accepted")
        await asyncio.wait_for(starting, 30)
        assert sim.boot_status == "Accepted"
        assert await _heartbeat(sim, sims.protocol) == "answered"  # type: ignore[attr-defined]
    finally:
        starting.cancel()


async def test_rejected_charger(sims: SimFactory, api: Api, app: App) -> None:
    await register(app.pool, "CP1", None, {1: None}, security_profile=0)
    status, _ = await api.post("/charge-points/CP1/registration",
                               {"registration": "rejected", "interval": 600})
    assert status == 200
    sim = sims(app, "CP1")
    starting = asyncio.create_task(sim.start())
    try:
        await eventually(lambda: _is(sim.boot_status, "Rejected"))
        assert sim.csms_heartbeat_interval == 600
        refused = "SecurityError" if sims.protocol == "2.0.1" else "answered"  # type: ignore[attr-defined]
        assert await _heartbeat(sim, sims.protocol) == refused  # type: ignore[attr-defined]
    finally:
        starting.cancel()


async def test_registration_bad_requests(api: Api, app: App) -> None:
    await register(app.pool, "CP1", None, {1: None}, security_profile=0)
    for body in ({"registration": "maybe"}, {"registration": "pending", "interval": 0},
                 {"registration": "pending", "interval": "60"}, {}):
        status, answer = await api.post("/charge-points/CP1/registration", body)
        assert status == 400, (body, answer)
    status, _ = await api.post("/charge-points/NOPE/registration", {"registration": "accepted"})
    assert status == 404
    assert await app.pool.fetchval(
        "SELECT registration FROM charge_points WHERE id = 'CP1'") == "accepted"


async def test_cli_sets_the_policy(db_url: str, app: App, monkeypatch: pytest.MonkeyPatch,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    await register(app.pool, "CP1", None, {1: None}, security_profile=0)
    monkeypatch.setenv("CSMS_DATABASE_URL", db_url)
    code = await asyncio.to_thread(main, ["charge-points", "set", "CP1", "--registration",
                                          "pending", "--interval", "60"])
    assert code == 0, capsys.readouterr()
    row = await app.pool.fetchrow("SELECT * FROM charge_points WHERE id = 'CP1'")
    assert (row["registration"], row["registration_interval"]) == ("pending", 60)
    code = await asyncio.to_thread(main, ["charge-points", "set", "NOPE", "--registration",
                                          "accepted"])
    assert code == 1 and capsys.readouterr().err.splitlines()[-1] == "no charge point NOPE"


async def _is(value: object, expected: object) -> bool:
    return value == expected


async def _evse_status(app: App, status: str) -> bool:
    return await app.pool.fetchval(
        "SELECT status FROM evses WHERE charge_point_id = 'CP1' AND evse_number = 1") == status
