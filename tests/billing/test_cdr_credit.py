"""Correcting a CDR once sent, end to end: a real charger's session, its CDR at the eMSP stand-in,
then a credit CDR and a corrected CDR (API, CLI, console's route) each received exactly once and
checked there against OCPI 2.2.1; refusals change nothing; OICP has no credit CDRs."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from bridge import outbox
from csms.app import App
from csms.domain.charge_points import register
from csms.operator.command_line.cli import main
from csms.operator.http.openapi import openapi_document
from csms.storage import store
from simulators.partners.emsp import SimulatedEmsp
from simulators.partners.hubject import SimulatedHubject
from tests.conftest import AppFactory, SimFactory
from tests.ocpi.test_ocpi_sessions import check_cdr, setup
from tests.oicp.test_oicp_roaming import CDR as OICP_CDR
from tests.oicp.test_oicp_roaming import _async, cpo_url, remote_start_body
from tests.operators.console.test_console import base, browser  # noqa: F401 (fixtures)
from tests.operators.test_api_schemas import _fits
from tests.support import Api, eventually, oicp_settings


def api_of(app: App) -> Api:
    return Api(f"http://127.0.0.1:{app.api.port}/api/v1")


async def _settled(app: App) -> bool:
    return not await outbox.list_messages(app.pool, None, "pending")


def cdrs_at(emsp: SimulatedEmsp) -> list[dict[str, Any]]:
    return [r.body for r in emsp.of("POST", "/cdrs")]


async def _session_cdr(app: App, emsp: SimulatedEmsp, sims: SimFactory) -> dict[str, Any]:
    """A whitelisted token's session on CP1, ended: its CDR as the eMSP received it."""
    await emsp.push_token(emsp.token("AABB0011"))
    sim = sims(app)
    await sim.start()
    await sim.start_local_session(1, "AABB0011")
    await eventually(lambda: _async(sim.meter_wh[1] > 4000))
    await sim.stop_local_session(1)
    await sim.flush()
    return await check_cdr(app, emsp, "WHITELIST")


async def _fits_schema(api: Api, path: str, method: str, status: int, data: Any) -> None:
    document = openapi_document()
    schema = document["paths"][path][method]["responses"][str(status)]["content"][
        "application/json"]["schema"]
    assert _fits(data, schema, document) == []


