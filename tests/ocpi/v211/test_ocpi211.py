"""OCPI 2.1.1 partners end to end: version negotiation, and a 2.1.1 eMSP stand-in that checks every
body against the 2.1.1 text while a simulated charger charges its drivers."""

from __future__ import annotations

import argparse
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bridge.ocpi import cli, transport
from bridge.ocpi.handshake import partners
from csms.app import App
from csms.domain.billing.tariffs import put_tariffs
from csms.domain.charge_points import assign_sites, register
from csms.storage import store
from simulators.partners.emsp import SimulatedEmsp
from simulators.partners.emsp211 import SimulatedEmsp211, problems
from tests.conftest import AppFactory, SimFactory
from tests.oicp.test_oicp_evse_data import demo_site
from tests.oicp.test_oicp_roaming import _async
from tests.support import Api, eventually, issue_token, ocpi_pushes_queued, ocpi_settings, parties_of

TARIFF = {"id": "AC-1", "currency": "EUR", "elements": [{"price_components": [
    {"type": "ENERGY", "price": 0.40, "vat": 19.0, "step_size": 1}]}]}


@pytest.fixture
async def emsp211() -> AsyncIterator[SimulatedEmsp211]:
    stand_in = SimulatedEmsp211()
    await stand_in.start()
    yield stand_in
    await stand_in.stop()


def base(app: App, version: str = "2.1.1") -> str:
    return f"{app.settings.ocpi.public_url}/ocpi/{version}"


async def registered(make_app: AppFactory, emsp: SimulatedEmsp) -> App:
    app = await make_app(ocpi=ocpi_settings())
    assert app.ocpi is not None
    await app.ocpi.registrar.register_with(emsp.versions_url, emsp.token_a, "sim",
                                           parties=parties_of(emsp))
    await ocpi_pushes_queued(app)
    return app


async def test_we_register_in_2_1_1_with_a_2_1_1_only_emsp(
        make_app: AppFactory, emsp211: SimulatedEmsp211,
        capsys: pytest.CaptureFixture[str]) -> None:
    app = await registered(make_app, emsp211)
    assert app.ocpi is not None
    [partner] = await partners.all_registered(app.pool)
    assert partner.version == "2.1.1" and partner.emsp_party() == ("NL", "EMS")
    assert partner.their_token == emsp211.our_token
    # Its endpoints name no role: kept with the role an eMSP's module plays for us.
    assert partner.endpoint("locations", "RECEIVER") == f"{emsp211.url}/ocpi/2.1.1/locations"
    assert partner.endpoint("tokens", "SENDER") == f"{emsp211.url}/ocpi/2.1.1/tokens"
    # Our 2.1.1 Credentials (flat) were valid, and it could call us back with its token as is.
    assert emsp211.callback_seen_token == emsp211.cpo_token is not None
    assert emsp211.invalid == []
    # Not knowing its version yet, we tried 2.2.1's base64 token on its versions only.
    assert [r.path for r in emsp211.encoded_tries] == ["/versions"]
    # It reaches our 2.1.1 modules, not 2.2.1's.
    status, _, answer = await emsp211.call("GET", base(app) + "/credentials")
    assert status == 200 and problems("Credentials", answer["data"]) == []
    assert (await emsp211.call("GET", base(app, "2.2.1") + "/locations"))[0] == 404
    assert (await emsp211.call("GET", base(app) + "/locations"))[0] == 200
    assert emsp211.bad_answers == []
    # The operator sees which version each partner speaks.
    await cli.command(app.ocpi, argparse.Namespace(what="partners", as_json=True))
    [shown] = json.loads(capsys.readouterr().out)
    assert shown["version"] == "2.1.1"


async def test_an_emsp_speaking_both_gets_2_2_1(make_app: AppFactory, emsp: SimulatedEmsp,
                                                emsp211: SimulatedEmsp211) -> None:
    emsp.also_offers = [{"version": "2.1.1", "url": f"{emsp211.url}/ocpi/2.1.1"}]
    app = await registered(make_app, emsp)
    [partner] = await partners.all_registered(app.pool)
    assert partner.version == "2.2.1"
    assert emsp211.received == []  # its 2.1.1 side was never asked
    assert emsp.invalid == []


