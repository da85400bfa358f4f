"""OCPI end to end with a simulated charger and eMSP: tokens, real-time authorization, commands,
sessions, CDRs with cost, tariffs, an outage, and bad requests."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from bridge import outbox
from csms.app import App
from csms.domain.billing.tariffs import delete_tariff, put_tariffs
from csms.domain.charge_points import assign_sites, register
from csms.storage import store
from simulators.chargepoint import SimConfig
from simulators.chargepoint16 import ChargePoint16
from simulators.partners.emsp import SimulatedEmsp
from simulators.partners.hubject import SimulatedHubject
from tests.conftest import AppFactory, SimFactory
from tests.oicp.test_oicp_evse_data import demo_site
from tests.oicp.test_oicp_roaming import _async
from tests.support import eventually, ocpi_pushes_queued, ocpi_settings, oicp_settings, parties_of, ws_url

TARIFF = {"id": "AC-1", "currency": "EUR", "elements": [{"price_components": [
    {"type": "ENERGY", "price": 0.40, "vat": 19.0, "step_size": 1}]}]}


async def setup(make_app: AppFactory, emsp: SimulatedEmsp, **options: Any) -> App:
    """OCPI on, the eMSP registered, CP1 on a site whose EVSEs have tariff AC-1."""
    app = await make_app(**{"ocpi": ocpi_settings(), **options})
    assert app.ocpi is not None
    await app.ocpi.registrar.register_with(emsp.versions_url, emsp.token_a, "sim", parties=parties_of(emsp))
    await ocpi_pushes_queued(app)  # its full push (of nothing yet): what follows is pushed once
    await put_tariffs(app.pool, app.events, [TARIFF])
    await register(app.pool, "CP1", None, {1: "DE*ABC*E0001*1"}, events=app.events, security_profile=0)
    site = demo_site()
    await assign_sites(app.pool, app.events, [replace(site, evse=replace(site.evse, tariff="AC-1"),
                                                      evses={})])
    return app


async def _no_pending(app: App) -> bool:
    return not [m for m in await outbox.list_messages(app.pool, None, "pending")]


def session_messages(emsp: SimulatedEmsp) -> list[tuple[str, Any]]:
    return [(r.method, r.body) for r in emsp.received
            if r.path.startswith("/sessions/") and not r.errors]


async def finished_session(app: App) -> Any:
    sessions = await store.list_sessions(app.pool, "completed", None, None, 10, 0)
    return sessions[0] if sessions else None


async def check_cdr(app: App, emsp: SimulatedEmsp, auth_method: str) -> dict[str, Any]:
    [cdr] = await eventually(lambda: _async(emsp.of("POST", "/cdrs")))
    await eventually(lambda: _no_pending(app))
    assert len(emsp.of("POST", "/cdrs")) == 1  # exactly one
    session = await finished_session(app)
    kwh = (session["meter_stop_wh"] - session["meter_start_wh"]) / 1000
    body = cdr.body
    assert body["id"] == str(session["id"]) and body["auth_method"] == auth_method
    assert body["total_energy"] == round(kwh, 3) and kwh > 0
    assert body["total_cost"]["excl_vat"] == round(kwh * 0.40, 4)
    assert body["total_cost"]["incl_vat"] == round(kwh * 0.40 * 1.19, 4)
    assert body["tariffs"][0]["id"] == "AC-1" and body["cdr_location"]["evse_id"] == "DE*ABC*E0001*1"
    messages = session_messages(emsp)
    if auth_method == "COMMAND":  # a START_SESSION's session is PENDING until the charger starts
        assert messages[0][0] == "PUT" and messages[0][1]["status"] == "PENDING"
        messages = messages[1:]
    assert messages[0][0] == "PUT" and messages[0][1]["status"] == "ACTIVE"
    assert messages[-1] == ("PATCH", {**messages[-1][1], "status": "COMPLETED"})
    assert messages[-1][1]["kwh"] == body["total_energy"]
    assert emsp.invalid == [] and emsp.bad_answers == []
    return body


async def test_pushed_token_at_the_charger(make_app: AppFactory, emsp: SimulatedEmsp,
                                           sims: SimFactory) -> None:
    app = await setup(make_app, emsp)
    status, answer = await emsp.push_token(emsp.token("AABB0011"))
    assert (status, answer["status_code"]) == (200, 1000)
    sim = sims(app)
    await sim.start()
    await sim.start_local_session(1, "AABB0011")
    await eventually(lambda: _async(sim.meter_wh[1] > 6000))
    await sim.stop_local_session(1)
    await sim.flush()
    await check_cdr(app, emsp, "WHITELIST")
    assert not [r for r in emsp.received if r.path.endswith("/authorize")]  # no need to ask


async def test_real_time_authorization(make_app: AppFactory, emsp: SimulatedEmsp,
                                       sims: SimFactory) -> None:
    app = await setup(make_app, emsp)
    emsp.token("CCDD0022")  # known to the eMSP, never pushed
    sim = sims(app)
    await sim.start()
    assert await sim.authorize("UNKNOWN1") == "Invalid"
    await sim.start_local_session(1, "CCDD0022")
    await eventually(lambda: _async(sim.meter_wh[1] > 4000))
    await sim.stop_local_session(1)
    await sim.flush()
    body = await check_cdr(app, emsp, "AUTH_REQUEST")
    assert body["authorization_reference"].startswith("auth-")
    asked = [r for r in emsp.received if r.path.endswith("/authorize")]
    assert asked and asked[0].body == {"location_id": "berlin-hub", "evse_uids": ["CP1-1"]}

    emsp.allowed = "BLOCKED"
    assert await sim.authorize("CCDD0022") == "Blocked"


async def test_commands_to_one_cdr(make_app: AppFactory, emsp: SimulatedEmsp,
                                   sims: SimFactory) -> None:
    app = await setup(make_app, emsp)
    sim = sims(app)
    await sim.start()
    token = emsp.token("EEFF0033")
    start_id, answer = await emsp.command("START_SESSION", {
        "token": token, "location_id": "berlin-hub", "evse_uid": "CP1-1"})
    assert answer["data"] == {"result": "ACCEPTED", "timeout": 30}
    assert (await eventually(lambda: _async(emsp.result(start_id)))) == {"result": "ACCEPTED"}
    await eventually(lambda: _async(len(session_messages(emsp)) >= 3))  # PUT, then PATCHes
    [active] = await store.list_sessions(app.pool, "active", None, None, 10, 0)

    stop_id, answer = await emsp.command("STOP_SESSION", {"session_id": str(active["id"])})
    assert answer["data"]["result"] == "ACCEPTED"
    assert (await eventually(lambda: _async(emsp.result(stop_id)))) == {"result": "ACCEPTED"}
    await sim.flush()
    cdr = await check_cdr(app, emsp, "COMMAND")
    # The eMSP can also fetch them: its sessions and CDRs, nobody else's.
    base = app.settings.ocpi.public_url + "/ocpi/2.2.1"
    _, headers, answer = await emsp.call("GET", base + "/sessions", schema="Session")
    [session] = answer["data"]
    assert (session["id"], session["status"], session["kwh"]) == (
        str(active["id"]), "COMPLETED", cdr["total_energy"])
    assert headers["X-Total-Count"] == "1"
    _, _, answer = await emsp.call("GET", base + "/cdrs", schema="CDR")
    assert answer["data"] == [cdr]
    assert emsp.bad_answers == []

    # Refused at once: an unknown session, an EVSE of no location of ours, an unknown command.
    _, answer = await emsp.command("STOP_SESSION", {"session_id": str(uuid.uuid4())})
    assert answer["data"]["result"] == "UNKNOWN_SESSION"
    _, answer = await emsp.command("START_SESSION", {
        "token": token, "location_id": "elsewhere", "evse_uid": "CP1-1"})
    assert answer["data"]["result"] == "REJECTED"
    _, answer = await emsp.command("SET_CHARGING_PROFILE", {})
    assert answer["data"]["result"] == "NOT_SUPPORTED"


async def test_outage_during_a_session(make_app: AppFactory, emsp: SimulatedEmsp,
                                       sims: SimFactory) -> None:
    app = await setup(make_app, emsp)
    await emsp.push_token(emsp.token("AABB0044"))
    sim = sims(app)
    await sim.start()
    await eventually(lambda: _no_pending(app))
    emsp.down = True
    await sim.start_local_session(1, "AABB0044")
    await eventually(lambda: _async(sim.meter_wh[1] > 6000))
    await sim.stop_local_session(1)
    await sim.flush()

    async def refused() -> bool:  # the eMSP was tried and did not take it
        pending = await outbox.list_messages(app.pool, None, "pending")
        return any(m["operation"] == "POST cdrs" for m in pending) and any(
            m["attempts"] > 0 for m in pending)
    await eventually(refused)
    assert emsp.of("POST", "/cdrs") == []
    emsp.down = False
    await check_cdr(app, emsp, "WHITELIST")
    puts = [m for m in session_messages(emsp) if m[0] == "PUT"]
    assert len(puts) == 1  # nothing twice


async def test_tariffs_pushed_and_listed(make_app: AppFactory, emsp: SimulatedEmsp) -> None:
    app = await setup(make_app, emsp)
    [put] = await eventually(lambda: _async(emsp.of("PUT", "/tariffs/DE/ABC/AC-1")))
    assert put.body["elements"] == TARIFF["elements"]
    _, _, answer = await emsp.call("GET", app.settings.ocpi.public_url
                                   + "/ocpi/2.2.1/locations/berlin-hub", schema="Location")
    assert answer["data"]["evses"][0]["connectors"][0]["tariff_ids"] == ["AC-1"]
    changed = {**TARIFF, "elements": [{"price_components": [
        {"type": "ENERGY", "price": 0.45, "vat": 19.0, "step_size": 1}]}]}
    assert await put_tariffs(app.pool, app.events, [changed]) == 1
    assert await put_tariffs(app.pool, app.events, [changed]) == 0  # unchanged: no new version
    await eventually(lambda: _async(len(emsp.of("PUT", "/tariffs/DE/ABC/AC-1")) == 2))
    status, _, answer = await emsp.call(
        "GET", app.settings.ocpi.public_url + "/ocpi/2.2.1/tariffs", schema="Tariff")
    assert [t["elements"][0]["price_components"][0]["price"] for t in answer["data"]] == [0.45]
    await delete_tariff(app.pool, app.events, "AC-1")
    await eventually(lambda: _async(emsp.of("DELETE", "/tariffs/DE/ABC/AC-1")))
    status, _, answer = await emsp.call("GET", app.settings.ocpi.public_url + "/ocpi/2.2.1/tariffs")
    assert answer["data"] == []
    assert emsp.invalid == [] and emsp.bad_answers == []


async def test_bad_token_pushes_change_nothing(make_app: AppFactory, emsp: SimulatedEmsp) -> None:
    app = await setup(make_app, emsp)
    url = f"{emsp.cpo_endpoint('tokens')}/NL/EMS/AABB0055"
    token = emsp.token("AABB0055")
    cases: list[tuple[dict[str, Any], Any, int, int]] = [
        ({}, {k: v for k, v in token.items() if k != "issuer"}, 400, 2001),   # incomplete
        ({}, {**token, "uid": "OTHER"}, 400, 2001),                           # body vs URL
        ({"OCPI-from-party-id": "XXX"}, token, 400, 2001),                    # header vs URL
    ]
    for headers, body, http, code in cases:
        status, _, answer = await emsp.call("PUT", url, body, headers=headers)
        assert (status, answer["status_code"]) == (http, code), answer
    status, _, answer = await emsp.call("PUT", url.replace("/NL/EMS/", "/DE/ABC/"),
                                        {**token, "country_code": "DE", "party_id": "ABC"})
    assert (status, answer["status_code"]) == (400, 2001)  # not a party of the caller's
    for raw in (b"{", b"[" * 100_000 + b"]" * 100_000):  # not JSON; nested past any parser's depth
        status, _, answer = await emsp.call("PUT", url, raw=raw,
                                            headers={"Content-Type": "application/json"})
        assert (status, answer["status_code"]) == (400, 2001)
    status, _, _ = await emsp.call("PUT", url, token, token="wrong")
    assert status == 401
    assert await store.get_token(app.pool, "AABB0055") is None  # no side effect
    status, _, answer = await emsp.call("GET", url)
    assert (status, answer["status_code"]) == (404, 2004)

    assert (await emsp.push_token(token))[0] == 200
    status, _, answer = await emsp.call("PATCH", url, {"valid": False, "last_updated": token["last_updated"]})
    assert (status, answer["status_code"]) == (200, 1000)
    status, _, answer = await emsp.call("GET", url, schema="Token")
    assert answer["data"]["valid"] is False
    stored = await store.get_token(app.pool, "AABB0055")
    assert stored is not None and stored["status"] == "invalid"


async def test_hubject_and_an_emsp_side_by_side(make_app: AppFactory, emsp: SimulatedEmsp,
                                                hubject: SimulatedHubject, sims: SimFactory) -> None:
    """A card no Hubject EMP knows may still be an OCPI eMSP's; a card Hubject knows goes there."""
    app = await make_app(ocpi=ocpi_settings(), oicp=oicp_settings(hubject))
    assert app.ocpi is not None
    await app.ocpi.registrar.register_with(emsp.versions_url, emsp.token_a, "sim", parties=parties_of(emsp))
    await register(app.pool, "CP1", None, {1: "DE*ABC*E0001*1"}, events=app.events, security_profile=0)
    emsp.token("AABB0066")
    hubject.known_cards["04A1B2C3D4E5F6"] = "DE-8EO"
    sim = sims(app)
    await sim.start()
    assert await sim.authorize("AABB0066") == "Accepted"
    assert [r.body["Identification"]["RFIDMifareFamilyIdentification"]["UID"]
            for r in hubject.received if r.operation.startswith("eRoamingAuthorizeStart")] == ["AABB0066"]
    assert await sim.authorize("04A1B2C3D4E5F6") == "Accepted"
    assert not [r for r in emsp.received if "04A1B2C3D4E5F6" in r.path]
    assert await sim.authorize("0BADCAFE") == "Invalid"  # nobody's


