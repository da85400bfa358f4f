"""The OpenAPI description against real answers: each GET fits its schema, every list pages alike."""

from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ocpp.v201 import call
from openapi_schema_validator import OAS30Validator

from csms.app import App
from csms.domain.charge_points import register
from csms.operator.http.openapi import openapi_document
from csms.operator.http.paging import MAX_LIMIT
from csms.storage import cdr_store
from simulators.chargepoint import SimConfig
from simulators.chargepoint201 import ChargePoint201
from simulators.partners.hubject import SimulatedHubject
from tests.conftest import AppFactory
from tests.energy_support import place, set_limit
from tests.pki import Pki
from tests.support import Api, eventually, oicp_settings, ws_url

# What a command read from the charger needs to ask it something.
QUERIES = {"/charge-points/{cp}/configuration": "?key=OCPPCommCtrlr.HeartbeatInterval",
           "/charge-points/{cp}/composite-schedule": "?evse=1"}
PAGE_KEYS = ["items", "limit", "offset", "total"]
# The routes of a populated database whose list must not be empty (an empty list checks little).
FILLED = {"/charge-points", "/charge-points/{cp}/evses",
          "/sessions", "/sessions/{id}/meter-values", "/tokens", "/outbox", "/partners",
          "/charge-points/{cp}/messages", "/charge-points/{cp}/jobs", "/jobs", "/users",
          "/api-tokens", "/audit", "/charge-points/{cp}/charging-profiles",
          "/charge-points/{cp}/device-model", "/charge-points/{cp}/device-model/requests",
          "/charge-points/{cp}/monitors", "/charge-points/{cp}/display-messages",
          "/charge-points/{cp}/certificates", "/security-events", "/charge-points/{cp}/reports",
          "/charge-points/{cp}/device-events", "/tariffs", "/tariff-assignments", "/cdrs"}


def _resolved(schema: dict[str, Any], document: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _answer_schema(document: dict[str, Any], path: str) -> dict[str, Any]:
    return _resolved(document["paths"][path]["get"]["responses"]["200"]["content"]
                     ["application/json"]["schema"], document)


def _fits(data: Any, schema: dict[str, Any], document: dict[str, Any]) -> list[str]:
    """Its $refs resolve against the document's components (kept beside the schema)."""
    validator = OAS30Validator({"allOf": [schema], "components": document["components"]})
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}"
            for e in validator.iter_errors(data)]


def test_every_list_route_pages_alike() -> None:
    """A GET answering a list answers a page: items, limit, offset, total, and takes limit and
    offset; none answers a bare array."""
    document = openapi_document()
    for path, item in document["paths"].items():
        if "get" not in item or "application/json" not in \
                item["get"]["responses"]["200"].get("content", {}):
            continue
        schema = _answer_schema(document, path)
        assert schema.get("type") != "array", f"GET {path} answers a bare list"
        if "items" not in schema.get("properties", {}) or path == "/rollouts/{id}":
            continue  # not a list (a rollout's jobs are part of the rollout)
        assert schema["required"] == PAGE_KEYS, path
        assert sorted(schema["properties"]) == sorted(PAGE_KEYS), path
        names = {p["name"] for p in item["get"].get("parameters", [])}
        assert {"limit", "offset"} <= names, path


async def _populate(app: App, api: Api, pki: Pki) -> ChargePoint201:
    """A charger that booted, charged a session with meter values (delivered to Hubject), its
    inventory reported, a firmware job and a charging profile sent; a user, an API token; a
    tariff assigned to its EVSE."""
    await register(app.pool, "CP1", None, {1: "DE*ABC*E0001*1"}, security_profile=0)
    await place(app, "S1", ["CP1"])  # a site with a grid limit, for its limit and allocation
    await set_limit(app, "S1", 100)
    assert (await api.post("/tokens", {"uid": "CARD1", "group": "FLEET"}))[0] == 201
    status, _ = await api.request("PUT", "/tariffs/AC", json={"currency": "EUR", "elements": [
        {"price_components": [{"type": "ENERGY", "price": 0.39, "vat": 19.0, "step_size": 1}],
         "restrictions": {"start_time": "17:00", "end_time": "21:00"}}]})
    assert status == 201, _
    status, _ = await api.request("PUT", "/tariff-assignments",
                                  json={"tariff_id": "AC", "evse_ids": ["DE*ABC*E0001*1"]})
    assert status == 200, _
    sim = ChargePoint201(SimConfig(charge_point_id="CP1", url=ws_url(app), meter_interval=0.2))
    await sim.start()
    await eventually(lambda: _connected(api))
    await sim.start_local_session(1, "CARD1")
    await eventually(lambda: _samples(api))
    await sim.stop_local_session(1)
    await eventually(lambda: _completed(api))
    # A CDR kept for it, under its id (a session of our own customer sends none: kept here).
    [session] = await api.items("/sessions")
    async with app.pool.acquire() as conn:
        await cdr_store.add(conn, session["id"], "ocpi", "ocpi:1", session["id"], {
            "id": session["id"], "total_cost": {"excl_vat": 1.0}, "currency": "EUR"})
    status, _ = await api.post("/charge-points/CP1/device-model/report", {"base": "FullInventory"})
    assert status == 200
    status, _ = await api.post("/charge-points/CP1/charging-profiles", {"evse": 1, "profile": {
        "id": 7, "stack_level": 1, "purpose": "TxDefault", "kind": "Relative", "unit": "A",
        "periods": [{"start": 0, "limit": 16.0}]}})
    assert status == 200, _
    status, _ = await api.post("/charge-points/CP1/firmware",
                               {"location": "https://firmware.example/cp.bin"})
    assert status == 201
    status, _ = await api.post("/users", {"name": "alice", "role": "viewer",
                                          "password": "a long enough password"})
    assert status == 201
    status, _ = await api.post("/api-tokens", {"name": "billing", "role": "viewer"})
    assert status == 201
    status, _ = await api.post("/charge-points/CP1/monitors", {"monitors": [
        {"component": "EVSE", "evse_id": 1, "variable": "Power", "type": "UpperThreshold",
         "value": 7000, "severity": 5}]})
    assert status == 200
    status, _ = await api.post("/charge-points/CP1/display-messages",
                               {"id": 1, "content": "Welcome", "priority": "InFront"})
    assert status == 200
    status, _ = await api.post("/charge-points/CP1/certificates", {
        "type": "csms_root", "certificate": _pem(pki)})
    assert status == 200
    now = datetime.now(UTC).isoformat()
    await sim.call(call.SecurityEventNotification(type="FirmwareUpdated", timestamp=now))
    await sim.call(call.DataTransfer(vendor_id="SimVendor", message_id="hello", data="x"))
    await sim.call(call.NotifyEvent(generated_at=now, seq_no=0, event_data=[{
        "eventId": 1, "timestamp": now, "trigger": "Delta", "actualValue": "1",
        "eventNotificationType": "HardWiredNotification",
        "component": {"name": "EVSE", "evse": {"id": 1}}, "variable": {"name": "Power"}}]))
    await eventually(lambda: _filled(api, "/charge-points/CP1/device-model"))
    await eventually(lambda: _filled(api, "/outbox?status=delivered"))
    return sim