async def test_credit_and_reissue_reach_the_emsp_once(make_app: AppFactory, emsp: SimulatedEmsp,
                                                      sims: SimFactory) -> None:
    app = await setup(make_app, emsp)
    original = await _session_cdr(app, emsp, sims)
    cdr_id = original["id"]
    api = api_of(app)
    try:
        # A bad body, an unknown CDR: refused with the reason, nothing queued.
        for body, code, reason in (({"reissue": "yes"}, 400, "'reissue' is true or false"),
                                   ({"again": True}, 400,
                                    "unknown field 'again': the body may hold 'reissue'")):
            status, answer = await api.post(f"/cdrs/{cdr_id}/credit", body)
            assert (status, answer["error"]) == (code, reason)
        status, answer = await api.post("/cdrs/nonsense/credit")
        assert status == 404 and answer["error"] == "unknown CDR 'nonsense'"
        assert len(await api.items("/cdrs")) == 1

        status, answer = await api.post(f"/cdrs/{cdr_id}/credit", {"reissue": True})
        assert status == 201, answer
        await _fits_schema(api, "/cdrs/{id}/credit", "post", 201, answer)
        credit_id, reissue_id = answer["credit"]["id"], answer["reissue"]["id"]
        assert credit_id == cdr_id + "-C" and reissue_id == cdr_id.replace("-", "") + "-R1"
        assert (answer["credit"]["credit"], answer["credit"]["credit_reference_id"]) == (True, cdr_id)
        assert answer["reissue"]["reissue_of"] == cdr_id

        await eventually(lambda: _async(len(cdrs_at(emsp)) >= 3))
        await eventually(lambda: _settled(app))
        original_, credit, reissue = cdrs_at(emsp)
        assert len(cdrs_at(emsp)) == 3  # each exactly once
        assert emsp.invalid == []  # the stand-in checked the credit against the original
        assert original_ == original
        assert credit["id"] == credit_id and credit["credit"] is True
        assert credit["credit_reference_id"] == cdr_id
        assert credit["total_cost"] == {k: -v for k, v in original["total_cost"].items()}
        assert credit["total_cost"]["excl_vat"] < 0
        assert credit["total_energy"] == original["total_energy"] > 0
        assert credit["charging_periods"] == original["charging_periods"]
        # The corrected CDR: the same session costed again (the same data: the same cost).
        assert reissue["id"] == reissue_id and len(reissue_id) <= 36
        assert "credit" not in reissue and "credit_reference_id" not in reissue
        assert (reissue["session_id"], reissue["total_cost"], reissue["total_energy"]) == (
            original["session_id"], original["total_cost"], original["total_energy"])
        assert set(emsp.cdrs) == {cdr_id, credit_id, reissue_id}

        # Kept and listable: the admin API (newest first, delivered) and OCPI's CDRs sender.
        page = await api.get("/cdrs")
        await _fits_schema(api, "/cdrs", "get", 200, page)
        assert [(c["id"], c["delivery"]) for c in page["items"]] == [
            (reissue_id, "delivered"), (credit_id, "delivered"), (cdr_id, "delivered")]
        assert [c["id"] for c in await api.items(f"/cdrs?session_id={original['session_id']}")
                ] == [reissue_id, credit_id, cdr_id]
        assert await api.items("/cdrs?protocol=oicp") == []
        status, _ = await api.request("GET", "/cdrs?protocol=ftp")
        assert status == 400
        shown = await api.get(f"/cdrs/{credit_id}")
        await _fits_schema(api, "/cdrs/{id}", "get", 200, shown)
        assert shown["body"] == credit
        base = app.settings.ocpi.public_url + "/ocpi/2.2.1"
        _, headers, listed = await emsp.call("GET", base + "/cdrs", schema="CDR")
        assert [c["id"] for c in listed["data"]] == [cdr_id, credit_id, reissue_id]
        assert headers["X-Total-Count"] == "3" and emsp.bad_answers == []
        details = await api.get(f"/sessions/{original['session_id']}/details")
        assert [(c["id"], c["credit"], c["status"]) for c in details["cdrs"]] == [
            (cdr_id, False, "delivered"), (credit_id, True, "delivered"),
            (reissue_id, False, "delivered")]

        # Refused, nothing sent: crediting again, crediting a credit.
        for target, reason in ((cdr_id, f"already credited by {credit_id}"),
                               (credit_id, "a credit CDR cannot be credited")):
            status, answer = await api.post(f"/cdrs/{target}/credit", {"reissue": True})
            assert (status, answer["error"]) == (409, reason)
        # The corrected CDR can be credited in its turn (and the next one is R2).
        status, answer = await api.post(f"/cdrs/{reissue_id}/credit", {"reissue": True})
        assert status == 201
        assert answer["reissue"]["id"] == cdr_id.replace("-", "") + "-R2"
        await eventually(lambda: _async(len(cdrs_at(emsp)) >= 5))
        await eventually(lambda: _settled(app))
        assert len(cdrs_at(emsp)) == 5 and emsp.invalid == []
        assert len(await api.items("/cdrs")) == 5
    finally:
        await api.http.close()


