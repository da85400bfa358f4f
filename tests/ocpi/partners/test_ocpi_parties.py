"""OCPI partners confined to the parties the operator bound them to; tokens keyed by party."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from bridge.ocpi.handshake import partners
from bridge.ocpi.handshake.credentials import CredentialsError, our_party
from bridge.ocpi.handshake.partners import Party, PartyError
from bridge.ocpi.transport import new_token
from csms.app import App
from csms.domain.model import AuthorizationStatus
from csms.storage import store
from simulators.partners.emsp import SimulatedEmsp
from tests.conftest import AppFactory, SimFactory
from tests.ocpi.partners.test_ocpi_late_partner import csms
from tests.ocpi.test_ocpi_sessions import setup
from tests.oicp.test_oicp_roaming import _async
from tests.support import eventually, issue_token, ocpi_pulls_done, ocpi_settings, parties_of


@pytest.fixture
async def other() -> AsyncIterator[SimulatedEmsp]:
    """A second eMSP, BE*OTH."""
    stand_in = SimulatedEmsp("BE", "OTH")
    await stand_in.start()
    yield stand_in
    await stand_in.stop()


def credentials_url(app: App) -> str:
    return app.settings.ocpi.public_url + "/ocpi/2.2.1/credentials"


def role(country_code: str, party_id: str, kind: str = "EMSP") -> dict[str, Any]:
    return {"role": kind, "country_code": country_code, "party_id": party_id,
            "business_details": {"name": "Simulated eMSP"}}


async def registered(app: App, emsp: SimulatedEmsp) -> int:
    """The eMSP registers with us using a Token A issued for its own party."""
    token_a = new_token()
    partner_id = await issue_token(app, token_a, emsp, name=emsp.party_id)
    answer = await emsp.register_with(f"{app.settings.ocpi.public_url}/ocpi/versions", token_a)
    assert answer["status_code"] == 1000, answer
    await ocpi_pulls_done(app)  # its token list's first pull: what it pushes next is not overtaken
    return partner_id


async def test_credentials_claiming_another_party_are_refused(make_app: AppFactory,
                                                              emsp: SimulatedEmsp,
                                                              other: SimulatedEmsp) -> None:
    app = await make_app(ocpi=ocpi_settings())
    await registered(app, emsp)  # the real NL*EMS
    token_a = new_token()
    ours = our_party(app.settings.ocpi)
    squatter = await partners.issue_token_a(app.pool, token_a, "squatter", "base64",
                                            [Party("BE", "OTH")], ours)
    # Its credentials claim the real eMSP's party, ours, one it was not issued for, or one more.
    for roles in ([role("NL", "EMS")], [role("DE", "ABC", "CPO")], [role("BE", "XYZ")],
                  [role("BE", "OTH"), role("nl", "ems")]):
        # Each refusal spends one of the Token A's tries (test_ocpi_ssrf): given back here, so
        # that one Token A tries every claim.
        await app.pool.execute("UPDATE ocpi_partners SET token_a_tries = 0 WHERE id = $1", squatter)
        body = {**other._credentials(other.token_a), "roles": roles}  # a token it would take
        status, _, answer = await other.call("POST", credentials_url(app), body, token=token_a)
        assert (status, answer["status_code"]) == (400, 2001), (roles, answer)
    assert other.received == []  # refused before we called it
    pending = await partners.get(app.pool, squatter)
    assert pending is not None and pending.status == "pending"  # not registered
    await app.pool.execute("UPDATE ocpi_partners SET token_a_tries = 0 WHERE id = $1", squatter)
    # The Token A still registers the party it was issued for (in any case: CiString).
    other.country_code, other.party_id = "be", "oth"
    assert (await other.register_with(f"{app.settings.ocpi.public_url}/ocpi/versions",
                                      token_a))["status_code"] == 1000
    other.country_code, other.party_id = "BE", "OTH"
    # A rotation cannot add a party either.
    body = {**other._credentials("rotated-t0k3n"), "roles": [role("BE", "OTH"), role("NL", "EMS")]}
    status, _, answer = await other.call("PUT", credentials_url(app), body)
    assert (status, answer["status_code"]) == (400, 2001)
    partner = await partners.get(app.pool, squatter)
    assert partner is not None and partner.their_token == other.our_token
    assert [(r["country_code"], r["party_id"]) for r in partner.roles] == [("be", "oth")]
    # The operator cannot bind a party twice, nor ours.
    for party in (Party("NL", "EMS"), Party("DE", "ABC")):
        with pytest.raises(PartyError):
            await partners.issue_token_a(app.pool, new_token(), "x", "base64", [party], ours)
    assert len(await partners.every(app.pool)) == 2
    assert emsp.bad_answers == [] and other.bad_answers == []


async def test_a_foreign_party_changes_nothing(make_app: AppFactory, emsp: SimulatedEmsp,
                                               other: SimulatedEmsp) -> None:
    app = await setup(make_app, emsp)
    other_id = await registered(app, other)
    # As a partner registered before parties were bound, when roles were taken as sent.
    await app.pool.execute("UPDATE ocpi_partners SET roles = roles || $2::jsonb WHERE id = $1",
                           other_id, [role("NL", "EMS")])
    assert (await emsp.push_token(emsp.token("CAFE0001")))[0] == 200
    url = f"{other.cpo_endpoint('tokens')}/NL/EMS/CAFE0001"
    headers = {"OCPI-from-country-code": "NL", "OCPI-from-party-id": "EMS"}
    for method, uid, body in (("PUT", "CAFE0001", emsp.token("CAFE0001", valid=False)),
                              ("PATCH", "CAFE0001", {"valid": False, "last_updated": "2026-12-03T10:00:00Z"}),
                              ("PUT", "CAFE0002", emsp.token("CAFE0002")),
                              ("GET", "CAFE0001", None)):
        status, _, answer = await other.call(method, url.replace("CAFE0001", uid), body,
                                             headers=headers)
        assert (status, answer["status_code"]) == (400, 2001), (method, uid, answer)
    # Nor does it start a session (or reserve) with another party's token.
    evse = {"location_id": "berlin-hub", "evse_uid": "CP1-1"}
    for command in ("START_SESSION", "RESERVE_NOW"):
        extra = {"reservation_id": "R-9", "expiry_date": "2030-01-01T00:00:00Z"} \
            if command == "RESERVE_NOW" else {}
        _, answer = await other.command(command, {"token": emsp.tokens["CAFE0001"], **evse,
                                                  **extra})
        assert answer["status_code"] == 2001, (command, answer)

    stored = await store.get_party_token(app.pool, "NL", "EMS", "CAFE0001")
    assert stored is not None and stored["status"] == "accepted"  # the real card is still valid
    assert stored["owner"] != f"ocpi:{other_id}"
    assert await store.tokens_held(app.pool, "CAFE0002") == []
    # The real eMSP still pushes and patches its card.
    status, answer = await emsp.push_token(emsp.token("CAFE0001", valid=False))
    assert (status, answer["status_code"]) == (200, 1000)
    stored = await store.get_party_token(app.pool, "NL", "EMS", "CAFE0001")
    assert stored is not None and stored["status"] == "invalid"
    assert emsp.bad_answers == []


async def test_two_emsps_one_uid(make_app: AppFactory, emsp: SimulatedEmsp, other: SimulatedEmsp,
                                 sims: SimFactory) -> None:
    """Both cards are kept; a charger's Authorize takes the first party (in the order the
    partners were added) that accepts, and the session and its CDR are that party's."""
    app = await setup(make_app, emsp)  # NL*EMS first
    await registered(app, other)       # then BE*OTH
    for stand_in in (other, emsp):
        status, answer = await stand_in.push_token(stand_in.token("CAFE0003"))
        assert (status, answer["status_code"]) == (200, 1000)
    held = await store.tokens_held(app.pool, "CAFE0003")
    assert [(t["country_code"], t["party_id"], t["status"]) for t in held] == [
        ("NL", "EMS", "accepted"), ("BE", "OTH", "accepted")]
    sim = sims(app)
    await sim.start()

    async def charge() -> None:
        await sim.start_local_session(1, "CAFE0003")
        await eventually(lambda: _async(sim.meter_wh[1] > 2000))
        await sim.stop_local_session(1)
        await sim.flush()

    await charge()
    [cdr] = await eventually(lambda: _async(emsp.of("POST", "/cdrs")))
    assert (cdr.body["cdr_token"]["country_code"], cdr.body["cdr_token"]["party_id"]) == ("NL", "EMS")
    # The first eMSP's card turns invalid: the second's still charges, for the second.
    patch = {"valid": False, "last_updated": "2030-01-01T00:00:00Z"}
    status, _, answer = await emsp.call("PATCH", f"{emsp.cpo_endpoint('tokens')}/NL/EMS/CAFE0003",
                                        patch)
    assert (status, answer["status_code"]) == (200, 1000)
    await charge()
    [cdr] = await eventually(lambda: _async(other.of("POST", "/cdrs")))
    assert (cdr.body["cdr_token"]["country_code"], cdr.body["cdr_token"]["party_id"]) == ("BE", "OTH")
    assert len(emsp.of("POST", "/cdrs")) == 1
    # A card of our own with that UID comes first of all.
    await store.upsert_token(app.pool, "CAFE0003")
    assert len(await store.tokens_held(app.pool, "CAFE0003")) == 3
    answer = await app.authorizer.authorize("CAFE0003", "CP1")
    assert answer.status.value == "accepted" and answer.attributes == {}
    assert emsp.bad_answers == [] and other.bad_answers == []
    assert emsp.invalid == [] and other.invalid == []