async def test_a_2_1_1_emsp_registers_with_us(make_app: AppFactory,
                                              emsp211: SimulatedEmsp211) -> None:
    app = await make_app(ocpi=ocpi_settings())
    token_a = transport.new_token()
    await issue_token(app, token_a, emsp211)
    status, _, versions = await emsp211.call("GET", app.settings.ocpi.public_url + "/ocpi/versions",
                                             token=token_a)
    assert [v["version"] for v in versions["data"]] == ["2.2.1", "2.1.1"]
    answer = await emsp211.register_with(app.settings.ocpi.public_url + "/ocpi/versions", token_a)
    assert answer["status_code"] == 1000, answer
    assert answer["data"] == {"token": emsp211.cpo_token,
                              "url": app.settings.ocpi.public_url + "/ocpi/versions",
                              "business_details": {"name": "ABC Charging"},
                              "party_id": "ABC", "country_code": "DE"}
    [partner] = await partners.all_registered(app.pool)
    assert partner.version == "2.1.1" and partner.emsp_party() == ("NL", "EMS")
    assert emsp211.bad_answers == [] and emsp211.invalid == []
    # 2.1.1's version details name no roles, and no charging profiles module (2.2 brought it).
    _, _, details = await emsp211.call("GET", base(app))
    assert {e["identifier"] for e in details["data"]["endpoints"]} == {
        "credentials", "locations", "sessions", "cdrs", "tariffs", "tokens", "commands"}
    assert all(problems("Endpoint", e) == [] for e in details["data"]["endpoints"])


async def charging_setup(make_app: AppFactory, emsp211: SimulatedEmsp211) -> App:
    """The 2.1.1 eMSP registered; a tariff; CP1 on a site whose EVSE is priced by it."""
    app = await registered(make_app, emsp211)
    await put_tariffs(app.pool, app.events, [TARIFF])
    await register(app.pool, "CP1", None, {1: "DE*ABC*E0001*1"}, events=app.events,
                   security_profile=0)
    site = demo_site()
    await assign_sites(app.pool, app.events, [replace(site, evse=replace(site.evse, tariff="AC-1"),
                                                      evses={})])
    return app


def sessions_received(emsp211: SimulatedEmsp211) -> list[tuple[str, Any]]:
    return [(r.method, r.body) for r in emsp211.received if r.path.startswith("/sessions/")]


async def check_cdr(app: App, emsp211: SimulatedEmsp211) -> dict[str, Any]:
    [cdr] = await eventually(lambda: _async(emsp211.of("POST", "/cdrs")))
    [session] = await store.list_sessions(app.pool, "completed", None, None, 10, 0)
    kwh = (session["meter_stop_wh"] - session["meter_start_wh"]) / 1000
    body = cdr.body
    assert body["id"] == str(session["id"]) and body["total_energy"] == round(kwh, 3) and kwh > 0
    assert body["total_cost"] == round(kwh * 0.40, 4)  # 2.1.1: one number, excluding VAT
    assert body["tariffs"][0]["id"] == "AC-1"
    assert body["location"]["evses"][0]["evse_id"] == "DE*ABC*E0001*1"
    messages = sessions_received(emsp211)
    assert messages[-1][0] == "PATCH" and messages[-1][1]["status"] == "COMPLETED"
    return body


async def test_pushes_and_a_pushed_token_in_2_1_1(make_app: AppFactory,
                                                  emsp211: SimulatedEmsp211,
                                                  sims: SimFactory) -> None:
    app = await charging_setup(make_app, emsp211)
    # Locations and Tariffs arrive in 2.1.1's form (the stand-in refuses any other).
    await eventually(lambda: _async(emsp211.location("berlin-hub")))
    await eventually(lambda: _async(emsp211.of("PUT", "/tariffs/DE/ABC/AC-1")))
    assert "country_code" not in emsp211.location("berlin-hub")  # type: ignore[operator]
    # Its driver's token, pushed in 2.1.1's form, is ours to authorize with.
    token = emsp211.token("AABB0011")
    status, answer = await emsp211.push_token(token)
    assert (status, answer["status_code"]) == (200, 1000), answer
    stored = await store.get_party_token(app.pool, "NL", "EMS", "AABB0011")
    assert stored is not None and stored["attributes"]["ocpi"]["object"]["contract_id"] == \
        token["auth_id"]
    status, answer = await emsp211.get_token("AABB0011")  # and it reads it back as it sent it
    assert answer["data"] == token
    sim = sims(app)
    await sim.start()
    await sim.start_local_session(1, "AABB0011")
    await eventually(lambda: _async(sim.meter_wh[1] > 6000))
    await sim.stop_local_session(1)
    await sim.flush()
    cdr = await check_cdr(app, emsp211)
    assert (cdr["auth_method"], cdr["auth_id"]) == ("WHITELIST", token["auth_id"])
    assert sessions_received(emsp211)[0][1]["status"] == "ACTIVE"
    # What the eMSP pulls is 2.1.1 too.
    for module, name in (("sessions", "Session"), ("cdrs", "CDR"), ("tariffs", "Tariff"),
                         ("locations", "Location")):
        _, _, listed = await emsp211.call("GET", f"{base(app)}/{module}")
        assert listed["data"] and all(problems(name, item) == [] for item in listed["data"])
    assert emsp211.invalid == [] and emsp211.bad_answers == []
    assert not [r for r in emsp211.received if r.errors]
    # 2.1.1 has no credit CDRs (2.2 brought them): a credit is refused, saying so, nothing sent.
    api = Api(f"http://127.0.0.1:{app.api.port}/api/v1")
    try:
        status, answer = await api.request("POST", f"/cdrs/{cdr['id']}/credit", json={})
    finally:
        await api.http.close()
    assert status == 409 and "2.1.1 has no credit CDRs" in str(answer), answer
    assert len(emsp211.of("POST", "/cdrs")) == 1


