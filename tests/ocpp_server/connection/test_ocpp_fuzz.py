"""Generated garbage thrown at a live server: every frame is answered or shrugged off, and the
other chargers keep being served."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from csms.app import App
from tests.conftest import AppFactory
from tests.support import ws_url

ACTIONS = ["BootNotification", "Heartbeat", "StatusNotification", "StartTransaction",
           "StopTransaction", "MeterValues", "Authorize", "DataTransfer", "TransactionEvent",
           "NoSuchAction"]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner,
                                                                 max_size=4),
    max_leaves=12,
)
payloads = st.dictionaries(
    st.sampled_from(["connectorId", "idTag", "meterStart", "timestamp", "transactionId",
                     "meterStop", "status", "errorCode", "meterValue", "chargePointVendor",
                     "chargePointModel", "reservationId", "reason"]),
    json_values, max_size=6)
frames = st.one_of(
    st.text(max_size=100),
    json_values.map(json.dumps),
    st.tuples(st.sampled_from([2, 3, 4, 5, "2"]), st.text(max_size=8), st.sampled_from(ACTIONS),
              payloads).map(lambda t: json.dumps(list(t))),
    st.tuples(st.just(3), st.text(max_size=8), json_values).map(lambda t: json.dumps(list(t))),
)


async def _answered(url: str, charge_point_id: str) -> Any:
    async with connect(f"{url}/{charge_point_id}", subprotocols=[Subprotocol("ocpp1.6")]) as ws:
        await ws.send(json.dumps([2, "alive", "Heartbeat", {}]))
        return json.loads(await asyncio.wait_for(ws.recv(), 5))


@pytest.fixture
async def fuzz_app(make_app: AppFactory) -> App:
    """One server for all the examples of a run: it has to survive every one of them."""
    return await make_app(accept_unknown_charge_points=True, max_messages_per_second=0)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(garbage=st.lists(frames, min_size=1, max_size=8))
async def test_garbage_never_stops_the_server(fuzz_app: App, garbage: list[str]) -> None:
    app = fuzz_app
    url = ws_url(app)
    async with connect(f"{url}/FUZZ", subprotocols=[Subprotocol("ocpp1.6")]) as fuzzer:
        try:
            for frame in garbage:
                await fuzzer.send(frame)
            # A CALL with a fresh id still gets its answer on the same connection.
            await fuzzer.send(json.dumps([2, "after-garbage", "Heartbeat", {}]))
            while True:
                answer = json.loads(await asyncio.wait_for(fuzzer.recv(), 5))
                if isinstance(answer, list) and answer[:2] == [3, "after-garbage"]:
                    break
        except ConnectionClosed as closed:  # allowed only as a clean, explained close
            assert closed.rcvd is not None and closed.rcvd.code in (1002, 1003, 1007, 1008, 1009)
    answer = await _answered(url, "VICTIM")  # another charger is served meanwhile
    assert answer[:2] == [3, "alive"]
    # Whatever got stored is consistent: active sessions have a transaction and an EVSE.
    assert await app.pool.fetchval(
        """SELECT count(*) FROM sessions WHERE status = 'active'
           AND (transaction_id IS NULL OR started_at IS NULL)""") == 0