async def test_reserve_cancel_and_unlock_commands(make_app: AppFactory, emsp: SimulatedEmsp,
                                                  sims: SimFactory) -> None:
    app = await setup(make_app, emsp)
    sim = sims(app)
    await sim.start()
    token = emsp.token("EEFF0077")
    expiry = (datetime.now(UTC) + timedelta(minutes=15)).strftime("%Y-%m-%dT%H:%M:%SZ")
    reserve_id, answer = await emsp.command("RESERVE_NOW", {
        "token": token, "expiry_date": expiry, "reservation_id": "R-1",
        "location_id": "berlin-hub", "evse_uid": "CP1-1"})
    assert answer["data"]["result"] == "ACCEPTED"
    assert (await eventually(lambda: _async(emsp.result(reserve_id)))) == {"result": "ACCEPTED"}
    assert [held[1] for held in sim.reservations.values()] == ["EEFF0077"]

    cancel_id, answer = await emsp.command("CANCEL_RESERVATION", {"reservation_id": "R-1"})
    assert answer["data"]["result"] == "ACCEPTED"
    assert (await eventually(lambda: _async(emsp.result(cancel_id)))) == {"result": "ACCEPTED"}
    assert sim.reservations == {}
    _, answer = await emsp.command("CANCEL_RESERVATION", {"reservation_id": "R-1"})
    assert answer["data"]["result"] == "REJECTED"  # over already

    unlock_id, answer = await emsp.command("UNLOCK_CONNECTOR", {
        "location_id": "berlin-hub", "evse_uid": "CP1-1", "connector_id": "1"})
    assert answer["data"]["result"] == "ACCEPTED"
    assert (await eventually(lambda: _async(emsp.result(unlock_id)))) == {"result": "ACCEPTED"}
    await sim.wait_for_call("UnlockConnector")

    await sim.stop()  # a charger that is gone: accepted by us, failed at the charger

    async def gone() -> bool:
        charger = await store.get_charge_point(app.pool, "CP1")
        return charger is not None and not charger["connected"]
    await eventually(gone)
    start_id, answer = await emsp.command("START_SESSION", {
        "token": token, "location_id": "berlin-hub", "evse_uid": "CP1-1"})
    assert answer["data"]["result"] == "ACCEPTED"
    result = await eventually(lambda: _async(emsp.result(start_id)))
    assert result["result"] == "EVSE_INOPERATIVE"
    assert emsp.invalid == [] and emsp.bad_answers == []