async def test_commands_in_2_1_1(make_app: AppFactory, emsp211: SimulatedEmsp211,
                                 sims: SimFactory) -> None:
    app = await charging_setup(make_app, emsp211)
    sim = sims(app)
    await sim.start()
    token = emsp211.token("EEFF0033")
    start_id, answer = await emsp211.command("START_SESSION", {
        "token": token, "location_id": "berlin-hub", "evse_uid": "CP1-1"})
    assert answer["data"] == {"result": "ACCEPTED"}  # 2.1.1: no timeout
    assert (await eventually(lambda: _async(emsp211.result(start_id)))) == {"result": "ACCEPTED"}
    await eventually(lambda: _async(sim.meter_wh[1] > 4000))
    [active] = await store.list_sessions(app.pool, "active", None, None, 10, 0)
    assert active["attributes"]["ocpi"]["token"]["country_code"] == "NL"  # the sender's party
    stop_id, answer = await emsp211.command("STOP_SESSION", {"session_id": str(active["id"])})
    assert answer["data"] == {"result": "ACCEPTED"}
    assert (await eventually(lambda: _async(emsp211.result(stop_id)))) == {"result": "ACCEPTED"}
    await sim.flush()
    cdr = await check_cdr(app, emsp211)
    # 2.1.1 has no COMMAND auth method: a remote start was authorized by the eMSP's request.
    assert (cdr["auth_method"], cdr["auth_id"]) == ("AUTH_REQUEST", token["auth_id"])
    # A command 2.1.1 does not have, and a session we do not know.
    _, answer = await emsp211.command("CANCEL_RESERVATION", {"reservation_id": 1})
    assert answer["data"] == {"result": "NOT_SUPPORTED"}
    _, answer = await emsp211.command("STOP_SESSION", {"session_id": "nope"})
    assert answer["data"] == {"result": "UNKNOWN_SESSION"}
    assert emsp211.invalid == [] and emsp211.bad_answers == []


async def test_real_time_authorization_in_2_1_1(make_app: AppFactory, emsp211: SimulatedEmsp211,
                                                sims: SimFactory) -> None:
    app = await charging_setup(make_app, emsp211)
    emsp211.token("CCDD0022")  # known to the eMSP, never pushed
    sim = sims(app)
    await sim.start()
    assert await sim.authorize("UNKNOWN1") == "Invalid"
    # Its AuthorizationInfo names no token (2.1.1): the one asked about, of its party, is taken.
    await sim.start_local_session(1, "CCDD0022")
    await eventually(lambda: _async(sim.meter_wh[1] > 4000))
    await sim.stop_local_session(1)
    await sim.flush()
    cdr = await check_cdr(app, emsp211)
    assert (cdr["auth_method"], cdr["auth_id"]) == ("AUTH_REQUEST", "CCDD0022")
    asked = [r for r in emsp211.received if r.path.endswith("/authorize")]
    assert asked and asked[0].body == {"location_id": "berlin-hub", "evse_uids": ["CP1-1"]}
    emsp211.allowed = "BLOCKED"
    assert await sim.authorize("CCDD0022") == "Blocked"
    assert emsp211.invalid == []


