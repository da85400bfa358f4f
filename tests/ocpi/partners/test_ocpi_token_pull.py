"""eMSPs' token lists pulled from their Tokens Sender: in full after registration and on demand,
incrementally on a schedule, paged by Links that stay within the eMSP's endpoint; one store path
with pushes; withdrawal of what a full list no longer holds; failures retried."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from bridge.ocpi import token_pull, token_store
from bridge.ocpi.client import OcpiError
from bridge.ocpi.handshake.partners import Partner
from bridge.ocpi.token_pull import OVERLAP, backoff, next_link, routed_to, total_count, within
from bridge.ocpi.transport import new_token, parse_timestamp, timestamp
from csms.app import App
from csms.config import OcpiSettings
from csms.storage import store
from simulators.partners.emsp import SimulatedEmsp
from tests.conftest import AppFactory, SimFactory
from tests.ocpi.partners.test_ocpi_late_partner import csms
from tests.ocpi.test_ocpi_sessions import check_cdr, setup
from tests.oicp.test_oicp_roaming import _async
from tests.support import Api, eventually, issue_token, ocpi_pulls_done, ocpi_settings, parties_of

ENDPOINT = "https://emsp.example/ocpi/2.2.1/tokens"


# --- pure parts ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("header", "expected"), [
    ('<https://emsp.example/ocpi/2.2.1/tokens?offset=50&limit=50>; rel="next"',
     "https://emsp.example/ocpi/2.2.1/tokens?offset=50&limit=50"),
    ('<https://a/prev>; rel="prev", <https://a/next>; rel=next', "https://a/next"),
    ('<https://a/x>; rel="prev"', None),
    ("", None),
    (None, None),
])
def test_next_link(header: str | None, expected: str | None) -> None:
    assert next_link(header) == expected


@pytest.mark.parametrize(("link", "followed"), [
    (f"{ENDPOINT}?offset=50", f"{ENDPOINT}?offset=50"),
    (f"{ENDPOINT}/?offset=50", f"{ENDPOINT}/?offset=50"),
    (f"{ENDPOINT}/page/2", f"{ENDPOINT}/page/2"),
    ("/ocpi/2.2.1/tokens?offset=50", f"{ENDPOINT}?offset=50"),        # relative: resolved here
    ("https://EMSP.example:443/ocpi/2.2.1/tokens?offset=5", "https://emsp.example/ocpi/2.2.1/tokens?offset=5"),
    ("https://other.example/ocpi/2.2.1/tokens?offset=50", None),      # another host
    ("http://emsp.example/ocpi/2.2.1/tokens?offset=50", None),        # another scheme
    ("https://emsp.example:8443/ocpi/2.2.1/tokens?offset=50", None),  # another port
    ("https://emsp.example/ocpi/2.2.1/credentials", None),            # another module
    ("https://emsp.example/ocpi/2.2.1/tokensx", None),
    ("https://emsp.example/ocpi/2.2.1/tokens/../credentials", None),
    ("https://user@emsp.example/ocpi/2.2.1/tokens?offset=50", None),
    ("http://169.254.169.254/latest/meta-data", None),
])
def test_links_followed_within_the_endpoint_only(link: str, followed: str | None) -> None:
    got = within(link, f"{ENDPOINT}?limit=50", ENDPOINT)
    assert got == followed, (link, got)


@pytest.mark.parametrize(("headers", "count"), [
    ({"x-total-count": "120"}, 120), ({"x-total-count": " 7 "}, 7), ({"x-total-count": "-1"}, None),
    ({"x-total-count": "many"}, None), ({}, None)])
def test_total_count(headers: dict[str, str], count: int | None) -> None:
    assert total_count(headers) == count


@pytest.mark.parametrize(("failures", "interval", "delay"), [
    (0, 3600.0, 1.0), (1, 3600.0, 2.0), (3, 3600.0, 8.0), (20, 3600.0, 300.0), (500, 3600.0, 300.0),
    (20, 60.0, 60.0)])
def test_failed_pulls_back_off(failures: int, interval: float, delay: float) -> None:
    settings = OcpiSettings(retry_base_delay=1.0, retry_max_delay=300.0,
                            token_pull_interval=interval)
    assert backoff(failures, settings) == delay


def partner_with(roles: list[tuple[str, str, str]]) -> Partner:
    return Partner(1, "p", "registered", "t", "base64", None, "2.2.1", [],
                   [{"role": r, "country_code": c, "party_id": p} for r, c, p in roles])


@pytest.mark.parametrize(("roles", "to"), [
    ([("EMSP", "NL", "EMS")], ("NL", "EMS")),
    ([("HUB", "DE", "HUB"), ("EMSP", "NL", "EMS")], ("DE", "HUB")),  # GET All via Hubs
    ([("CPO", "BE", "CPO")], None),
])
def test_pulls_are_routed(roles: list[tuple[str, str, str]], to: tuple[str, str] | None) -> None:
    assert routed_to(partner_with(roles)) == to


# --- against the eMSP stand-in -------------------------------------------------------------------

_T = [datetime(2026, 1, 1, h, tzinfo=UTC) for h in range(3)]


@pytest.mark.parametrize(("full", "last", "failures", "incremental", "error"), [
    (None, None, 0, None, None),  # never pulled
    (_T[0], _T[0], 0, None, None),  # the last pull was the full one
    (_T[0], _T[1], 0, _T[1], None),  # an incremental one since
    (None, _T[1], 0, _T[1], None),  # incremental only (the full one not done yet)
    (_T[0], _T[1], 2, _T[1], "HTTP 503"),  # failing since: the error shown
])
def test_pull_state_as_shown(full: datetime | None, last: datetime | None, failures: int,
                             incremental: datetime | None, error: str | None) -> None:
    row = {"last_full_at": full, "last_pull_at": last, "next_due": _T[2], "last_count": 3,
           "last_error": "HTTP 503" if failures else None, "failures": failures}
    assert token_store.pull_state(row) == {
        "last_full_at": full, "last_incremental_at": incremental, "next_due_at": _T[2],
        "tokens": 3, "last_error": error, "failures": failures}


def stamped(minutes_ago: int) -> str:
    """A last_updated this many minutes ago."""
    return timestamp(datetime.now(UTC) - timedelta(minutes=minutes_ago))


async def register(app: App, emsp: SimulatedEmsp) -> int:
    assert app.ocpi is not None
    partner = await app.ocpi.registrar.register_with(emsp.versions_url, emsp.token_a, "sim",
                                                     parties=parties_of(emsp))
    await ocpi_pulls_done(app)
    return partner.id


async def held(app: App, uid: str) -> Any:
    return await store.get_party_token(app.pool, "NL", "EMS", uid)


async def pull_state(app: App, partner_id: int) -> Any:
    return await token_store.state(app.pool, partner_id)


async def _async_state_failures(app: App, partner_id: int, at_least: int) -> bool:
    return bool((await pull_state(app, partner_id))["failures"] >= at_least)


async def test_full_pull_after_registration_over_several_pages(make_app: AppFactory,
                                                                emsp: SimulatedEmsp) -> None:
    emsp.page_size = 3
    for n in range(8):
        emsp.list_token(f"AA00{n:04}", whitelist="ALLOWED" if n % 2 else "ALWAYS",
                        last_updated=stamped(100 - n))
    app = await make_app(ocpi=ocpi_settings())
    partner_id = await register(app, emsp)
    for n in range(8):
        row = await held(app, f"AA00{n:04}")
        assert row is not None and row["status"] == "accepted" and row["owner"] == f"ocpi:{partner_id}"
        assert row["realtime"] is bool(n % 2)  # ALLOWED: asked in real time first
        assert row["attributes"]["ocpi"]["object"] == emsp.listed[f"AA00{n:04}"]
    # Three pages, each from the Link of the one before; a full pull asks from no date.
    assert [(p.query.get("offset"), p.query.get("limit")) for p in emsp.pulls] == [
        (None, "1000"), ("3", "3"), ("6", "3")]
    assert not any("date_from" in p.query for p in emsp.pulls)
    assert [p.errors for p in emsp.pulls] == [[], [], []]
    # Routed to the eMSP's party, with the request ids.
    assert {p.headers.get("OCPI-to-party-id") for p in emsp.pulls} == {"EMS"}
    state = await pull_state(app, partner_id)
    assert state["full_asked_at"] is None and state["last_full_at"] is not None
    assert state["last_count"] == 8 and state["last_error"] is None and state["claimed_by"] is None
    assert state["next_due"] > state["last_full_at"] + timedelta(seconds=3000)  # the interval


async def test_incremental_pulls_ask_from_the_last_one(make_app: AppFactory,
                                                       emsp: SimulatedEmsp) -> None:
    emsp.list_token("BB000001", last_updated=stamped(60))
    emsp.list_token("BB000002", last_updated=stamped(50))
    app = await make_app(ocpi=ocpi_settings(token_pull_interval=0.3))
    partner_id = await register(app, emsp)
    first = await pull_state(app, partner_id)
    # Later: one token changes, one is new, one is no longer listed.
    emsp.list_token("BB000001", valid=False)
    emsp.list_token("BB000003", whitelist="NEVER")
    del emsp.listed["BB000002"]

    async def caught_up() -> bool:
        one, three = await held(app, "BB000001"), await held(app, "BB000003")
        return bool(one and one["status"] == "invalid" and three and three["realtime"])
    await eventually(caught_up)
    incremental = [p for p in emsp.pulls if "date_from" in p.query]
    assert incremental and all(p.errors == [] for p in emsp.pulls)
    # The first incremental pull asks from a little before the full one began.
    assert parse_timestamp(incremental[0].query["date_from"]) == \
        parse_timestamp(timestamp(first["last_pull_at"] - OVERLAP))
    later = parse_timestamp(incremental[-1].query["date_from"])
    assert later >= parse_timestamp(incremental[0].query["date_from"])
    # An incremental list is not the whole list: what it lacks is not withdrawn.
    two = await held(app, "BB000002")
    assert two is not None and two["status"] == "accepted"
    assert (await pull_state(app, partner_id))["last_full_at"] == first["last_full_at"]


async def test_full_pull_on_demand_withdraws_what_is_no_longer_listed(
        make_app: AppFactory, emsp: SimulatedEmsp, db_url: str) -> None:
    emsp.list_token("CC000001", last_updated=stamped(30))
    emsp.list_token("CC000002", last_updated=stamped(20))
    app = await make_app(ocpi=ocpi_settings())
    partner_id = await register(app, emsp)
    assert (await held(app, "CC000002"))["status"] == "accepted"
    withdrawn_object = emsp.listed.pop("CC000002")
    emsp.list_token("CC000003")

    code, out, err = await csms(db_url, app, "ocpi", "sync", "NL/EMS", "--tokens")
    assert code == 0, err
    assert out.strip() == (f"full pull of partner {partner_id}: 2 token(s) stored from 1 page(s), "
                           "1 withdrawn (no longer listed)")
    two = await held(app, "CC000002")
    # Kept, no longer valid (OCPI tokens are never deleted), as of the eMSP's own last change.
    assert two["status"] == "invalid"
    assert two["attributes"]["ocpi"]["object"] == {**withdrawn_object, "valid": False}
    assert (await held(app, "CC000001"))["status"] == "accepted"
    assert (await held(app, "CC000003"))["status"] == "accepted"
    # Listed again later: valid again.
    emsp.list_token("CC000002")
    code, out, err = await csms(db_url, app, "ocpi", "sync", str(partner_id), "--tokens")
    assert code == 0 and "3 token(s) stored" in out, (out, err)
    assert (await held(app, "CC000002"))["status"] == "accepted"

    # One line on error: no such partner; the partner cannot be reached.
    code, out, err = await csms(db_url, app, "ocpi", "sync", "XX/YYY", "--tokens")
    assert (code, out) == (1, "") and len(err.strip().splitlines()) == 1, err
    emsp.down = True
    code, out, err = await csms(db_url, app, "ocpi", "sync", "NL/EMS", "--tokens")
    assert code == 1 and out == "" and err.strip().startswith("failed: http://127.0.0.1:"), err
    assert len(err.strip().splitlines()) == 1 and "HTTP 503" in err
    assert (await held(app, "CC000001"))["status"] == "accepted"  # a failed pull withdraws nothing
    # The operator sees when the last pull succeeded, and why the one after failed.
    code, out, err = await csms(db_url, app, "ocpi", "partners", "--json")
    assert code == 0, err
    (listed,) = json.loads(out)
    state = await pull_state(app, partner_id)
    assert listed["tokens_pulled"] == timestamp(state["last_pull_at"])
    assert listed["token_pull_error"].endswith("HTTP 503, not an OCPI answer")


@pytest.fixture
async def elsewhere() -> AsyncIterator[SimulatedEmsp]:
    stand_in = SimulatedEmsp()
    await stand_in.start()
    yield stand_in
    await stand_in.stop()


async def test_a_link_elsewhere_is_not_followed(make_app: AppFactory, emsp: SimulatedEmsp,
                                                elsewhere: SimulatedEmsp) -> None:
    """Its Link names another address (here: another server on this host): no request goes
    there; what the first page held is kept, nothing is withdrawn, the full pull stays due."""
    emsp.page_size = 2
    for n in range(5):
        emsp.list_token(f"DD00000{n}", last_updated=stamped(10 - n))
    emsp.link_base = f"{elsewhere.url}/ocpi/2.2.1"
    app = await make_app(ocpi=ocpi_settings())
    assert app.ocpi is not None
    partner = await app.ocpi.registrar.register_with(emsp.versions_url, emsp.token_a, "sim",
                                                     parties=parties_of(emsp))

    async def stopped() -> Any:
        state = await pull_state(app, partner.id)
        return state if state["last_pull_at"] is not None else None
    state = await eventually(stopped)
    assert state["full_asked_at"] is not None  # still due: the list was not read whole
    assert len(emsp.pulls) == 1 and elsewhere.pulls == [] and elsewhere.received == []
    assert [bool(await held(app, f"DD00000{n}")) for n in range(5)] == [True, True] + [False] * 3
    # Withdrawal needs the whole list: a partner's tokens pushed before stay valid.
    pushed = emsp.token("DD999999")
    assert (await emsp.push_token(pushed))[0] == 200
    del emsp.listed["DD999999"]
    result = await app.ocpi.puller.pull_now(partner.id)
    assert result is not None and not result.complete and result.withdrawn == 0
    assert "outside its Tokens endpoint" in (result.stopped or "")
    assert (await held(app, "DD999999"))["status"] == "accepted"
    assert elsewhere.pulls == []


async def test_pulled_token_authorizes_a_charge(make_app: AppFactory, emsp: SimulatedEmsp,
                                                sims: SimFactory) -> None:
    emsp.list_token("EE000011")  # ALWAYS: the pulled copy decides, nobody is asked
    app = await setup(make_app, emsp)  # registers, and waits for the first pull
    assert (await held(app, "EE000011"))["status"] == "accepted"
    sim = sims(app)
    await sim.start()
    await sim.start_local_session(1, "EE000011")
    await eventually(lambda: _async(sim.meter_wh[1] > 4000))
    await sim.stop_local_session(1)
    await sim.flush()
    body = await check_cdr(app, emsp, "WHITELIST")
    assert body["cdr_token"]["uid"] == "EE000011" and body["cdr_token"]["party_id"] == "EMS"
    assert not [r for r in emsp.received if r.path.endswith("/authorize")]  # not asked


async def test_push_and_pull_store_alike(make_app: AppFactory, emsp: SimulatedEmsp) -> None:
    app = await make_app(ocpi=ocpi_settings())
    partner_id = await register(app, emsp)
    assert app.ocpi is not None
    columns = ("country_code", "party_id", "uid", "type", "status", "owner", "realtime",
               "attributes", "expires_at")

    def as_stored(row: Any) -> dict[str, Any]:
        return {c: row[c] for c in columns}
    stored: dict[str, dict[str, Any]] = {}
    for whitelist, valid in (("ALWAYS", True), ("ALLOWED", True), ("NEVER", True),
                             ("ALLOWED_OFFLINE", False)):
        token = emsp.token("FF000001", whitelist=whitelist, valid=valid)
        assert (await emsp.push_token(token))[0] == 200
        pushed = as_stored(await held(app, "FF000001"))
        await app.pool.execute("DELETE FROM tokens WHERE uid = 'FF000001'")
        emsp.listed["FF000001"] = token
        result = await app.ocpi.puller.pull_now(partner_id)
        assert result is not None and result.stored == 1
        stored[whitelist] = as_stored(await held(app, "FF000001"))
        assert stored[whitelist] == pushed, whitelist
    # A pulled copy older than the pushed one (pushed while the page was on its way) is not kept.
    newer = {**emsp.token("FF000001", valid=False), "last_updated": "2030-01-01T00:00:00Z"}
    assert (await emsp.push_token(newer))[0] == 200
    emsp.listed["FF000001"] = {**newer, "valid": True, "last_updated": stamped(1)}
    result = await app.ocpi.puller.pull_now(partner_id)
    assert result is not None and (result.stored, result.kept, result.withdrawn) == (0, 1, 0)
    assert (await held(app, "FF000001"))["status"] == "invalid"
    # Tokens of a party not the partner's, or unreadable, are skipped (a full list still counts
    # them as listed: nothing of theirs is withdrawn).
    emsp.listed["XX"] = {**emsp.token("FF000002"), "country_code": "BE", "party_id": "OTH"}
    emsp.listed["YY"] = {**emsp.token("FF000003"), "whitelist": "SOMETIMES"}
    result = await app.ocpi.puller.pull_now(partner_id)
    assert result is not None and result.skipped == 2
    assert await store.tokens_held(app.pool, "FF000002") == []
    assert await store.tokens_held(app.pool, "FF000003") == []


async def test_a_failed_pull_is_tried_again(make_app: AppFactory, emsp: SimulatedEmsp) -> None:
    emsp.list_token("GG000001")
    app = await make_app(ocpi=ocpi_settings())
    partner_id = await register(app, emsp)
    assert app.ocpi is not None
    emsp.down = True
    emsp.list_token("GG000002")
    with pytest.raises(OcpiError, match="HTTP 503"):
        await app.ocpi.puller.pull_now(partner_id)
    state = await pull_state(app, partner_id)
    assert state["failures"] == 1 and "HTTP 503" in state["last_error"]
    assert state["full_asked_at"] is not None  # the full pull stays due
    # The partners view says so, in words too, beside the full pull done at registration.
    shown = await _partner(app, partner_id)
    assert shown["failures"] == 1 and "HTTP 503" in shown["last_error"]
    assert "503" in shown["error_words"] and shown["next_due_at"].endswith("Z")
    registered = shown["last_full_at"]
    assert registered.endswith("Z") and shown["tokens"] == 1
    # The schedule tries again (after ocpi.retry_max_delay), failing while the eMSP is down.
    await eventually(lambda: _async(len([p for p in emsp.pulls if p.answered == 503]) >= 2))
    # recorded once the answer is back with us (a moment after the eMSP sent it)
    await eventually(lambda: _async_state_failures(app, partner_id, 2))
    emsp.down = False
    await eventually(lambda: held(app, "GG000002"))
    await ocpi_pulls_done(app)
    state = await pull_state(app, partner_id)
    assert state["failures"] == 0 and state["last_error"] is None and state["full_asked_at"] is None
    shown = await _partner(app, partner_id)
    assert (shown["failures"], shown["last_error"], shown["error_words"], shown["tokens"]) \
        == (0, None, None, 2)
    assert shown["last_full_at"] > registered and shown["last_incremental_at"] is None


async def _partner(app: App, partner_id: int) -> Any:
    """The partner's token_pull as GET /partners shows it."""
    api = Api(f"http://127.0.0.1:{app.api.port}/api/v1")
    try:
        partners = await api.items("/partners")
    finally:
        await api.http.close()
    [partner] = [p for p in partners if p["partner"] == f"ocpi:{partner_id}"]
    assert partner["hub_clients"] is None  # not a hub
    return partner["token_pull"]


