"""Prometheus /metrics and log context: what an operator's monitoring reads off a running system."""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from csms.app import App
from csms.domain.charge_points import register
from csms.logs import configure_logging
from simulators.partners.hubject import SimulatedHubject
from tests.conftest import AppFactory, SimFactory
from tests.oicp.test_oicp_roaming import _async, cpo_url, remote_start_body
from tests.support import Api, eventually, oicp_settings

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(app: App, token: str | None = "test-token") -> tuple[int, Samples]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with aiohttp.ClientSession(headers=headers) as http, \
            http.get(f"http://127.0.0.1:{app.api.port}/metrics") as response:
        text = await response.text()
        if response.status != 200:
            return response.status, {}
        assert response.content_type == "text/plain"
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return 200, samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def total(samples: Samples, name: str, **labels: str) -> float:
    """Summed over the labels not given (e.g. every result of one action)."""
    return sum(v for (n, have), v in samples.items()
               if n == name and labels.items() <= dict(have).items())


async def test_metrics_need_the_api_token(app: App) -> None:
    assert (await scrape(app, token=None))[0] == 401
    assert (await scrape(app, token="wrong"))[0] == 401
    status, samples = await scrape(app)
    assert status == 200
    assert value(samples, "csms_database_up") == 1
    assert value(samples, "csms_database_pool_connections", state="max") == app.pool.get_max_size()
    assert value(samples, "process_resident_memory_bytes") > 0
    # No charger yet: both versions are there, at zero, for an alert to watch.
    assert ("csms_connected_chargers", (("protocol", "ocpp1.6"),)) in samples
    assert samples[("csms_connected_chargers", (("protocol", "ocpp2.0.1"),))] == 0


async def test_chargers_messages_calls_sessions_and_energy(app: App, api: Api, sims: SimFactory) -> None:
    protocol = "ocpp" + sims.protocol  # type: ignore[attr-defined]
    await register(app.pool, "CP1", None, {1: "DE*ABC*E0001*1"}, security_profile=0)
    assert (await api.post("/tokens", {"uid": "GOOD"}))[0] == 201
    _, before = await scrape(app)
    sim = sims(app, meter_interval=0)
    await sim.start()
    boot = "BootNotification"

    async def counted() -> Samples | None:
        _, now = await scrape(app)
        return now if value(now, "csms_connected_chargers", protocol=protocol) == 1 else None
    await eventually(counted)
    await sim.heartbeat()
    # Calls the server refused are counted under their CALLERROR code; unknown actions as "other".
    await sim.send_raw(json.dumps([2, "bad-1", "Heartbeat", {"unexpected": True}]))
    await sim.send_raw(json.dumps([2, "bad-2", "NoSuchAction", {}]))

    def other(samples: Samples) -> float:
        return total(samples, "csms_ocpp_messages_total", protocol=protocol, action="other")

    async def refusals() -> Samples | None:
        _, now = await scrape(app)
        return now if other(now) > other(before) else None
    after = await eventually(refusals)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)
    assert delta("csms_ocpp_messages_total", protocol=protocol, action=boot, result="answered") == 1
    assert delta("csms_ocpp_messages_total", protocol=protocol, action="Heartbeat", result="answered") == 1
    heartbeats = [total(samples, "csms_ocpp_messages_total", protocol=protocol, action="Heartbeat")
                  for samples in (before, after)]
    assert heartbeats[1] - heartbeats[0] == 2  # one answered, one refused as malformed
    assert other(after) - other(before) == 1

    # A command to the charger lands in the call histogram; a session in the gauge and the energy.
    status, _ = await api.post("/charge-points/CP1/reset")
    assert status == 200
    await sim.start_local_session(1, "GOOD")
    _, during = await scrape(app)
    assert value(during, "csms_active_sessions") == 1
    reset = "Reset"
    assert value(during, "csms_charger_call_seconds_count", action=reset, result="answered") - \
        value(before, "csms_charger_call_seconds_count", action=reset, result="answered") == 1
    await sim.stop_local_session(1)

    async def stopped() -> Samples | None:
        _, now = await scrape(app)
        return now if value(now, "csms_active_sessions") == 0 else None
    ended = await eventually(stopped)
    energy = (await api.get("/sessions"))["items"][0]
    delivered = energy["meter_stop_wh"] - energy["meter_start_wh"]
    assert value(ended, "csms_energy_delivered_wh_total") - \
        value(before, "csms_energy_delivered_wh_total") == pytest.approx(delivered)
    await sim.stop()

    # The charger has closed its side; the server lets go of the connection a moment later.
    async def gone() -> bool:
        _, now = await scrape(app)
        return value(now, "csms_connected_chargers", protocol=protocol) == 0
    await eventually(gone)


