"""OCPI ChargingProfiles end to end: a simulated eMSP limits its own session on a simulated charger,
reads the active profile, clears it; other parties' and ended sessions, and bad requests, change nothing."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bridge import outbox
from csms.app import App
from csms.storage import store
from csms.storage.energy import energy_store
from simulators.chargepoint import SimConfig, SimulatedChargePoint
from simulators.chargepoint16 import ChargePoint16
from simulators.chargepoint201 import ChargePoint201
from simulators.partners.emsp import SimulatedEmsp
from simulators.smart_charging import Profiles
from tests.conftest import AppFactory, SimFactory
from tests.energy_support import set_limit, wait_for
from tests.ocpi.partners.test_ocpi_parties import registered
from tests.ocpi.test_ocpi_sessions import setup
from tests.oicp.test_oicp_roaming import _async
from tests.support import eventually, ocpi_settings, ws_url

FULL = 32.0  # the demo site's EVSE (and the simulated charger): 32 A, 3 phases, 230 V
SITE = 12.0  # the site's limit, all of it the one session's share


def profile(unit: str, *periods: tuple[int, float], **extra: Any) -> dict[str, Any]:
    return {"charging_rate_unit": unit, "charging_profile_period": [
        {"start_period": start, "limit": limit} for start, limit in periods], **extra}


@pytest.fixture
async def other() -> AsyncIterator[SimulatedEmsp]:
    """A second eMSP, BE*OTH."""
    stand_in = SimulatedEmsp("BE", "OTH")
    await stand_in.start()
    yield stand_in
    await stand_in.stop()


class SlowCharger(ChargePoint16):
    """1.6 firmware that, while `held` is set, answers SetChargingProfile only once `go` is set
    (everything else as usual)."""

    def __init__(self, config: SimConfig) -> None:
        super().__init__(config)
        self.held = False
        self.go = asyncio.Event()

    def make_client(self, websocket: Any) -> Any:
        client = super().make_client(websocket)
        route = client.route_message

        async def route_message(raw: Any) -> None:
            if self.held and '"SetChargingProfile"' in str(raw):
                async def later() -> None:
                    await self.go.wait()
                    await route(raw)
                self.spawn(later())
                return
            await route(raw)
        client.route_message = route_message
        return client


@pytest.fixture
async def one_sim() -> AsyncIterator[Any]:
    """Builds one simulated charger of the version asked for; stopped at the end."""
    made: list[SimulatedChargePoint] = []

    def factory(app: App, protocol: str, **options: Any) -> SimulatedChargePoint:
        config = SimConfig(charge_point_id="CP1", url=ws_url(app), meter_interval=0.2, **options)
        sim = {"1.6": ChargePoint16, "2.0.1": ChargePoint201, "slow": SlowCharger}[protocol](config)
        made.append(sim)
        return sim
    yield factory
    for sim in made:
        await sim.stop()


async def charging(app: App, emsp: SimulatedEmsp, sim: SimulatedChargePoint,
                   uid: str = "AABB0011") -> str:
    """The eMSP's driver charging on CP1 EVSE 1: the session's id."""
    assert (await emsp.push_token(emsp.token(uid)))[0] == 200
    await sim.start()
    await eventually(lambda: app.commands.online("CP1"))
    await sim.start_local_session(1, uid)
    [session] = await eventually(lambda: store.list_sessions(app.pool, "active", None, None, 10, 0))
    return str(session["id"])


def charger_limit(sim: SimulatedChargePoint) -> float:
    """What the charger lets EVSE 1 draw now (A per phase), from the profiles it holds."""
    return sim.profiles.limit(1, datetime.now(UTC))


async def result_of(emsp: SimulatedEmsp, result_id: str) -> dict[str, Any]:
    [result] = await eventually(lambda: _async(emsp.profile_results(result_id)))
    return result


async def settled(app: App) -> bool:
    return not await outbox.list_messages(app.pool, None, "pending")


async def emsp_caps(app: App) -> list[Any]:
    return [cap for cap in await energy_store.caps_of(app.pool, "CP1", 1) if cap["source"] == "emsp"]


async def test_profile_set_read_and_cleared(make_app: AppFactory, emsp: SimulatedEmsp,
                                            sims: SimFactory) -> None:
    app = await setup(make_app, emsp)
    assert ("chargingprofiles", "RECEIVER") in [(e["identifier"], e["role"])
                                               for e in emsp.cpo_endpoints]
    await set_limit(app, "berlin-hub", SITE, fallback=0)
    sim = sims(app)
    session_id = await charging(app, emsp, sim)
    await wait_for(lambda: charger_limit(sim) == SITE)  # the site's share: all of it

    # Looser than the site's share: the share holds.
    result_id, answer = await emsp.set_profile(session_id, profile("A", (0, 20.0)))
    assert answer["data"] == {"result": "ACCEPTED", "timeout": int(app.commands.grace * 2) + 30}
    assert await result_of(emsp, result_id) == {"result": "ACCEPTED"}
    [cap] = await emsp_caps(app)
    assert cap["max_amps"] == 20 and charger_limit(sim) == SITE

    # Tighter, 16 A, then 10 A from 30 s after the session's start: that is within the lead
    # (a minute), so 10 A now.
    result_id, answer = await emsp.set_profile(session_id, profile("A", (0, 16.0), (30, 10.0)))
    assert await result_of(emsp, result_id) == {"result": "ACCEPTED"}
    assert charger_limit(sim) == 10.0
    [cap] = await emsp_caps(app)
    assert cap["max_amps"] == 10

    # Replaced by one in W, the EVSE's total: 4140 W on 3 phases at 230 V is 6 A per phase.
    result_id, answer = await emsp.set_profile(session_id, profile("W", (0, 4140.0)))
    assert await result_of(emsp, result_id) == {"result": "ACCEPTED"}
    assert charger_limit(sim) == 6.0

    # The active profile, from the charger's composite schedule.
    result_id, answer = await emsp.active_profile(session_id, 900)
    assert answer["data"]["result"] == "ACCEPTED"
    active = await result_of(emsp, result_id)
    assert active["result"] == "ACCEPTED"
    assert active["profile"]["start_date_time"].endswith("Z")
    assert active["profile"]["charging_profile"]["charging_rate_unit"] == "A"
    assert [p["limit"] for p in active["profile"]["charging_profile"]["charging_profile_period"]] \
        == [6.0]

    # Cleared: the site's share again; a second clear finds nothing.
    result_id, answer = await emsp.clear_profile(session_id)
    assert answer["data"]["result"] == "ACCEPTED"
    assert await result_of(emsp, result_id) == {"result": "ACCEPTED"}
    assert charger_limit(sim) == SITE and await emsp_caps(app) == []
    result_id, _ = await emsp.clear_profile(session_id)
    assert await result_of(emsp, result_id) == {"result": "UNKNOWN"}

    # Each result came once, valid, to the URL given; everything we answered was valid.
    await eventually(lambda: settled(app))
    posted = [r for r in emsp.received if r.path.startswith("/chargingprofiles/result/")]
    assert len(posted) == len({r.path for r in posted}) == 6
    assert emsp.invalid == [] and emsp.bad_answers == []


async def test_a_charger_without_smart_charging(make_app: AppFactory, emsp: SimulatedEmsp,
                                                one_sim: Any) -> None:
    """The result is the charger's answer: one that cannot take profiles rejects it."""
    app = await setup(make_app, emsp)
    sim = one_sim(app, "2.0.1", smart_charging=False)
    session_id = await charging(app, emsp, sim)
    result_id, answer = await emsp.set_profile(session_id, profile("A", (0, 10.0)))
    assert answer["data"]["result"] == "ACCEPTED"
    assert await result_of(emsp, result_id) == {"result": "REJECTED"}
    result_id, _ = await emsp.active_profile(session_id, 60)
    assert await result_of(emsp, result_id) == {"result": "REJECTED"}
    assert emsp.invalid == [] and emsp.bad_answers == []