async def test_whitelist_types(make_app: AppFactory, emsp: SimulatedEmsp,
                               sims: SimFactory) -> None:
    app = await setup(make_app, emsp)
    sim = sims(app)
    await sim.start()

    def asked(uid: str) -> int:
        return len([r for r in emsp.received if r.path == f"/tokens/{uid}/authorize"])

    await emsp.push_token(emsp.token("A0000001", "ALWAYS"))
    await emsp.push_token(emsp.token("A0000002", "ALLOWED"))
    await emsp.push_token(emsp.token("A0000003", "NEVER"))
    await emsp.push_token(emsp.token("A0000004", "ALWAYS", valid=False))
    assert await sim.authorize("A0000001") == "Accepted" and asked("A0000001") == 0
    assert await sim.authorize("A0000002") == "Accepted" and asked("A0000002") == 1
    assert await sim.authorize("A0000003") == "Accepted" and asked("A0000003") == 1
    assert await sim.authorize("A0000004") == "Invalid" and asked("A0000004") == 0
    emsp.down = True  # the eMSP cannot be asked: ALLOWED falls back to its pushed copy, NEVER not
    assert await sim.authorize("A0000002") == "Accepted"
    assert await sim.authorize("A0000003") == "Invalid"


async def test_unlock_only_by_the_sessions_own_emsp(make_app: AppFactory, emsp: SimulatedEmsp) -> None:
    app = await setup(make_app, emsp)
    assert app.ocpi is not None
    other = SimulatedEmsp("NL", "OTH")
    await other.start()
    await app.ocpi.registrar.register_with(other.versions_url, other.token_a, "other",
                                           parties=parties_of(other))
    sim = ChargePoint16(SimConfig("CP1", ws_url(app), meter_interval=0.2))  # 1.6: unlock ends it
    await sim.start()
    unlock = {"location_id": "berlin-hub", "evse_uid": "CP1-1", "connector_id": "1"}
    try:
        # The other eMSP's driver charges: our eMSP may not unlock, nothing reaches the charger.
        start_id, answer = await other.command("START_SESSION", {
            "token": other.token("0THE0001"), "location_id": "berlin-hub", "evse_uid": "CP1-1"})
        assert answer["data"]["result"] == "ACCEPTED"
        assert (await eventually(lambda: _async(other.result(start_id)))) == {"result": "ACCEPTED"}
        [active] = await eventually(lambda: store.list_sessions(app.pool, "active", None, None, 10, 0))
        _, answer = await emsp.command("UNLOCK_CONNECTOR", unlock)
        assert answer["data"] == {"result": "REJECTED", "timeout": 0}
        assert [name for name, _ in sim.calls if name == "UnlockConnector"] == []
        assert 1 in sim.transactions
        assert (await store.get_session(app.pool, str(active["id"])) or {}).get("status") == "active"

        # Its own eMSP may.
        unlock_id, answer = await other.command("UNLOCK_CONNECTOR", unlock)
        assert answer["data"]["result"] == "ACCEPTED"
        assert (await eventually(lambda: _async(other.result(unlock_id)))) == {"result": "ACCEPTED"}
        await sim.wait_for_call("UnlockConnector")

        # An idle EVSE: any eMSP may (a stuck connector after a session).
        await sim.stop_local_session(1)
        await eventually(lambda: _no_active(app))
        unlock_id, answer = await emsp.command("UNLOCK_CONNECTOR", unlock)
        assert answer["data"]["result"] == "ACCEPTED"
        assert (await eventually(lambda: _async(emsp.result(unlock_id)))) == {"result": "ACCEPTED"}
        await sim.wait_for_call("UnlockConnector")
    finally:
        await sim.stop()
        await other.stop()