async def test_outbox_depth_and_roaming_errors_while_hubject_is_down(
        make_app: AppFactory, hubject: SimulatedHubject, sims: SimFactory) -> None:
    hubject.down = True
    app = await make_app(oicp=oicp_settings(hubject))
    await register(app.pool, "CP1", None, {1: "DE*ABC*E0001*1"}, security_profile=0)
    _, before = await scrape(app)
    sim = sims(app)
    await sim.start()  # its status goes to Hubject, which does not answer

    async def backlog() -> Samples | None:
        _, now = await scrape(app)
        errors = [value(samples, "csms_roaming_request_errors_total", partner="hubject",
                        operation="PushEvseStatus") for samples in (before, now)]
        return now if value(now, "csms_outbox_pending", partner="hubject") >= 1 \
            and errors[1] > errors[0] else None
    down = await eventually(backlog)
    assert value(down, "csms_outbox_oldest_pending_seconds", partner="hubject") > 0
    hubject.down = False

    async def drained() -> Samples | None:
        _, now = await scrape(app)
        return now if value(now, "csms_outbox_pending", partner="hubject") == 0 else None
    up = await eventually(drained)
    assert value(up, "csms_roaming_request_seconds_count", partner="hubject", operation="PushEvseStatus",
                 result="ok") > value(before, "csms_roaming_request_seconds_count", partner="hubject",
                                      operation="PushEvseStatus", result="ok")


@contextmanager
def json_logs() -> Iterator[io.StringIO]:
    """The JSON lines the system writes, as an operator's log shipper would read them."""
    lines = io.StringIO()
    stderr, sys.stderr = sys.stderr, lines
    configure_logging("info", "json")
    try:
        yield lines
    finally:
        sys.stderr = stderr
        configure_logging("warning", "console")


def parsed(lines: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in lines.getvalue().splitlines() if line.startswith("{")]


async def test_one_session_followed_from_ocpp_into_roaming_logs(
        make_app: AppFactory, hubject: SimulatedHubject, sims: SimFactory) -> None:
    # Configured first: loggers bound at start-up keep the level they were made with.
    with json_logs() as lines:
        app = await make_app(oicp=oicp_settings(hubject))
        await register(app.pool, "CP1", None, {1: "DE*ABC*E0001*1"}, security_profile=0)
        sim = sims(app)
        await sim.start()
        start = remote_start_body()
        answer = await hubject.remote_start(cpo_url(app), start)
        session_id = answer["CPOPartnerSessionID"]
        stop = {k: start[k] for k in ("SessionID", "ProviderID", "EvseID", "EMPPartnerSessionID")}
        await eventually(lambda: _active(app, session_id))
        await hubject.remote_stop(cpo_url(app), stop)
        await eventually(lambda: _async(_delivered_cdr(parsed(lines))))
        # A line written while the charger's call is handled names it, though it does not say so.
        hubject.known_cards["AABBCCDD"] = "DE-8EO"
        await sim.authorize("AABBCCDD")
    records = [r for r in parsed(lines) if r.get("session_id") == session_id]
    # The OCPP side and the roaming side of the session carry the same ids.
    assert {"session started", "session ended"} <= {r["event"] for r in records}
    delivered = [r for r in records if r["event"] == "delivered"]
    assert {r["operation"] for r in delivered} >= {"ChargeDetailRecord", "ChargingNotification"}
    assert all(r["partner"] == "hubject" and r["charge_point_id"] == "CP1" for r in delivered)
    queued = [r for r in records if r["event"] == "roaming message queued"]
    assert queued and all(r["charge_point_id"] == "CP1" for r in queued)
    answered = [r for r in parsed(lines) if r["event"] == "hubject answered"]
    assert answered and all(r.get("charge_point_id") == "CP1" for r in answered)


async def _active(app: App, session_id: str) -> bool:
    status = await app.pool.fetchval("SELECT status FROM sessions WHERE id = $1", session_id)
    return bool(status == "active")


def _delivered_cdr(records: list[dict[str, Any]]) -> bool:
    return any(r.get("event") == "delivered" and r.get("operation") == "ChargeDetailRecord"
               for r in records)