async def test_only_its_own_active_session(make_app: AppFactory, emsp: SimulatedEmsp,
                                           other: SimulatedEmsp, one_sim: Any) -> None:
    app = await setup(make_app, emsp)
    await registered(app, other)
    sim = one_sim(app, "2.0.1")
    session_id = await charging(app, emsp, sim)

    # Another party's session, one we do not have, one that is no session id: all unknown.
    for session in (session_id, str(uuid.uuid4()), "not-a-session"):
        _, answer = await other.set_profile(session, profile("A", (0, 6.0)))
        assert answer["data"] == {"result": "UNKNOWN_SESSION", "timeout": 0}, session
        _, answer = await other.active_profile(session, 600)
        assert answer["data"]["result"] == "UNKNOWN_SESSION"
        _, answer = await other.clear_profile(session)
        assert answer["data"]["result"] == "UNKNOWN_SESSION"
    await eventually(lambda: settled(app))
    assert await emsp_caps(app) == [] and charger_limit(sim) == FULL
    assert not sim.profiles.held
    assert [r for r in other.received if r.path.startswith("/chargingprofiles/")] == []
    assert other.bad_answers == []


async def test_ended_session(make_app: AppFactory, emsp: SimulatedEmsp, one_sim: Any) -> None:
    app = await setup(make_app, emsp)
    sim = one_sim(app, "1.6")
    session_id = await charging(app, emsp, sim)
    # The session's own messages delivered first: the result goes in the session's lane, and
    # would wait behind one the eMSP is down for (a busy machine delivers them late).
    await eventually(lambda: settled(app))
    # The eMSP is down when the result comes: it is retried, and arrives once.
    emsp.down = True
    result_id, _ = await emsp.set_profile(session_id, profile("A", (0, 8.0)))
    await eventually(lambda: _async([r for r in emsp.refused if r.path.endswith(result_id)]))
    emsp.down = False
    assert await result_of(emsp, result_id) == {"result": "ACCEPTED"}
    assert len(await emsp_caps(app)) == 1

    # The session ends: its cap goes with it, and the session takes no more requests.
    await sim.stop_local_session(1)
    await eventually(lambda: store.list_sessions(app.pool, "completed", None, None, 10, 0))
    assert await emsp_caps(app) == []
    for answer in ((await emsp.set_profile(session_id, profile("A", (0, 6.0))))[1],
                   (await emsp.active_profile(session_id))[1],
                   (await emsp.clear_profile(session_id))[1]):
        assert answer["data"] == {"result": "UNKNOWN_SESSION", "timeout": 0}
    assert await emsp_caps(app) == []
    await eventually(lambda: settled(app))
    assert len(emsp.profile_results(result_id)) == 1
    assert emsp.invalid == [] and emsp.bad_answers == []