async def _no_active(app: App) -> bool:
    return not await store.list_sessions(app.pool, "active", None, None, 10, 0)


async def test_start_session_refused_for_a_token_we_hold_as_blocked(
        make_app: AppFactory, emsp: SimulatedEmsp) -> None:
    app = await setup(make_app, emsp)
    await store.upsert_token(app.pool, "BLOCKED1", status="blocked")  # a card of ours
    sim = ChargePoint16(SimConfig("CP1", ws_url(app), meter_interval=0.2))
    await sim.start()
    target = {"location_id": "berlin-hub", "evse_uid": "CP1-1"}
    try:
        result_id, answer = await emsp.command("START_SESSION", {
            "token": emsp.token("BLOCKED1"), **target})
        assert answer["data"] == {"result": "REJECTED", "timeout": 0}
        assert [name for name, _ in sim.calls if name == "RemoteStartTransaction"] == []
        assert await store.list_sessions(app.pool, None, None, None, 10, 0) == []

        # The eMSP's own token, even pushed as not valid, is its own to vouch for (OCPI 2.2.1
        # StartSession: the CPO SHALL NOT check the validity of the Token).
        await emsp.push_token(emsp.token("0WN00001", valid=False))
        result_id, answer = await emsp.command("START_SESSION", {
            "token": emsp.tokens["0WN00001"], **target})
        assert answer["data"]["result"] == "ACCEPTED"
        assert (await eventually(lambda: _async(emsp.result(result_id)))) == {"result": "ACCEPTED"}
        assert (await sim.wait_for_call("RemoteStartTransaction"))["idTag"] == "0WN00001"
    finally:
        await sim.stop()
    assert emsp.invalid == [] and emsp.bad_answers == []