async def test_we_register_only_for_the_parties_confirmed(make_app: AppFactory,
                                                          emsp: SimulatedEmsp) -> None:
    app = await make_app(ocpi=ocpi_settings())
    assert app.ocpi is not None
    ours = [Party("DE", "ABC")]
    for parties, refusal in (([], PartyError), (ours, PartyError)):
        with pytest.raises(refusal):
            await app.ocpi.registrar.register_with(emsp.versions_url, emsp.token_a, parties=parties)
    assert emsp.of("POST", "/credentials") == []  # refused before sending our credentials
    # The eMSP's answer claims NL*EMS; the operator confirmed NL*EMX.
    with pytest.raises(CredentialsError) as refused:
        await app.ocpi.registrar.register_with(emsp.versions_url, emsp.token_a,
                                               parties=[Party("NL", "EMX")])
    assert refused.value.status_code == 2001 and "EMSP:NL*EMS" in str(refused.value)
    assert await partners.every(app.pool) == []  # nothing half-registered; NL*EMX free again
    assert parties_of(emsp) == [Party("NL", "EMS")]


async def test_csms_ocpi_register_with_mismatching_parties(make_app: AppFactory, emsp: SimulatedEmsp,
                                                           db_url: str) -> None:
    app = await make_app(ocpi=ocpi_settings())
    code, out, err = await csms(db_url, app, "ocpi", "register", emsp.versions_url, emsp.token_a,
                                "--party", "EMSP:NL*EMX")
    assert (code, out) == (1, "") and err.strip().splitlines() == [
        "failed: roles EMSP:NL*EMS are not among the parties bound to these credentials "
        "(EMSP:NL*EMX)"]
    assert await partners.every(app.pool) == []


