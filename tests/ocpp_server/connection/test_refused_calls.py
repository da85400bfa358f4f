"""Calls refused by the rate limiter: counted, logged once per charger a minute, never with their payload."""

from __future__ import annotations

import json
import logging
import uuid

import pytest
import structlog.testing
from prometheus_client import REGISTRY
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from csms.ocpp.log_throttle import LogThrottle
from tests.conftest import AppFactory
from tests.support import ws_url

MARKER = "PAYLOAD-MARKER-"


def refused_count() -> float:
    return REGISTRY.get_sample_value("csms_ocpp_messages_total", {
        "protocol": "ocpp1.6", "action": "DataTransfer", "result": "SecurityError"}) or 0.0


async def test_a_flood_beyond_the_rate_limit_logs_one_line_without_payloads(
        make_app: AppFactory, caplog: pytest.LogCaptureFixture) -> None:
    app = await make_app(accept_unknown_charge_points=True, max_messages_per_second=1)
    frame = [2, "", "DataTransfer", {"vendorId": "V", "data": MARKER + "x" * 4000}]
    before = refused_count()
    charger = f"FLOOD-{uuid.uuid4().hex[:8]}"
    with structlog.testing.capture_logs() as logs, caplog.at_level(logging.DEBUG):
        # An id of its own: the log throttle is the process's, other tests' chargers share it.
        async with connect(f"{ws_url(app)}/{charger}", subprotocols=[Subprotocol("ocpp1.6")]) as ws:
            for n in range(100):
                await ws.send(json.dumps([frame[0], f"f{n}", *frame[2:]]))
            answers = [json.loads(await ws.recv()) for _ in range(100)]
    refused = [answer for answer in answers if answer[0] == 4]
    assert len(refused) >= 80 and all(answer[2] == "SecurityError" for answer in refused)
    assert refused_count() - before == len(refused)  # every one counted
    lines = [entry for entry in logs if "refused" in entry["event"]]
    assert len(lines) == 1 and lines[0]["charge_point_id"] == charger
    assert MARKER not in json.dumps(logs, default=str)
    assert MARKER not in caplog.text
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert not [record for record in caplog.records if record.exc_info]


def test_throttle_logs_once_a_period_with_the_count_left_out() -> None:
    now = [0.0]
    throttle = LogThrottle(period=60, size=2, clock=lambda: now[0])
    assert throttle.admit("CP1") == 0
    assert [throttle.admit("CP1") for _ in range(5)] == [None] * 5
    assert throttle.admit("CP2") == 0  # another key has its own line
    now[0] = 61
    assert throttle.admit("CP1") == 5
    assert throttle.admit("CP3") == 0 and throttle.admit("CP4") == 0
    assert len(throttle._keys) == 2  # bounded: the oldest keys are forgotten