async def test_roles_and_the_cli(make_app: AppFactory, emsp: SimulatedEmsp, sims: SimFactory,
                                 db_url: str, monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    app = await setup(make_app, emsp)
    original = await _session_cdr(app, emsp, sims)
    cdr_id = original["id"]
    api = api_of(app)
    try:
        tokens = {}
        for role in ("viewer", "operator"):
            status, created = await api.post("/api-tokens", {"name": role, "role": role})
            assert status == 201
            tokens[role] = created["token"]

        async def as_role(role: str, method: str, path: str, body: Any = None) -> int:
            async with aiohttp.ClientSession(
                    headers={"Authorization": f"Bearer {tokens[role]}"}) as http, \
                    http.request(method, api.base + path, json=body or {}) as response:
                return response.status
        assert await as_role("viewer", "GET", "/cdrs") == 200
        assert await as_role("viewer", "GET", f"/cdrs/{cdr_id}") == 200
        assert await as_role("viewer", "POST", f"/cdrs/{cdr_id}/credit") == 403
        assert await as_role("operator", "GET", "/cdrs") == 200
        # An operator may credit (here a bad body: answered, not forbidden, nothing done).
        assert await as_role("operator", "POST", f"/cdrs/{cdr_id}/credit", {"reissue": 1}) == 400
        assert len(await api.items("/cdrs")) == 1  # the viewer's try changed nothing

        monkeypatch.setenv("CSMS_DATABASE_URL", db_url)
        monkeypatch.setenv("CSMS_LOG_LEVEL", "warning")

        async def csms(*argv: str) -> int:
            return await asyncio.to_thread(main, list(argv))

        def errors() -> list[str]:
            """The CLI's own lines (the app running in this process may log beside them)."""
            return [line for line in capsys.readouterr().err.splitlines()
                    if line.startswith("error:")]
        capsys.readouterr()
        assert await csms("cdrs", "credit", "nonsense") == 1
        assert errors() == ["error: unknown CDR 'nonsense' (see csms cdrs list)"]
        assert await csms("cdrs", "credit", cdr_id) == 0
        assert f"queued credit CDR {cdr_id}-C for ocpi:" in capsys.readouterr().out
        assert await csms("cdrs", "credit", cdr_id, "--reissue") == 1
        assert errors() == [f"error: {cdr_id} not credited: already credited by {cdr_id}-C"]
        await eventually(lambda: _async(len(cdrs_at(emsp)) >= 2))
        await eventually(lambda: _settled(app))
        assert [c["id"] for c in cdrs_at(emsp)] == [cdr_id, cdr_id + "-C"]
        assert emsp.invalid == []
        assert await csms("cdrs", "list") == 0
        lines = capsys.readouterr().out.splitlines()
        assert lines[0].split()[:2] == ["CDR", "ROAMING"]
        assert [line.split()[0] for line in lines[1:]] == [cdr_id + "-C", cdr_id]
        # The CLI's change is in the audit log like the API's.
        audit = await api.items("/audit")
        assert any(row["action"] == "cdrs credit" and row["via"] == "cli" for row in audit)
    finally:
        await api.http.close()


async def test_an_oicp_cdr_is_kept_and_not_credited(make_app: AppFactory, hubject: SimulatedHubject,
                                                    sims: SimFactory) -> None:
    app = await make_app(oicp=oicp_settings(hubject))
    await register(app.pool, "CP1", None, {1: "DE*ABC*E0001*1"}, security_profile=0)
    sim = sims(app)
    await sim.start()
    start = remote_start_body()
    answer = await hubject.remote_start(cpo_url(app), start)
    session_id = answer["CPOPartnerSessionID"]

    async def metered() -> bool:
        return len(await store.energy_readings(app.pool, session_id)) >= 2
    await eventually(metered)
    stop = {k: start[k] for k in ("SessionID", "ProviderID", "EvseID", "EMPPartnerSessionID")}
    await hubject.remote_stop(cpo_url(app), stop)
    [sent] = await eventually(lambda: _async(hubject.accepted(OICP_CDR)))
    await eventually(lambda: _settled(app))
    api = api_of(app)
    try:
        [kept] = await api.items("/cdrs")
        assert (kept["id"], kept["protocol"], kept["credit"], kept["delivery"]) == (
            session_id, "oicp", False, "delivered")
        assert kept["body"] == sent.body and kept["total_cost"] is None
        status, answer = await api.post(f"/cdrs/{session_id}/credit", {"reissue": True})
        assert status == 409 and answer["error"].startswith("OICP has no credit CDRs")
        assert len(await api.items("/cdrs")) == 1
        assert not await outbox.list_messages(app.pool, None, "pending")
        assert len(hubject.accepted(OICP_CDR)) == 1
    finally:
        await api.http.close()


async def test_the_session_page_credits_a_cdr(make_app: AppFactory, emsp: SimulatedEmsp,
                                              sims: SimFactory, browser: Any) -> None:  # noqa: F811
    from playwright.async_api import expect

    app = await setup(make_app, emsp)
    original = await _session_cdr(app, emsp, sims)
    cdr_id, session_id = original["id"], original["session_id"]
    api = api_of(app)
    password = "a long enough password"
    for name, role in (("vera", "viewer"), ("olga", "operator")):
        assert (await api.post("/users", {"name": name, "role": role, "password": password}))[0] == 201
    await api.http.close()
    page = await browser.new_page(viewport={"width": 1280, "height": 800})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))

    async def log_in(name: str) -> None:
        await page.fill("#user", name)
        await page.fill("#token", password)
        await page.click("form.login button")

    await page.goto(base(app) + f"/#/sessions/{session_id}")
    await log_in("vera")
    row = page.locator(f'#cdrs tr[data-id="{cdr_id}"]')
    await expect(row).to_have_attribute("data-status", "delivered")
    await expect(row.locator(".cdr-cost")).to_contain_text("EUR")
    await expect(row.locator("button.cdr-credit")).to_be_hidden()  # a viewer's page offers none
    await expect(row.locator("button.cdr-reissue")).to_be_hidden()

    await page.click("#logout")
    await log_in("olga")
    await expect(page.locator("#whoami")).to_have_text("olga (operator)")
    await row.locator("button.cdr-reissue").click()
    await expect(page.locator(".outcome")).to_contain_text(f"Queued: credit CDR {cdr_id}-C and "
                                                           "corrected CDR")
    await expect(page.locator("#cdrs tbody tr")).to_have_count(3)
    await expect(page.locator('#cdrs tr[data-credit="true"]')).to_contain_text(f"credit of {cdr_id}")
    await expect(row.locator("button.cdr-credit")).to_have_count(0)  # credited: no more button
    await eventually(lambda: _async(len(cdrs_at(emsp)) >= 3))
    await eventually(lambda: _settled(app))
    assert [c["id"] for c in cdrs_at(emsp)] == [cdr_id, cdr_id + "-C",
                                                cdr_id.replace("-", "") + "-R1"]
    assert emsp.invalid == [] and errors == []
