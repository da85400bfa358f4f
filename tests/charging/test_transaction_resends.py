"""A lost answer loses nothing: resent transaction messages, superseded and closed sessions, expiry."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

import pytest

from csms.app import App
from csms.domain.charge_points import register
from csms.operator.command_line.cli import main
from csms.storage import store
from simulators.chargepoint import SimulatedChargePoint
from simulators.partners.hubject import SimulatedHubject
from tests.conftest import AppFactory, SimFactory
from tests.oicp.test_oicp_roaming import CDR, _async, _no_pending
from tests.support import Api, eventually, free_port, oicp_settings

CARD = "04A1B2C3D4E5F6"  # a foreign card Hubject authorizes: its sessions make OICP CDRs
OTHER = "04A1B2C3D4E5F7"


class Scene:
    """One charger of the test's OCPP version on a CSMS that can be restarted on its database."""

    def __init__(self, make_app: AppFactory, hubject: SimulatedHubject, sims: SimFactory) -> None:
        self.make_app = make_app
        self.hubject = hubject
        self.sims = sims
        self.port = free_port()
        self.protocol: str = sims.protocol  # type: ignore[attr-defined]
        hubject.known_cards[CARD] = hubject.known_cards[OTHER] = "DE-8EO"

    async def open(self) -> App:
        self.app = await self.make_app(ocpp_port=self.port, oicp=oicp_settings(self.hubject))
        await register(self.app.pool, "CP1", None, {1: "DE*ABC*E0001*1"}, security_profile=0)
        return self.app

    async def restart(self) -> None:
        await self.app.stop()
        self.app = await self.make_app(ocpp_port=self.port, oicp=oicp_settings(self.hubject))

    def message(self, which: str) -> tuple[str, dict[str, Any]]:
        """The wire action (and fields) of the transaction's start or stop in this version."""
        if self.protocol == "1.6":
            return ("StartTransaction" if which == "start" else "StopTransaction"), {}
        return "TransactionEvent", {"eventType": "Started" if which == "start" else "Ended"}

    def sent(self, sim: SimulatedChargePoint, which: str) -> int:
        action, fields = self.message(which)
        return sum(1 for name, payload in sim.sent if name == action
                   and all(payload.get(k) == v for k, v in fields.items()))

    async def through(self, sim: SimulatedChargePoint, how: str, which: str,
                      step: Awaitable[Any]) -> Any:
        """Run a start or stop whose answer is delivered, lost, or lost across our restart."""
        if how != "answered":
            action, fields = self.message(which)
            sim.lose_answer(action, stay_offline=how == "restart", **fields)
        task = asyncio.ensure_future(step)
        if how == "restart":  # the charger is offline while we restart; then it resends
            await eventually(lambda: _async(not sim.network.is_set()))
            await self.restart()
            sim.network.set()
        return await task

    async def sessions(self) -> list[Any]:
        return list(await store.list_sessions(self.app.pool, None, None, None, 10, 0))

    async def cdrs_settled(self) -> int:
        await eventually(lambda: _async(len(self.hubject.accepted(CDR)) >= 1), timeout=20)
        await eventually(lambda: _no_pending(self.app), timeout=20)
        return len(self.hubject.accepted(CDR))


@pytest.mark.parametrize("which", ["start", "stop"])
@pytest.mark.parametrize("how", ["answered", "lost", "restart"])
async def test_transaction_message_answered_lost_or_resent_after_restart(
        make_app: AppFactory, hubject: SimulatedHubject, sims: SimFactory,
        which: str, how: str) -> None:
    """Exactly one session and one CDR, whatever became of the answer; the EVSE starts again."""
    scene = Scene(make_app, hubject, sims)
    await scene.open()
    sim = sims(scene.app, meter_interval=0.1)
    await sim.start()

    start = sim.start_local_session(1, CARD)
    transaction_id = await (scene.through(sim, how, "start", start) if which == "start"
                            else start)
    await eventually(lambda: _async(sim.meter_wh[1] >= 1000 + 2 * 2750))
    stop = sim.stop_local_session(1)
    await (scene.through(sim, how, "stop", stop) if which == "stop" else stop)
    await sim.flush(timeout=30)

    assert scene.sent(sim, which) == (1 if how == "answered" else 2)  # resent unchanged
    [session] = await scene.sessions()
    assert (session["transaction_id"], session["status"]) == (transaction_id, "completed")
    assert session["meter_stop_wh"] > session["meter_start_wh"] == 1000
    assert await scene.cdrs_settled() == 1
    [cdr] = hubject.accepted(CDR)
    assert cdr.body["CPOPartnerSessionID"] == str(session["id"])

    await sim.start_local_session(1, OTHER)  # the EVSE is free for the next driver
    assert [s["status"] for s in await scene.sessions()] == ["active", "completed"]
    assert hubject.invalid == []


