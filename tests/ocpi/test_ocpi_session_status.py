"""OCPI SessionStatus: the pure mapping from domain sessions, and each status pushed end to end."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bridge.ocpi.sessions import ocpi_session_status
from csms.domain.charge_points import register
from csms.domain.model import SessionStatus
from csms.storage import store
from simulators.partners.emsp import SimulatedEmsp
from tests.conftest import AppFactory, SimFactory
from tests.ocpi.test_ocpi_sessions import _no_pending, setup
from tests.oicp.test_oicp_roaming import _async
from tests.support import eventually


@pytest.mark.parametrize(("domain", "ocpi"), [
    (SessionStatus.PENDING, "PENDING"),  # a remote start sent, not yet started
    (SessionStatus.ACTIVE, "ACTIVE"),
    (SessionStatus.COMPLETED, "COMPLETED"),
    (SessionStatus.FAILED, "INVALID"),  # the charger refused the remote start, or was offline
    (SessionStatus.EXPIRED, "INVALID"),  # the charger never took the remote start up
    (SessionStatus.REJECTED, "INVALID"),  # a transaction the charger reported and we refused
])
def test_domain_status_as_ocpi(domain: SessionStatus, ocpi: str) -> None:
    assert ocpi_session_status(domain) == ocpi
    assert ocpi_session_status(domain.value) == ocpi


def pushes(emsp: SimulatedEmsp) -> list[tuple[str, str, str | None]]:
    """(method, session id, status) of each Session push the eMSP took, in order."""
    return [(r.method, r.path.rsplit("/", 1)[-1], (r.body or {}).get("status"))
            for r in emsp.received if r.path.startswith("/sessions/") and not r.errors]


def transitions(emsp: SimulatedEmsp) -> list[tuple[str, str]]:
    """Each status change as the eMSP saw it: (method, status), PATCHes without one left out."""
    return [(method, status) for method, _, status in pushes(emsp) if status]


async def test_start_session_pending_active_completed(make_app: AppFactory, emsp: SimulatedEmsp,
                                                      sims: SimFactory) -> None:
    app = await setup(make_app, emsp)
    sim = sims(app)
    await sim.start()
    start_id, answer = await emsp.command("START_SESSION", {
        "token": emsp.token("EEFF0044"), "location_id": "berlin-hub", "evse_uid": "CP1-1"})
    assert answer["data"]["result"] == "ACCEPTED"
    assert (await eventually(lambda: _async(emsp.result(start_id)))) == {"result": "ACCEPTED"}
    await eventually(lambda: _async(("PUT", "ACTIVE") in transitions(emsp)))
    await sim.stop_local_session(1)
    await sim.flush()
    await eventually(lambda: _async(("PATCH", "COMPLETED") in transitions(emsp)))
    await eventually(lambda: _no_pending(app))
    assert transitions(emsp) == [("PUT", "PENDING"), ("PUT", "ACTIVE"), ("PATCH", "COMPLETED")]
    assert len({session_id for _, session_id, _ in pushes(emsp)}) == 1  # one session throughout
    assert emsp.invalid == [] and emsp.bad_answers == []


async def test_refused_start_is_invalid(make_app: AppFactory, emsp: SimulatedEmsp,
                                        sims: SimFactory) -> None:
    app = await setup(make_app, emsp)
    sim = sims(app)
    await sim.start()
    sim.inoperative.add(1)  # the charger refuses the remote start
    start_id, answer = await emsp.command("START_SESSION", {
        "token": emsp.token("EEFF0055"), "location_id": "berlin-hub", "evse_uid": "CP1-1"})
    assert answer["data"]["result"] == "ACCEPTED"  # ours; the charger's comes in the result
    result: Any = await eventually(lambda: _async(emsp.result(start_id)))
    assert result["result"] != "ACCEPTED"
    await eventually(lambda: _async(("PUT", "INVALID") in transitions(emsp)))
    await eventually(lambda: _no_pending(app))
    assert transitions(emsp) == [("PUT", "PENDING"), ("PUT", "INVALID")]
    [body] = [r.body for r in emsp.received if r.path.startswith("/sessions/")
              and not r.errors and r.body["status"] == "INVALID"]
    assert body["kwh"] == 0 and body["cdr_token"]["uid"] == "EEFF0055"
    assert emsp.invalid == [] and emsp.bad_answers == []


async def test_reservation_then_active_or_invalid(make_app: AppFactory, emsp: SimulatedEmsp,
                                                  sims: SimFactory) -> None:
    app = await setup(make_app, emsp)
    sim = sims(app)
    await sim.start()
    token = emsp.token("EEFF0066")
    status, _ = await emsp.push_token(token)  # the driver will swipe it at the charger
    assert status == 200
    expiry = (datetime.now(UTC) + timedelta(minutes=15)).strftime("%Y-%m-%dT%H:%M:%SZ")

    async def reserve(reference: str) -> None:
        reserve_id, answer = await emsp.command("RESERVE_NOW", {
            "token": token, "expiry_date": expiry, "reservation_id": reference,
            "location_id": "berlin-hub", "evse_uid": "CP1-1"})
        assert answer["data"]["result"] == "ACCEPTED"
        assert (await eventually(lambda: _async(emsp.result(reserve_id)))) == {"result": "ACCEPTED"}

    # Cancelled unused: the reservation's session is INVALID.
    await reserve("R-1")
    cancel_id, _ = await emsp.command("CANCEL_RESERVATION", {"reservation_id": "R-1"})
    assert (await eventually(lambda: _async(emsp.result(cancel_id)))) == {"result": "ACCEPTED"}
    await eventually(lambda: _async(("PUT", "INVALID") in transitions(emsp)))
    assert transitions(emsp) == [("PUT", "RESERVATION"), ("PUT", "INVALID")]
    [cancelled] = {session_id for _, session_id, _ in pushes(emsp)}

    # Used: RESERVATION, then ACTIVE and COMPLETED under the same session id.
    await reserve("R-2")
    await eventually(lambda: _async(len(transitions(emsp)) == 3))
    await sim.start_local_session(1, "EEFF0066")
    await eventually(lambda: _async(("PUT", "ACTIVE") in transitions(emsp)))
    await sim.stop_local_session(1)
    await sim.flush()
    await eventually(lambda: _async(("PATCH", "COMPLETED") in transitions(emsp)))
    await eventually(lambda: _no_pending(app))
    assert transitions(emsp)[2:] == [("PUT", "RESERVATION"), ("PUT", "ACTIVE"),
                                     ("PATCH", "COMPLETED")]
    used = {session_id for _, session_id, _ in pushes(emsp)} - {cancelled}
    assert len(used) == 1
    [session] = await store.list_sessions(app.pool, "completed", None, None, 10, 0)
    assert str(session["id"]) in used  # the session the charger reported took the promised id
    assert emsp.invalid == [] and emsp.bad_answers == []


async def test_transaction_refused_as_concurrent_is_invalid(
        make_app: AppFactory, emsp: SimulatedEmsp, sims: SimFactory) -> None:
    app = await setup(make_app, emsp)
    await register(app.pool, "CP1", None, {1: "DE*ABC*E0001*1", 2: "DE*ABC*E0001*2"},
                   events=app.events, security_profile=0)
    sim = sims(app, connectors=2)
    await sim.start()
    status, _ = await emsp.push_token(emsp.token("EEFF0088"))
    assert status == 200
    await sim.start_local_session(2, "EEFF0088")
    await eventually(lambda: _async(("PUT", "ACTIVE") in transitions(emsp)))
    charging = {session_id for _, session_id, _ in pushes(emsp)}
    # The charger takes the remote start; the transaction it reports is ConcurrentTx.
    start_id, _ = await emsp.command("START_SESSION", {
        "token": emsp.token("EEFF0088"), "location_id": "berlin-hub", "evse_uid": "CP1-1"})
    assert (await eventually(lambda: _async(emsp.result(start_id)))) == {"result": "ACCEPTED"}
    await eventually(lambda: _async(("PUT", "INVALID") in transitions(emsp)))
    await eventually(lambda: _no_pending(app))
    remote = [(method, status) for method, session_id, status in pushes(emsp)
              if session_id not in charging and status]
    assert remote == [("PUT", "PENDING"), ("PUT", "INVALID")]
    assert emsp.invalid == [] and emsp.bad_answers == []
