"""OCPI partners that arrive after the sites: the full push on registration and `csms ocpi sync`,
PATCHes of objects the partner does not know turned into PUTs, one push per real status change."""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest

from bridge.ocpi.handshake.credentials import receivers_moved
from bridge.ocpi.publishing import sync
from csms.app import App
from csms.domain.billing.tariffs import put_tariffs
from csms.domain.charge_points import assign_sites, register
from csms.domain.model import EvseStatus
from simulators.partners.emsp import SimulatedEmsp
from tests.conftest import AppFactory, SimFactory
from tests.ocpi.test_ocpi_sessions import TARIFF, check_cdr
from tests.ocpi.test_ocpi_sessions import setup as sessions_setup
from tests.oicp.test_oicp_evse_data import demo_site
from tests.oicp.test_oicp_roaming import _async
from tests.support import eventually, issue_token, ocpi_settings, parties_of

SITES = [f"site-{n}" for n in range(5)]


async def operator_with_sites(make_app: AppFactory) -> App:
    """OCPI on, a tariff and five sites of one charger each, and no partner yet."""
    app = await make_app(ocpi=ocpi_settings())
    await put_tariffs(app.pool, app.events, [TARIFF])
    for n, site in enumerate(SITES):
        await register(app.pool, f"CP{n}", None, {1: f"DE*ABC*E000{n}*1"}, events=app.events,
                       security_profile=0)
        await assign_sites(app.pool, app.events, [replace(demo_site(), id=site,
                                                          charge_points=(f"CP{n}",), evses={})])
    return app


async def status(app: App, charge_point_id: str, value: EvseStatus) -> None:
    await app.services.charge_points.status(charge_point_id, 1, 1, value, value.value, None,
                                            datetime.now(UTC))


def patches(emsp: SimulatedEmsp, site: str, uid: str) -> list[tuple[str, int]]:
    return [(r.body["status"], r.answered)
            for r in emsp.of("PATCH", f"/locations/DE/ABC/{site}/{uid}")]


def evse_status(emsp: SimulatedEmsp, site: str) -> str | None:
    location = emsp.location(site)
    return location["evses"][0]["status"] if location else None


async def holds_everything(emsp: SimulatedEmsp) -> bool:
    return all(emsp.location(site) for site in SITES) \
        and "tariffs/DE/ABC/AC-1" in emsp.objects


@pytest.mark.parametrize("who_registers", ["we", "they"])
async def test_partner_registering_after_the_sites_gets_them_all(
        make_app: AppFactory, emsp: SimulatedEmsp, monkeypatch: pytest.MonkeyPatch,
        who_registers: str) -> None:
    monkeypatch.setattr(sync, "PAGE", 2)  # five sites: three pages
    app = await operator_with_sites(make_app)
    assert app.ocpi is not None
    if who_registers == "we":
        await app.ocpi.registrar.register_with(emsp.versions_url, emsp.token_a, "sim",
                                               parties=parties_of(emsp))
    else:
        from bridge.ocpi.transport import new_token
        token_a = new_token()
        await issue_token(app, token_a, emsp)
        answer = await emsp.register_with(f"{app.settings.ocpi.public_url}/ocpi/versions", token_a)
        assert answer["status_code"] == 1000

    await eventually(lambda: holds_everything(emsp))
    assert emsp.invalid == []
    # A page per transaction, not one for all (created_at: now(), its transaction's start).
    pages = await app.pool.fetchval(
        "SELECT count(DISTINCT created_at) FROM outbox WHERE operation = 'PUT locations'")
    assert pages == 3

    # Its EVSEs' status changes now reach a partner that knows them (they got 404 before).
    await status(app, "CP3", EvseStatus.FAULTED)
    await eventually(lambda: _async(patches(emsp, "site-3", "CP3-1") == [("OUTOFORDER", 200)]))
    assert evse_status(emsp, "site-3") == "OUTOFORDER"
    assert emsp.of("PUT", "/locations/DE/ABC/site-3") and emsp.invalid == []