async def test_new_transaction_supersedes_a_stale_session(
        make_app: AppFactory, hubject: SimulatedHubject, sims: SimFactory) -> None:
    """The charger is the truth about its connectors: a session whose end we never heard of is
    ended at its last known meter value when the EVSE reports a new transaction; its CDR goes out."""
    scene = Scene(make_app, hubject, sims)
    app = await scene.open()
    sim = sims(app, meter_interval=0.1)
    await sim.start()
    await sim.start_local_session(1, CARD)
    await eventually(lambda: _async(sim.meter_wh[1] >= 1000 + 2 * 2750))
    await sim.flush()
    last = sim.meter_wh[1]
    await sim.stop()  # reset: its memory is gone, and the transaction's end with it

    fresh = sims(app)
    await fresh.start()
    await fresh.start_local_session(1, OTHER)
    new, stale = await scene.sessions()
    assert (new["status"], new["token_uid"]) == ("active", OTHER)
    assert (stale["status"], stale["stop_reason"]) == ("completed", "superseded")
    assert stale["meter_stop_wh"] == last and stale["stopped_at"] <= new["started_at"]
    assert await scene.cdrs_settled() == 1
    [cdr] = hubject.accepted(CDR)
    assert cdr.body["CPOPartnerSessionID"] == str(stale["id"])
    assert cdr.body["MeterValueEnd"] == last / 1000


async def test_remote_start_on_an_evse_with_a_stale_session(
        make_app: AppFactory, hubject: SimulatedHubject, sims: SimFactory) -> None:
    """Not "busy" forever: the charger is asked, starts, and its transaction supersedes ours."""
    scene = Scene(make_app, hubject, sims)
    app = await scene.open()
    sim = sims(app)
    await sim.start()
    await sim.start_local_session(1, CARD)
    await sim.stop()  # wiped: it will never end that transaction

    fresh = sims(app)
    await fresh.start()
    api = Api(f"http://127.0.0.1:{app.api.port}/api/v1")
    try:
        status, answer = await api.post("/charge-points/CP1/evses/1/start", {"token": OTHER})
        assert (status, answer["outcome"]) == (200, "accepted")
    finally:
        await api.http.close()

    async def superseded() -> bool:
        statuses = [(s["status"], s["stop_reason"]) for s in await scene.sessions()]
        return statuses == [("active", None), ("completed", "superseded")]
    await eventually(superseded)
    assert await scene.cdrs_settled() == 1


