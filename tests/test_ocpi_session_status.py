"""OCPI SessionStatus: the pure mapping from domain sessions, and each status pushed end to end."""

from __future__ import annotations

from typing import Any

import pytest

from bridge.ocpi.sessions import ocpi_session_status
from csms.domain.model import SessionStatus
from simulators.emsp import SimulatedEmsp
from tests.conftest import AppFactory, SimFactory
from tests.support import eventually
from tests.test_ocpi_sessions import _no_pending, setup
from tests.test_oicp_roaming import _async


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