async def test_patch_of_an_object_the_partner_lost_becomes_a_put(
        make_app: AppFactory, emsp: SimulatedEmsp) -> None:
    app = await operator_with_sites(make_app)
    assert app.ocpi is not None
    await app.ocpi.registrar.register_with(emsp.versions_url, emsp.token_a, "sim", parties=parties_of(emsp))
    await eventually(lambda: holds_everything(emsp))
    emsp.objects.clear()  # the eMSP lost its copy
    emsp.down = True
    await status(app, "CP1", EvseStatus.FAULTED)
    await eventually(lambda: _async(emsp.refused))
    # Changed while the PATCH waits, with no event: the PUT is built when it goes, not before.
    await app.pool.execute(
        """UPDATE sites SET data = jsonb_set(data, '{name}', '"Renamed"') WHERE id = 'site-1'""")
    emsp.down = False

    await eventually(lambda: _async(emsp.location("site-1")))
    assert patches(emsp, "site-1", "CP1-1") == [("OUTOFORDER", 404)]
    location = emsp.location("site-1")
    assert location is not None
    assert location["name"] == "Renamed" and location["evses"][0]["status"] == "OUTOFORDER"
    # The full push's PUT, then the PATCH become a PUT in its place.
    async def both_delivered() -> bool:
        rows = await app.pool.fetch(
            """SELECT operation, status FROM outbox WHERE path LIKE 'locations|%site-1%'
               ORDER BY id""")
        return [tuple(row) for row in rows] == [("PUT locations", "delivered")] * 2
    await eventually(both_delivered)

    await status(app, "CP1", EvseStatus.AVAILABLE)  # and PATCHes work again
    await eventually(lambda: _async(patches(emsp, "site-1", "CP1-1")[-1:] == [("AVAILABLE", 200)]))
    assert evse_status(emsp, "site-1") == "AVAILABLE" and emsp.invalid == []


async def test_one_push_per_status_the_partner_sees(make_app: AppFactory,
                                                    emsp: SimulatedEmsp) -> None:
    app = await operator_with_sites(make_app)
    assert app.ocpi is not None
    await app.ocpi.registrar.register_with(emsp.versions_url, emsp.token_a, "sim", parties=parties_of(emsp))
    await eventually(lambda: holds_everything(emsp))

    def seen() -> list[str]:
        return [s for s, _ in patches(emsp, "site-0", "CP0-1")]

    # A, A: Preparing, Charging and SuspendedEV are all OCPI CHARGING.
    for value in (EvseStatus.PREPARING, EvseStatus.CHARGING, EvseStatus.SUSPENDED):
        await status(app, "CP0", value)
        await eventually(lambda: _async(seen()))
    # A, B, A: each a change for the partner (waiting for each, so none coalesces).
    for value, expected in ((EvseStatus.FAULTED, "OUTOFORDER"), (EvseStatus.OCCUPIED, "CHARGING"),
                            (EvseStatus.AVAILABLE, "AVAILABLE")):
        await status(app, "CP0", value)
        await eventually(lambda: _async(seen()[-1:] == [expected]))  # noqa: B023 (awaited here)
    assert seen() == ["CHARGING", "OUTOFORDER", "CHARGING", "AVAILABLE"]


async def test_credentials_update_moving_the_receivers_pushes_all_again(
        make_app: AppFactory, emsp: SimulatedEmsp) -> None:
    app = await operator_with_sites(make_app)
    assert app.ocpi is not None
    await app.ocpi.registrar.register_with(emsp.versions_url, emsp.token_a, "sim", parties=parties_of(emsp))
    await eventually(lambda: holds_everything(emsp))
    moved = SimulatedEmsp()  # the eMSP's new system, empty
    await moved.start()
    try:
        moved.our_token = "rotated-token-2"
        credentials = {"token": moved.our_token, "url": moved.versions_url, "roles": [
            {"role": "EMSP", "country_code": "NL", "party_id": "EMS",
             "business_details": {"name": "Simulated eMSP"}}]}
        _, _, answer = await emsp.call("PUT", emsp.cpo_endpoint("credentials"), credentials,
                                       schema="Credentials")
        assert answer["status_code"] == 1000
        await eventually(lambda: holds_everything(moved))
        assert moved.invalid == []
    finally:
        await moved.stop()


@pytest.mark.parametrize(("before", "after", "expected"), [
    ([], [], False),
    ([{"identifier": "locations", "role": "RECEIVER", "url": "http://a/l"}],
     [{"identifier": "locations", "role": "RECEIVER", "url": "http://a/l"},
      {"identifier": "tokens", "role": "SENDER", "url": "http://a/t"}], False),
    ([{"identifier": "locations", "role": "RECEIVER", "url": "http://a/l"}],
     [{"identifier": "locations", "role": "RECEIVER", "url": "http://b/l"}], True),
    ([], [{"identifier": "tariffs", "role": "RECEIVER", "url": "http://a/t"}], True),
])
def test_receivers_moved(before: list[dict[str, Any]], after: list[dict[str, Any]],
                         expected: bool) -> None:
    assert receivers_moved(before, after) is expected