async def test_bad_2_1_1_requests(make_app: AppFactory, emsp211: SimulatedEmsp211) -> None:
    """Refused with a 4xx and the reason, and nothing stored or done."""
    app = await charging_setup(make_app, emsp211)
    tokens_url = f"{base(app)}/tokens/NL/EMS"
    token = emsp211.token("AABB0011")
    for body, why in (([], "Token object"), ({**token, "type": "APP_USER"}, "RFID or OTHER"),
                      ({k: v for k, v in token.items() if k != "auth_id"}, "auth_id"),
                      ({**token, "uid": "other"}, "match the URL")):
        status, _, answer = await emsp211.call("PUT", f"{tokens_url}/AABB0011", body)
        assert (status, answer["status_code"]) == (400, 2001) and why in answer["status_message"]
    status, _, answer = await emsp211.call("PATCH", f"{tokens_url}/AABB0011", {"valid": False})
    assert (status, answer["status_code"]) == (404, 2004)
    status, _, answer = await emsp211.call("PUT", f"{base(app)}/tokens/DE/ABC/X1", token)
    assert status == 400 and "not a party of yours" in answer["status_message"]
    assert await store.get_party_token(app.pool, "NL", "EMS", "AABB0011") is None
    commands_url = f"{base(app)}/commands"
    response_url = f"{emsp211.url}/ocpi/2.1.1/commands/result/x"
    for body, why in (([1], "command object"),
                      ({"response_url": response_url, "token": {"uid": "1", "type": "RFID"},
                        "location_id": "berlin-hub", "evse_uid": "CP1-1"}, "auth_id")):
        status, _, answer = await emsp211.call("POST", f"{commands_url}/START_SESSION", body)
        assert (status, answer["status_code"]) == (400, 2001) and why in answer["status_message"]
    assert await store.list_sessions(app.pool, None, None, None, 10, 0) == []
    # No charging profiles in 2.1.1.
    status, _, _ = await emsp211.call("PUT", f"{base(app)}/chargingprofiles/x", {})
    assert status == 404


async def test_a_put_on_the_2_1_1_credentials_switches_version(
        make_app: AppFactory, emsp: SimulatedEmsp, emsp211: SimulatedEmsp211) -> None:
    """credentials 1.3: a PUT switches to the version of the credentials endpoint it is sent to;
    the partner then gets every Location and Tariff again, in that version's form."""
    app = await make_app(ocpi=ocpi_settings())
    token_a = transport.new_token()
    await issue_token(app, token_a, emsp)
    assert (await emsp.register_with(app.settings.ocpi.public_url + "/ocpi/versions",
                                     token_a))["status_code"] == 1000
    [partner] = await partners.all_registered(app.pool)
    assert partner.version == "2.2.1"
    await ocpi_pushes_queued(app)
    emsp.down = True  # the Tariff's 2.2.1 PUT stays queued (retried) until the switch
    await put_tariffs(app.pool, app.events, [TARIFF])
    await eventually(lambda: _async(emsp.refused))
    # The same eMSP, moved to 2.1.1 (served here by the 2.1.1 stand-in, with a token it knows).
    emsp211.our_token = "moved-" + transport.new_token()[:20]
    status, _, answer = await emsp.call("PUT", base(app) + "/credentials",
                                        emsp211._credentials(emsp211.our_token))
    assert (status, answer["status_code"]) == (200, 1000), answer
    assert problems("Credentials", answer["data"]) == []
    [partner] = await partners.all_registered(app.pool)
    assert partner.version == "2.1.1" and partner.their_token == emsp211.our_token
    [tariff] = await eventually(lambda: _async(emsp211.of("PUT", "/tariffs/DE/ABC/AC-1")))
    assert problems("Tariff", tariff.body) == [] and emsp211.invalid == []
    # The queued 2.2.1 PUT was dropped, not delivered to the 2.1.1 endpoints.
    assert [r.path for r in emsp211.received if r.path.startswith("/tariffs")] == [tariff.path]
    # Its new token reaches 2.1.1's modules now, not 2.2.1's.
    emsp.cpo_token = answer["data"]["token"]
    assert (await emsp.call("GET", base(app, "2.2.1") + "/tariffs"))[0] == 404
    assert (await emsp.call("GET", base(app) + "/tariffs"))[0] == 200