async def test_reserve_now_for_a_token_we_hold_as_blocked(
        make_app: AppFactory, emsp: SimulatedEmsp) -> None:
    app = await setup(make_app, emsp)
    await store.upsert_token(app.pool, "BLOCKED1", status="blocked")  # a card of ours
    sim = ChargePoint16(SimConfig("CP1", ws_url(app), meter_interval=0.2))
    await sim.start()
    expiry = (datetime.now(UTC) + timedelta(minutes=15)).strftime("%Y-%m-%dT%H:%M:%SZ")
    try:
        for target in ({"evse_uid": "CP1-1"}, {}):  # one EVSE, any EVSE of the Location
            _, answer = await emsp.command("RESERVE_NOW", {
                "token": emsp.token("BLOCKED1"), "expiry_date": expiry, "reservation_id": "R-B",
                "location_id": "berlin-hub", **target})
            assert answer["data"] == {"result": "REJECTED", "timeout": 0}
        assert [name for name, _ in sim.calls if name == "ReserveNow"] == []
        assert await app.pool.fetchval("SELECT count(*) FROM reservations") == 0

        # The eMSP's own token, even pushed as not valid, is its own to vouch for (OCPI 2.2.1
        # ReserveNow: the CPO SHALL NOT check the validity of the Token).
        await emsp.push_token(emsp.token("0WN00001", valid=False))
        result_id, answer = await emsp.command("RESERVE_NOW", {
            "token": emsp.tokens["0WN00001"], "expiry_date": expiry, "reservation_id": "R-O",
            "location_id": "berlin-hub", "evse_uid": "CP1-1"})
        assert answer["data"]["result"] == "ACCEPTED"
        assert (await eventually(lambda: _async(emsp.result(result_id)))) == {"result": "ACCEPTED"}
        assert (await sim.wait_for_call("ReserveNow"))["idTag"] == "0WN00001"
    finally:
        await sim.stop()
    assert emsp.invalid == [] and emsp.bad_answers == []