async def csms(db_url: str, app: App, *args: str) -> tuple[int, str, str]:
    """The csms command in its own process, on the app's database."""
    env = {**os.environ, "CSMS_DATABASE_URL": db_url, "CSMS_LOG_LEVEL": "warning",
           "CSMS_OCPI_ENABLED": "true", "CSMS_OCPI_PUBLIC_URL": app.settings.ocpi.public_url,
           "CSMS_OCPI_ALLOW_PRIVATE_ADDRESSES": "true"}  # the stand-ins are on loopback
    # A folder with no config.toml; not tests/, whose ocpp/ and operator/ would shadow the library's and
    # the standard library's packages of those names.
    with tempfile.TemporaryDirectory() as cwd:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "csms", *args, cwd=cwd, env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_sync_command(make_app: AppFactory, emsp: SimulatedEmsp, db_url: str) -> None:
    app = await operator_with_sites(make_app)
    assert app.ocpi is not None
    await app.ocpi.registrar.register_with(emsp.versions_url, emsp.token_a, "sim", parties=parties_of(emsp))
    await eventually(lambda: holds_everything(emsp))
    emsp.objects.clear()  # the eMSP lost its copy and asks for everything again

    code, out, err = await csms(db_url, app, "ocpi", "sync", "NL/EMS")
    assert code == 0, err
    assert out.strip().startswith("queued 5 Location(s) and 1 Tariff(s) for partner")
    await eventually(lambda: holds_everything(emsp))  # the running csms delivered them
    assert emsp.invalid == []

    code, out, err = await csms(db_url, app, "ocpi", "sync", "FR/XYZ")
    assert code == 1 and out == "" and err.strip().splitlines() == [
        "no registered partner FR/XYZ (see csms ocpi partners)"]


async def test_session_patch_the_partner_cannot_place_becomes_a_put(
        make_app: AppFactory, emsp: SimulatedEmsp, sims: SimFactory) -> None:
    app = await sessions_setup(make_app, emsp)
    await emsp.push_token(emsp.token("AABB0011"))
    sim = sims(app)
    await sim.start()
    await sim.start_local_session(1, "AABB0011")
    [put] = await eventually(lambda: _async(emsp.of("PUT", "/sessions/")))
    emsp.objects.pop(put.path.strip("/"))  # the eMSP lost the session
    lost = len(emsp.received)

    def after_loss() -> list[tuple[str, int, Any]]:
        return [(r.method, r.answered, r.body) for r in emsp.received[lost:]
                if r.path == put.path]
    # The next PATCH is refused, and the whole session as it stands now goes in its place.
    await eventually(lambda: _async([m for m, _, _ in after_loss()][:2] == ["PATCH", "PUT"]))
    (_, refused, _), (_, accepted, whole) = after_loss()[:2]
    assert (refused, accepted) == (404, 200)
    assert whole["status"] == "ACTIVE" and whole["kwh"] > 0 and whole["id"] == put.body["id"]
    await sim.stop_local_session(1)
    await sim.flush()
    await check_cdr(app, emsp, "WHITELIST")  # the session completes at the partner as usual


async def test_full_push_cut_short_carries_on_at_the_next_start(
        make_app: AppFactory, emsp: SimulatedEmsp, db_url: str) -> None:
    app = await operator_with_sites(make_app)
    assert app.ocpi is not None
    await app.ocpi.registrar.register_with(emsp.versions_url, emsp.token_a, "sim", parties=parties_of(emsp))
    await eventually(lambda: holds_everything(emsp))
    await app.stop()
    emsp.objects.clear()
    conn = await asyncpg.connect(db_url)
    try:  # as a stop leaves it after queueing the page that ended at site-1
        await conn.execute("UPDATE ocpi_partners SET sync_stage = 'locations', sync_after = 'site-1'")
    finally:
        await conn.close()

    await make_app(ocpi=ocpi_settings())
    await eventually(lambda: _async(all(emsp.location(site) for site in SITES[2:])
                                    and "tariffs/DE/ABC/AC-1" in emsp.objects))
    assert emsp.location("site-0") is None and emsp.location("site-1") is None