async def test_reserve_unlock_and_an_offline_charger_in_2_1_1(
        make_app: AppFactory, emsp211: SimulatedEmsp211, sims: SimFactory) -> None:
    app = await charging_setup(make_app, emsp211)
    sim = sims(app)
    await sim.start()
    token = emsp211.token("EEFF0077")
    expiry = (datetime.now(UTC) + timedelta(minutes=15)).strftime("%Y-%m-%dT%H:%M:%SZ")
    reserve_id, answer = await emsp211.command("RESERVE_NOW", {
        "token": token, "expiry_date": expiry, "reservation_id": 1,
        "location_id": "berlin-hub", "evse_uid": "CP1-1"})
    assert answer["data"] == {"result": "ACCEPTED"}
    assert (await eventually(lambda: _async(emsp211.result(reserve_id)))) == {"result": "ACCEPTED"}
    assert [held[1] for held in sim.reservations.values()] == ["EEFF0077"]
    # The reservation's session: 2.1.1 has no RESERVATION, so PENDING (a valid 2.1.1 Session).
    [(method, session)] = await eventually(lambda: _async(sessions_received(emsp211)))
    assert (method, session["status"]) == ("PUT", "PENDING")

    unlock_id, answer = await emsp211.command("UNLOCK_CONNECTOR", {
        "location_id": "berlin-hub", "evse_uid": "CP1-1", "connector_id": "1"})
    assert answer["data"] == {"result": "ACCEPTED"}
    assert (await eventually(lambda: _async(emsp211.result(unlock_id)))) == {"result": "ACCEPTED"}

    await sim.stop()  # gone: accepted by us, then the charger cannot be reached

    async def gone() -> bool:
        charger = await store.get_charge_point(app.pool, "CP1")
        return charger is not None and not charger["connected"]
    await eventually(gone)
    start_id, answer = await emsp211.command("START_SESSION", {
        "token": token, "location_id": "berlin-hub", "evse_uid": "CP1-1"})
    assert answer["data"] == {"result": "ACCEPTED"}
    # 2.2.1 would say EVSE_INOPERATIVE; 2.1.1 has only REJECTED for it.
    assert (await eventually(lambda: _async(emsp211.result(start_id)))) == {"result": "REJECTED"}
    assert emsp211.invalid == [] and emsp211.bad_answers == []


NASTY: list[Any] = [None, [], "x", 1, 1.5, True, {}, {"uid": None}, {"token": []},
                    {"token": {"uid": 1, "type": "RFID", "auth_id": None}}, {"session_id": 7},
                    {"location_id": "berlin-hub", "evse_uid": "CP1-1", "connector_id": []},
                    {"valid": "no", "whitelist": 3}, {"expiry_date": "tomorrow",
                                                      "reservation_id": "x"},
                    {"token": "t" * 65, "url": "http://x", "party_id": "E", "country_code": 1},
                    {"\u0000": "\ud800"}]


async def test_2_1_1_endpoints_never_fail_on_odd_bodies(make_app: AppFactory,
                                                        emsp211: SimulatedEmsp211) -> None:
    """Whatever the body, a 2.1.1 partner gets a 4xx or a 2.1.1 answer with a reason: never a 500."""
    app = await charging_setup(make_app, emsp211)
    targets = [("PUT", f"{base(app)}/tokens/NL/EMS/AA01"), ("PATCH", f"{base(app)}/tokens/NL/EMS/AA01"),
               ("PUT", f"{base(app)}/credentials"),
               *[("POST", f"{base(app)}/commands/{name}") for name in (
                   "START_SESSION", "STOP_SESSION", "RESERVE_NOW", "UNLOCK_CONNECTOR", "OTHER")]]
    for method, url in targets:
        for body in NASTY:
            status, _, answer = await emsp211.call(method, url, raw=json.dumps(body).encode(),
                                                   headers={"Content-Type": "application/json"})
            assert status < 500 and isinstance(answer, dict), (method, url, body, status)
            assert answer["status_code"] in (1000, 2000, 2001, 2004, 3001) or (
                method == "PUT" and url.endswith("credentials")), (method, url, body, answer)
    for query in ("limit=-1", "offset=x", "date_from=yesterday"):
        status, _, answer = await emsp211.call("GET", f"{base(app)}/sessions?{query}")
        assert (status, answer["status_code"]) == (400, 2001)
    [partner] = await partners.all_registered(app.pool)
    assert partner.version == "2.1.1"  # still registered as it was
    assert await store.list_sessions(app.pool, None, None, None, 10, 0) == []


async def test_a_tariff_2_1_1_cannot_say_is_left_out_of_its_list_and_count(
        make_app: AppFactory, emsp211: SimulatedEmsp211) -> None:
    """An element restricted by current cannot be said in 2.1.1 (mod_tariffs 4.5): a tariff of
    only such elements is not listed, nor counted in X-Total-Count."""
    app = await registered(make_app, emsp211)
    by_current = {"id": "DC-MAX", "currency": "EUR", "elements": [{
        "price_components": [{"type": "ENERGY", "price": 0.60, "step_size": 1}],
        "restrictions": {"max_current": 32.0}}]}
    await put_tariffs(app.pool, app.events, [TARIFF, by_current])
    _, headers, listed = await emsp211.call("GET", f"{base(app)}/tariffs")
    assert [tariff["id"] for tariff in listed["data"]] == ["AC-1"]
    assert headers["X-Total-Count"] == "1"
