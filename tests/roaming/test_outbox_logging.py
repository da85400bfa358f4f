"""Roaming delivery failures: one WARNING line naming partner, operation, HTTP status and a short reason."""

from __future__ import annotations

import json
from typing import Any

import structlog
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

from csms.domain.charge_points import register
from simulators.partners.hubject import SimulatedHubject
from tests.conftest import AppFactory
from tests.support import eventually, free_port, oicp_settings, ws_url


async def _failures(app_factory: AppFactory, oicp: dict[str, Any]) -> list[dict[str, Any]]:
    """Log lines of retried deliveries of a charger's status to Hubject."""
    with structlog.testing.capture_logs() as logs:
        app = await app_factory(oicp=oicp, meter_value_interval=0)
        await register(app.pool, "CP1", None, {1: "DE*ABC*E0001*1"}, security_profile=0)
        async with connect(f"{ws_url(app)}/CP1", subprotocols=[Subprotocol("ocpp1.6")]) as ws:
            await ws.send(json.dumps([2, "1", "StatusNotification", {
                "connectorId": 1, "errorCode": "NoError", "status": "Available"}]))
            assert json.loads(await ws.recv())[0] == 3

            async def retried() -> list[dict[str, Any]]:
                return [entry for entry in logs if entry["event"] == "delivery failed, will retry"
                        and entry["attempts"] >= 2]
            await eventually(retried, timeout=30)
    return [entry for entry in logs if entry["event"] == "delivery failed, will retry"]


async def test_a_partner_that_answers_an_error(make_app: AppFactory,
                                               hubject: SimulatedHubject) -> None:
    hubject.down = True  # HTTP 503
    failures = await _failures(make_app, oicp_settings(hubject))
    assert {(f["log_level"], f["partner"], f["operation"], f["http_status"], f["reason"])
            for f in failures} == {("warning", "hubject", "PushEvseStatus", 503, "HTTP 503")}


async def test_a_partner_that_does_not_answer(make_app: AppFactory,
                                              hubject: SimulatedHubject) -> None:
    port = free_port()  # nobody listens there
    failures = await _failures(make_app, oicp_settings(hubject, base_url=f"http://127.0.0.1:{port}"))
    for failure in failures:
        assert (failure["log_level"], failure["partner"], failure["operation"],
                failure["http_status"]) == ("warning", "hubject", "PushEvseStatus", None)
        assert failure["reason"].startswith("ClientConnectorError: Cannot connect to host "
                                            f"127.0.0.1:{port}")
        assert len(failure["reason"]) <= 160 and "\n" not in failure["reason"]