def _pem(pki: Pki) -> str:
    return Path(pki["ca.crt"]).read_text()


async def _connected(api: Api) -> bool:
    return bool((await api.get("/charge-points/CP1"))["connected"])


async def _samples(api: Api) -> bool:
    [session] = await api.items("/sessions")
    return bool(await api.items(f"/sessions/{session['id']}/meter-values"))


async def _completed(api: Api) -> bool:
    return bool(await api.items("/sessions?status=completed"))


async def _filled(api: Api, path: str) -> bool:
    return bool(await api.items(path))


async def test_every_get_answers_as_described(make_app: AppFactory, hubject: SimulatedHubject,
                                              pki: Pki) -> None:
    app = await make_app(oicp=oicp_settings(hubject))
    api = Api(f"http://127.0.0.1:{app.api.port}/api/v1")
    sim = None
    try:
        sim = await _populate(app, api, pki)
        document = await api.get("/openapi.json")
        [session] = await api.items("/sessions")
        job = (await api.items("/jobs"))[0]
        request = (await api.items("/charge-points/CP1/device-model/requests"))[0]
        values = {"cp": "CP1", "id": session["id"], "uid": "CARD1", "site": "S1", "site_id": "S1",
                  "request_id": str(request["request_id"])}
        assert len(document["components"]["schemas"]) >= 30
        ids = {"/jobs/{id}": job["id"], "/rollouts/{id}": job["rollout_id"], "/tariffs/{id}": "AC"}
        problems, answers = [], {}
        for path, item in sorted(document["paths"].items()):
            operation = item.get("get")
            if operation is None or path == "/events" or "servers" in item:  # not below /api/v1
                continue
            url = path if path not in ids else path.replace("{id}", str(ids[path]))
            url = re.sub(r"\{(\w+)\}", lambda m: values[m.group(1)], url)
            status, data = await api.request("GET", url + QUERIES.get(path, ""))
            answers[path] = data
            if status != 200:
                problems.append(f"GET {url}: {status} {data}")
                continue
            schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
            problems += [f"GET {url} {error}" for error in _fits(data, schema, document)]
            if path in FILLED and not data.get("items"):
                problems.append(f"GET {url}: nothing listed")
        if os.environ.get("CSMS_DUMP_ANSWERS"):
            print(json.dumps(answers, indent=1, default=str))
        assert problems == [], "\n".join(problems)
        # Its error answers fit the error schema too.
        status, data = await api.request("GET", "/sessions?limit=0")
        assert status == 400
        assert _fits(data, {"$ref": "#/components/schemas/Error"}, document) == []
    finally:
        if sim is not None:
            await sim.stop()
        await api.http.close()


async def test_bad_paging_is_refused_with_its_reason(app: App, api: Api) -> None:
    """Every list route: a limit or offset out of range or not a number is a 400 naming it."""
    await register(app.pool, "CP1", None, {1: None}, security_profile=0)
    document = await api.get("/openapi.json")
    lists = [path for path, item in document["paths"].items() if "get" in item
             and "offset" in {p["name"] for p in item["get"].get("parameters", [])}]
    assert len(lists) >= 20
    for path in lists:
        url = re.sub(r"\{(\w+)\}", lambda m: {"cp": "CP1"}.get(m.group(1), "1"), path)
        for query, name in ((f"limit={MAX_LIMIT + 1}", "limit"), ("limit=0", "limit"),
                            ("limit=many", "limit"), ("offset=-1", "offset")):
            status, data = await api.request("GET", f"{url}?{query}")
            assert status == 400 and f"'{name}'" in data["error"], (path, query, status, data)
    page = await api.get("/tokens")
    assert (page["limit"], page["offset"], page["total"]) == (100, 0, 0)


async def test_a_page_counts_all_and_lists_its_part(app: App, api: Api) -> None:
    for uid in ("A", "B", "C"):
        assert (await api.post("/tokens", {"uid": uid}))[0] == 201
    page = await api.get("/tokens?limit=2&offset=1")
    assert [t["uid"] for t in page["items"]] == ["B", "C"]
    assert (page["limit"], page["offset"], page["total"]) == (2, 1, 3)
    assert (await api.get("/tokens?offset=5"))["items"] == []
    assert (await api.get("/tokens?offset=5"))["total"] == 3