class Recorded(Profiles):
    """A simulated charger's profiles, noting EVSE 1's limit each time it changes."""

    def __init__(self, evses: int) -> None:
        super().__init__(evses)
        self.seen: list[float] = []

    def _note(self) -> None:
        limit = self.limit(1, datetime.now(UTC))
        if not self.seen or self.seen[-1] != limit:
            self.seen.append(limit)

    def set(self, evse: int, raw: dict[str, Any], transaction: bool) -> str:
        answer = super().set(evse, raw, transaction)
        self._note()
        return answer

    def clear(self, *args: Any, **kwargs: Any) -> str:
        answer = super().clear(*args, **kwargs)
        self._note()
        return answer


async def test_the_cap_follows_the_periods(make_app: AppFactory, emsp: SimulatedEmsp,
                                           one_sim: Any) -> None:
    """From a second or two on: 8 A for 2 s, 16 A for 2 s, then over. The charger holds each
    in turn (the lower a second, the lead, early) and is free again when the profile is over."""
    app = await setup(make_app, emsp, ocpi=ocpi_settings(profile_lead=1.0))
    sim = one_sim(app, "2.0.1")
    recorded = sim.profiles = Recorded(sim.config.connectors)
    session_id = await charging(app, emsp, sim)
    start = (datetime.now(UTC) + timedelta(seconds=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    result_id, _ = await emsp.set_profile(session_id, profile(
        "A", (0, 8.0), (2, 16.0), start_date_time=start, duration=4))
    assert await result_of(emsp, result_id) == {"result": "ACCEPTED"}
    await wait_for(lambda: 16.0 in recorded.seen and recorded.seen[-1] == FULL)
    assert [limit for limit in recorded.seen if limit != FULL] == [8.0, 16.0], recorded.seen
    # Cleared when it was over (not merely expired: caps_of would hide that, and the charger is free
    # again from the expiry on, which may come before the row goes).
    async def cleared() -> bool:
        return await app.pool.fetchval(
            "SELECT count(*) FROM evse_caps WHERE source = 'emsp'") == 0  # type: ignore[no-any-return]
    await eventually(cleared)
    assert emsp.invalid == [] and emsp.bad_answers == []


async def test_one_request_of_a_kind_at_a_time(make_app: AppFactory, emsp: SimulatedEmsp,
                                               one_sim: Any) -> None:
    app = await setup(make_app, emsp)
    sim = one_sim(app, "slow")
    session_id = await charging(app, emsp, sim)
    sim.held = True
    first, answer = await emsp.set_profile(session_id, profile("A", (0, 10.0)))
    assert answer["data"]["result"] == "ACCEPTED"
    # While the charger has not answered, another PUT or a DELETE is too often; a GET is not.
    _, answer = await emsp.set_profile(session_id, profile("A", (0, 8.0)))
    assert answer["data"] == {"result": "TOO_OFTEN", "timeout": 0}
    _, answer = await emsp.clear_profile(session_id)
    assert answer["data"] == {"result": "TOO_OFTEN", "timeout": 0}
    read, answer = await emsp.active_profile(session_id, 60)
    assert answer["data"]["result"] == "ACCEPTED"
    await result_of(emsp, read)
    sim.go.set()
    assert await result_of(emsp, first) == {"result": "ACCEPTED"}
    [cap] = await emsp_caps(app)
    assert cap["max_amps"] == 10 and charger_limit(sim) == 10.0
    # Answered: the next one is taken.
    again, answer = await emsp.set_profile(session_id, profile("A", (0, 8.0)))
    assert answer["data"]["result"] == "ACCEPTED"
    assert await result_of(emsp, again) == {"result": "ACCEPTED"}
    assert charger_limit(sim) == 8.0
    assert emsp.invalid == [] and emsp.bad_answers == []


GOOD = profile("A", (0, 10.0))
BAD_PUTS = [
    ([1, 2], "body must be a SetChargingProfile object"),
    ({"response_url": "{url}"}, "charging_profile must be a ChargingProfile object"),
    ({"charging_profile": profile("kW", (0, 10.0)), "response_url": "{url}"},
     "charging_rate_unit must be A or W"),
    ({"charging_profile": profile("A"), "response_url": "{url}"},
     "charging_profile_period must list at least one period"),
    ({"charging_profile": profile("A", (60, 10.0)), "response_url": "{url}"},
     "must start at 0"),
    ({"charging_profile": profile("A", (0, 10.0), (600, 8.0), (300, 6.0)),
      "response_url": "{url}"}, "increasing start_period"),
    ({"charging_profile": profile("A", (0, -1.0)), "response_url": "{url}"}, "limit of 0 or more"),
    ({"charging_profile": {**GOOD, "charging_profile_period": [{"start_period": 0,
                                                                "limit": "10"}]},
      "response_url": "{url}"}, "limit of 0 or more"),
    ({"charging_profile": {**GOOD, "duration": 0}, "response_url": "{url}"},
     "duration must be a positive"),
    ({"charging_profile": {**GOOD, "start_date_time": "2026-12-04T10:00:00+01:00"},
      "response_url": "{url}"}, "start_date_time must be a UTC DateTime"),
    ({"charging_profile": {**GOOD, "start_date_time": "2020-01-01T00:00:00Z", "duration": 60},
      "response_url": "{url}"}, "ends before now"),
    ({"charging_profile": {**GOOD, "min_charging_rate": -2}, "response_url": "{url}"},
     "min_charging_rate"),
    ({"charging_profile": GOOD}, "response_url is missing"),
    ({"charging_profile": GOOD, "response_url": "http://elsewhere.example/r"},
     "response_url must be on the host of one of your endpoints"),
]


async def test_bad_requests_change_nothing(make_app: AppFactory, emsp: SimulatedEmsp,
                                           one_sim: Any) -> None:
    app = await setup(make_app, emsp)
    sim = one_sim(app, "1.6")
    session_id = await charging(app, emsp, sim)
    url = f"{emsp.url}/ocpi/2.2.1/chargingprofiles/result/set/x"
    for body, reason in BAD_PUTS:
        if isinstance(body, dict) and "response_url" in body:
            body = {**body, "response_url": body["response_url"].replace("{url}", url)}
        status, _, answer = await emsp.call("PUT", emsp._profiles_url(session_id), body)
        assert (status, answer["status_code"]) == (400, 2001), (body, answer)
        assert reason in answer["status_message"] and ";" not in answer["status_message"], answer
    status, _, answer = await emsp.call("PUT", emsp._profiles_url("x" * 37),
                                        {"charging_profile": GOOD, "response_url": url})
    assert (status, answer["status_code"]) == (400, 2001) and "session_id" in \
        answer["status_message"]
    for duration, reason in (("", "duration"), ("abc", "duration"), (0, "duration"),
                             (-5, "duration")):
        _, answer = await emsp.active_profile(session_id, duration)
        assert answer["status_code"] == 2001 and reason in answer["status_message"], answer
    for bad_url in ("", "ftp://127.0.0.1/x", "http://elsewhere.example/r"):
        _, answer = await emsp.active_profile(session_id, 60, response_url=bad_url)
        assert answer["status_code"] == 2001 and "response_url" in answer["status_message"]
        _, answer = await emsp.clear_profile(session_id, response_url=bad_url)
        assert answer["status_code"] == 2001 and "response_url" in answer["status_message"]
    # Nothing happened: no cap, nothing sent to the charger, nothing queued for the eMSP.
    assert await emsp_caps(app) == [] and not sim.profiles.held
    assert not [m for m in await outbox.list_messages(app.pool, None, None)
                if m["operation"] == "POST chargingprofiles"]
    assert [r for r in emsp.received if r.path.startswith("/chargingprofiles/")] == []