async def test_one_node_pulls(make_app: AppFactory, emsp: SimulatedEmsp) -> None:
    """Two nodes on one database: the pull after registration happens once, on one of them."""
    emsp.page_size = 2
    for n in range(5):
        emsp.list_token(f"HH00000{n}", last_updated=stamped(10 - n))
    settings = ocpi_settings()
    first = await make_app(ocpi=settings, node_id="node-a")
    await make_app(ocpi={**settings, "listen_port": 0}, node_id="node-b")
    await register(first, emsp)
    assert [p.query.get("offset") for p in emsp.pulls] == [None, "2", "4"]


async def test_a_stop_mid_pull_lets_it_go(make_app: AppFactory, emsp: SimulatedEmsp,
                                          db_url: str) -> None:
    """A node stopping in the middle of a pull lets go of it at once: still due, the next
    process (here the same node restarted) pulls the whole list."""
    emsp.page_size, emsp.pull_delay = 1, 0.2
    for n in range(20):
        emsp.list_token(f"JJ0000{n:02}", last_updated=stamped(30 - n))
    settings = ocpi_settings()
    app = await make_app(ocpi=settings)
    assert app.ocpi is not None
    partner = await app.ocpi.registrar.register_with(emsp.versions_url, emsp.token_a, "sim",
                                                     parties=parties_of(emsp))
    await eventually(lambda: _async(len(emsp.pulls) >= 2))  # under way
    await app.stop()
    conn = await asyncpg.connect(db_url)
    try:
        state = await token_store.state(conn, partner.id)
    finally:
        await conn.close()
    assert state is not None and state["claimed_by"] is None  # let go
    assert state["full_asked_at"] is not None and state["last_pull_at"] is None  # still due
    emsp.pull_delay = 0.0
    again = await make_app(ocpi=settings)
    await ocpi_pulls_done(again)
    assert len(await store.list_tokens(again.pool, 100, 0)) == 20