async def test_operator_closes_a_session_the_charger_never_will(
        make_app: AppFactory, hubject: SimulatedHubject, sims: SimFactory,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    scene = Scene(make_app, hubject, sims)
    app = await scene.open()
    api = Api(f"http://127.0.0.1:{app.api.port}/api/v1")
    try:
        sims_made = [sims(app, charge_point_id=cp, meter_interval=0.1) for cp in ("CP1", "CP2")]
        await register(app.pool, "CP2", None, {1: "DE*ABC*E0002*1"}, security_profile=0)
        for sim, card in zip(sims_made, (CARD, OTHER), strict=True):
            await sim.start()
            await sim.start_local_session(1, card)
        await eventually(lambda: _async(min(s.meter_wh[1] for s in sims_made) >= 1000 + 2750))
        for sim in sims_made:
            await sim.flush()
            await sim.stop()  # replaced: neither charger will ever end its transaction
        by_cp = {s["charge_point_id"]: s for s in await scene.sessions()}

        status, closed = await api.post(f"/sessions/{by_cp['CP1']['id']}/close")
        assert status == 200, closed
        assert (closed["status"], closed["stop_reason"]) == ("completed", "closed_by_operator")
        assert closed["meter_stop_wh"] == sims_made[0].meter_wh[1]
        status, again = await api.post(f"/sessions/{by_cp['CP1']['id']}/close")
        assert (status, again) == (409, {"error": "session is completed, not active"})
        status, _ = await api.post("/sessions/00000000-0000-0000-0000-000000000000/close")
        assert status == 404

        # The same from the command line, on the running system's database.
        monkeypatch.setenv("CSMS_DATABASE_URL", app.database_url)
        monkeypatch.setenv("CSMS_LOG_LEVEL", "warning")
        for key, value in oicp_settings(hubject).items():
            monkeypatch.setenv(f"CSMS_OICP_{key.upper()}",
                               str(value).lower() if isinstance(value, bool) else str(value))
        session_id = str(by_cp["CP2"]["id"])
        assert await asyncio.to_thread(main, ["sessions", "close", session_id]) == 0
        assert f"session {session_id} closed at {sims_made[1].meter_wh[1]}" in capsys.readouterr().out
        # The CLI's error is one line of its own; this process's app may log beside it meanwhile
        # (its outbox delivering the session's CDR), as JSON lines.
        assert await asyncio.to_thread(main, ["sessions", "close", session_id]) == 1
        assert _cli_lines(capsys.readouterr().err) == [
            f"session {session_id} is completed, not active"]
        assert await asyncio.to_thread(main, ["sessions", "close", "nonsense"]) == 1
        assert _cli_lines(capsys.readouterr().err) == ["no session nonsense"]

        ended = await store.get_session(app.pool, session_id)
        assert ended is not None and ended["stop_reason"] == "closed_by_operator"
        await eventually(lambda: _async(len(hubject.accepted(CDR)) == 2), timeout=20)
        await eventually(lambda: _no_pending(app), timeout=20)
        assert sorted(r.body["CPOPartnerSessionID"] for r in hubject.accepted(CDR)) == \
            sorted(str(s["id"]) for s in by_cp.values())
    finally:
        await api.http.close()


async def test_remote_start_not_taken_up_expires(make_app: AppFactory) -> None:
    """Seen by whoever lists sessions once the window has passed, and swept with nobody looking."""
    app = await make_app(remote_start_window=60)
    await register(app.pool, "CP1", None, {1: None, 2: None}, security_profile=0)
    evses = {e["evse_number"]: e for e in await store.list_evses(app.pool, "CP1")}
    sessions = app.services.sessions
    # As the command service leaves remote starts the charger did not answer in time.
    listed, _ = await sessions.create_pending("CP1", evses[1], "T", {})
    swept, _ = await sessions.create_pending("CP1", evses[2], "T", {})
    recent, _ = await sessions.create_pending("CP1", evses[2], "U", {})
    await app.pool.execute("UPDATE sessions SET requested_at = now() - interval '61 seconds' "
                           "WHERE id = ANY($1::uuid[])", [listed, swept])
    api = Api(f"http://127.0.0.1:{app.api.port}/api/v1")
    try:
        session = await api.get(f"/sessions/{listed}")
        assert (session["status"], session["stop_reason"]) == \
            ("expired", "remote start not taken up")
        pending = (await api.get("/sessions", params={"status": "pending"}))["items"]
        assert [s["id"] for s in pending] == [recent]
    finally:
        await api.http.close()

    await app.pool.execute("UPDATE sessions SET status = 'pending' WHERE id = $1", swept)

    async def status(session_id: str) -> str:
        row = await store.get_session(app.pool, session_id)
        assert row is not None
        return str(row["status"])
    await eventually(lambda: _equals(status(swept), "expired"), timeout=20)  # the periodic sweep
    assert await status(recent) == "pending"


async def _equals(value: Awaitable[Any], expected: Any) -> bool:
    return await value == expected


def _cli_lines(err: str) -> list[str]:
    """What the CLI wrote to stderr, without the JSON log lines of the app in the same process."""
    return [line for line in err.strip().splitlines() if not line.startswith("{")]