async def test_reserve_now_any_evse_of_the_location(make_app: AppFactory, emsp: SimulatedEmsp,
                                                    sims: SimFactory) -> None:
    """No evse_uid: the first charger of the Location, by id, connected and with an EVSE free."""
    app = await setup(make_app, emsp)
    await register(app.pool, "CP2", None, {1: "DE*ABC*E0002*1"}, events=app.events,
                   security_profile=0)
    site = demo_site()
    await assign_sites(app.pool, app.events, [replace(site, charge_points=("CP1", "CP2"),
                                                      evse=replace(site.evse, tariff="AC-1"),
                                                      evses={})])
    await store.upsert_token(app.pool, "LOCAL001")
    first, second = sims(app, "CP1"), sims(app, "CP2")
    await first.start()
    await second.start()
    await first.start_local_session(1, "LOCAL001")  # CP1's only EVSE is taken
    await eventually(lambda: store.active_session_at(app.pool, "CP1", 1))
    token = emsp.token("EEFF0088")
    expiry = (datetime.now(UTC) + timedelta(minutes=15)).strftime("%Y-%m-%dT%H:%M:%SZ")
    reserve = {"token": token, "expiry_date": expiry, "location_id": "berlin-hub"}

    reserve_id, answer = await emsp.command("RESERVE_NOW", {**reserve, "reservation_id": "R-A"})
    assert answer["data"] == {"result": "ACCEPTED", "timeout": 30}
    assert (await eventually(lambda: _async(emsp.result(reserve_id)))) == {"result": "ACCEPTED"}
    assert [held[1] for held in second.reservations.values()] == ["EEFF0088"]
    assert first.reservations == {}
    [reservation_id] = second.reservations
    row = await store.get_reservation(app.pool, reservation_id)
    assert row is not None and (row["charge_point_id"], row["evse"], row["status"]) == (
        "CP2", None, "active")

    # Used as usual: the driver's session on CP2 takes it up.
    await second.start_local_session(1, "EEFF0088")
    await eventually(lambda: store.active_session_at(app.pool, "CP2", 1))

    async def used() -> bool:
        found = await store.get_reservation(app.pool, reservation_id)
        return found is not None and found["status"] == "used"
    await eventually(used)

    # Nothing left to hold, or a Location not ours: refused at once.
    for location in ("berlin-hub", "elsewhere"):
        _, answer = await emsp.command("RESERVE_NOW", {**reserve, "reservation_id": "R-B",
                                                       "location_id": location})
        assert answer["data"] == {"result": "REJECTED", "timeout": 0}
    assert emsp.invalid == [] and emsp.bad_answers == []


