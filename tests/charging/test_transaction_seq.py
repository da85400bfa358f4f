"""2.0.1 seqNo: gaps make the CSMS ask GetTransactionStatus (E14); a charger numbering anew is followed."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from csms.app import App
from csms.domain.charge_points import register
from csms.domain.transaction_seq import SeqStep, follow
from csms.storage import store
from simulators.chargepoint import SimConfig
from simulators.chargepoint201 import ChargePoint201
from tests.support import eventually, ws_url


@pytest.mark.parametrize(("last", "seq_no", "expected"), [
    (None, None, SeqStep(None)),
    (None, 0, SeqStep(0)),
    (None, 4, SeqStep(4)),  # the first we hear of it (its start missed: the adapter asks)
    (3, None, SeqStep(3)),  # a message without a number leaves it
    (3, 4, SeqStep(4)),
    (3, 7, SeqStep(7, missing=(4, 6))),
    (3, 5, SeqStep(5, missing=(4, 4))),
    (3, 3, SeqStep(3)),  # a resend after a lost answer
    (3, 2, SeqStep(3)),
    (3, 0, SeqStep(0, reset=True)),  # numbering anew (e.g. after a reboot)
    (0, 0, SeqStep(0)),  # the Started event resent
])
def test_follow(last: int | None, seq_no: int | None, expected: SeqStep) -> None:
    assert follow(last, seq_no) == expected


@pytest.fixture
async def charger(app: App) -> AsyncIterator[ChargePoint201]:
    await register(app.pool, "CP1", None, {1: None}, security_profile=0)
    await store.upsert_token(app.pool, "TAG")
    sim = ChargePoint201(SimConfig(charge_point_id="CP1", url=ws_url(app), meter_interval=0.1))
    await sim.start()
    yield sim
    await sim.stop()


async def _last_seq_no(app: App, transaction_id: str) -> int | None:
    return await app.pool.fetchval(  # type: ignore[no-any-return]
        "SELECT last_seq_no FROM sessions WHERE transaction_id = $1", transaction_id)


async def _reports(app: App, kind: str) -> list[Any]:
    return await app.pool.fetch(  # type: ignore[no-any-return]
        "SELECT payload FROM charge_point_reports WHERE kind = $1", kind)


async def _offline_events(sim: ChargePoint201, count: int) -> bool:
    return len(sim.queued()) >= count


async def test_offline_events_with_a_gap_ask_for_the_transaction_status(
        app: App, charger: ChargePoint201) -> None:
    transaction_id = await charger.start_local_session(1, "TAG")
    # Offline: the meter values queue up, and the queue overflows (two of them dropped).
    charger.network.clear()
    await charger.drop_connection()
    await eventually(lambda: _offline_events(charger, 5))
    charger.lose_queued(2)
    charger.network.set()
    asked = await charger.wait_for_call("GetTransactionStatus", timeout=30)
    assert asked == {"transactionId": transaction_id}
    reports = await eventually(lambda: _reports(app, "TransactionStatus"))
    assert reports[0]["payload"]["transactionId"] == transaction_id
    assert reports[0]["payload"]["ongoing"] is True
    await charger.flush()
    await charger.stop_local_session(1)
    await charger.flush()
    # Once: the gap was asked about when it showed, and the events after it follow on.
    assert [name for name, _ in charger.calls].count("GetTransactionStatus") == 1


async def test_a_gap_before_the_end(app: App, charger: ChargePoint201) -> None:
    transaction_id = await charger.start_local_session(1, "TAG")
    charger.network.clear()
    await charger.drop_connection()
    await eventually(lambda: _offline_events(charger, 3))
    await charger.stop_local_session(1)  # ended offline: queued after the meter values
    charger.lose_queued(len(charger.queued()) - 2)  # only the oldest and the end are left
    charger.network.set()
    asked = await charger.wait_for_call("GetTransactionStatus", timeout=30)
    assert asked == {"transactionId": transaction_id}
    reports = await eventually(lambda: _reports(app, "TransactionStatus"))
    # (messagesInQueue: whether the end counted as delivered yet when the question came)
    assert (reports[0]["payload"]["transactionId"], reports[0]["payload"]["ongoing"]) \
        == (transaction_id, False)
    assert await app.pool.fetchval("SELECT status FROM sessions WHERE transaction_id = $1",
                                   transaction_id) == "completed"


async def test_no_gap_no_question(app: App, charger: ChargePoint201) -> None:
    await charger.start_local_session(1, "TAG")
    charger.network.clear()
    await charger.drop_connection()
    await eventually(lambda: _offline_events(charger, 3))
    charger.network.set()
    await eventually(lambda: _drained(charger))
    await charger.stop_local_session(1)
    await charger.flush()
    assert "GetTransactionStatus" not in [name for name, _ in charger.calls]


async def test_numbering_anew_is_followed(app: App, charger: ChargePoint201) -> None:
    transaction_id = await charger.start_local_session(1, "TAG")
    await eventually(lambda: _at_least(app, transaction_id, 8))
    # Rebooted mid-transaction, the firmware numbers the transaction's events from 0 again.
    charger.network.clear()
    await charger.drop_connection()
    charger.transactions[1].seq_no = 0
    charger.network.set()
    await eventually(lambda: _drained(charger))
    await charger.stop_local_session(1)
    await charger.flush()
    last_sent = max(p["seqNo"] for name, p in charger.sent if name == "TransactionEvent"
                    and p["transactionInfo"]["transactionId"] == transaction_id
                    and p["eventType"] == "Ended")
    assert await _last_seq_no(app, transaction_id) == last_sent
    assert "GetTransactionStatus" not in [name for name, _ in charger.calls]


async def _drained(sim: ChargePoint201) -> bool:
    with contextlib.suppress(Exception):
        return sim.connected.is_set() and not sim.queued()
    return False


async def _at_least(app: App, transaction_id: str, seq_no: int) -> bool:
    return (await _last_seq_no(app, transaction_id) or 0) >= seq_no