async def test_emsp_registering_with_us_is_pulled_and_a_moved_sender_again(
        make_app: AppFactory, emsp: SimulatedEmsp) -> None:
    emsp.list_token("KK000001")
    app = await make_app(ocpi=ocpi_settings())
    token_a = new_token()
    partner_id = await issue_token(app, token_a, emsp)
    answer = await emsp.register_with(f"{app.settings.ocpi.public_url}/ocpi/versions", token_a)
    assert answer["status_code"] == 1000
    await ocpi_pulls_done(app)
    assert (await held(app, "KK000001"))["status"] == "accepted" and len(emsp.pulls) == 1
    credentials = f"{app.settings.ocpi.public_url}/ocpi/2.2.1/credentials"

    async def update() -> None:
        emsp.our_token = "rotated-" + new_token()[:20]
        status, _, answer = await emsp.call("PUT", credentials, emsp._credentials(emsp.our_token))
        assert (status, answer["status_code"]) == (200, 1000)
        emsp.cpo_token = answer["data"]["token"]

    async def last_full() -> Any:
        await ocpi_pulls_done(app)
        return (await pull_state(app, partner_id))["last_full_at"]
    registered = await last_full()
    # A new token alone: nothing to pull again.
    await update()
    assert await last_full() == registered
    # Its Tokens Sender gone: a full pull is due; it finds nothing to pull, withdraws nothing.
    emsp.modules.remove(("tokens", "SENDER"))
    await update()
    assert await last_full() > registered
    assert len(emsp.pulls) == 1 and (await held(app, "KK000001"))["status"] == "accepted"
    # Back: pulled in full again.
    emsp.modules.append(("tokens", "SENDER"))
    emsp.list_token("KK000002")
    await update()
    await ocpi_pulls_done(app)
    assert len(emsp.pulls) == 2 and (await held(app, "KK000002"))["status"] == "accepted"
    assert emsp.bad_answers == [] and [p.errors for p in emsp.pulls] == [[], []]


async def test_a_pull_stops_at_its_limits(make_app: AppFactory, emsp: SimulatedEmsp,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Past MAX_PAGES the pull stops: what it read is kept, it is not complete, nothing is
    withdrawn (here 2 pages of a list of 5)."""
    emsp.list_token("LL000000", last_updated=stamped(30))
    app = await make_app(ocpi=ocpi_settings())
    partner_id = await register(app, emsp)
    assert app.ocpi is not None
    monkeypatch.setattr(token_pull, "MAX_PAGES", 2)
    emsp.page_size = 1
    del emsp.listed["LL000000"]
    for n in range(1, 6):
        emsp.list_token(f"LL00000{n}", last_updated=stamped(10 - n))
    result = await app.ocpi.puller.pull_now(partner_id)
    assert result is not None and (result.pages, result.stored, result.withdrawn) == (2, 2, 0)
    assert not result.complete and "more than 2 pages" in (result.stopped or "")
    assert (await held(app, "LL000000"))["status"] == "accepted"
    assert (await pull_state(app, partner_id))["full_asked_at"] is not None