async def test_reserve_now_any_evse_passes_over_a_charger_not_connected(
        make_app: AppFactory, emsp: SimulatedEmsp) -> None:
    app = await setup(make_app, emsp)
    await register(app.pool, "CP2", None, {1: "DE*ABC*E0002*1"}, events=app.events,
                   security_profile=0)
    site = demo_site()
    await assign_sites(app.pool, app.events, [replace(site, charge_points=("CP1", "CP2"), evses={})])
    sim = ChargePoint16(SimConfig("CP2", ws_url(app), meter_interval=0.2))  # CP1 never connects
    await sim.start()
    expiry = (datetime.now(UTC) + timedelta(minutes=15)).strftime("%Y-%m-%dT%H:%M:%SZ")
    try:
        reserve_id, answer = await emsp.command("RESERVE_NOW", {
            "token": emsp.token("EEFF0099"), "expiry_date": expiry, "reservation_id": "R-C",
            "location_id": "berlin-hub"})
        assert answer["data"]["result"] == "ACCEPTED"
        assert (await eventually(lambda: _async(emsp.result(reserve_id)))) == {"result": "ACCEPTED"}
        assert (await sim.wait_for_call("ReserveNow"))["connectorId"] == 0
    finally:
        await sim.stop()
    assert emsp.invalid == [] and emsp.bad_answers == []