async def test_parties_asked_in_order_and_answers_confined(make_app: AppFactory,
                                                           emsp: SimulatedEmsp,
                                                           other: SimulatedEmsp) -> None:
    app = await setup(make_app, emsp)
    await registered(app, other)
    for stand_in in (emsp, other):  # both want to be asked each time
        await stand_in.push_token(stand_in.token("CAFE0004", "NEVER"))
    emsp.allowed = "BLOCKED"  # the first says no, the second yes: the second's card it is
    answer = await app.authorizer.authorize("CAFE0004", "CP1")
    assert answer.status is AuthorizationStatus.ACCEPTED
    assert answer.attributes["ocpi"]["token"]["party_id"] == "OTH"
    asked = [(r.path, stand_in) for stand_in in (emsp, other) for r in stand_in.received
             if r.path.endswith("/CAFE0004/authorize")]
    assert [stand_in.party_id for _, stand_in in asked] == ["EMS", "OTH"]
    emsp.allowed = "ALLOWED"  # both yes: the first's
    answer = await app.authorizer.authorize("CAFE0004", "CP1")
    assert answer.attributes["ocpi"]["token"]["party_id"] == "EMS"
    # A partner answering for a card of another party's (one nobody pushed) is not believed.
    other.tokens["CAFE0005"] = {**other.token("CAFE0005"), "country_code": "NL", "party_id": "EMS"}
    answer = await app.authorizer.authorize("CAFE0005", "CP1")
    assert answer.status is AuthorizationStatus.INVALID
    assert other.of("POST", "/tokens/CAFE0005/authorize")  # it was asked
