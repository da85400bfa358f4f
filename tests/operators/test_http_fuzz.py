"""HTTP endpoints (admin API, OICP inbound, OCPI) fuzzed from their OpenAPI descriptions by schemathesis."""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, replace
from importlib.resources import as_file
from typing import Any

import aiohttp
import asyncpg
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import Case, GenerationMode, Response
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.schemas import APIOperation, BaseSchema

from bridge.ocpi.transport import VERSION
from csms.app import App
from csms.domain.billing.tariffs import put_tariffs
from csms.domain.charge_points import assign_sites, register
from csms.security.throttle import FailureLimit
from csms.storage import store
from simulators.partners.emsp import SimulatedEmsp
from simulators.partners.hubject import SimulatedHubject
from simulators.specs import OCPI_OPENAPI, OICP_OPENAPI, load_yaml
from tests.conftest import AppFactory
from tests.oicp.test_oicp_evse_data import demo_site
from tests.support import API_TOKEN, ocpi_pushes_queued, ocpi_settings, oicp_settings, parties_of

CHARGE_POINT, EVSE_ID, EVSE_UID, SITE = "CP1", "DE*ABC*E0001*1", "CP1-1", "berlin-hub"
UID = "04A1B2C3D4E5F6"  # our own token
EMSP_UID = "0102030405"  # one the eMSP may push (ours is not another issuer's to change)
PROVIDER = "DE-8EO"
TARIFF = {"id": "AC-1", "currency": "EUR", "elements": [{"price_components": [
    {"type": "ENERGY", "price": 0.40, "vat": 19.0, "step_size": 1}]}]}

# Written in the background whatever the requests: node leases, outbox lanes, relayed answers, and
# the delivery state of outbox messages (which messages exist, and what they say, is compared).
# audit_log records refused requests too, by design (tests/operators/test_users.py covers it); site leases
# renew on their own; the eMSP's token list is pulled after it registers, on a schedule.
SKIPPED_TABLES = {"nodes", "outbox_lanes", "relay_replies", "audit_log", "site_leases",
                  "ocpi_token_pulls"}
VOLATILE_COLUMNS = {"outbox": ["status", "attempts", "next_attempt_at", "last_error", "delivered_at"]}
HTTP_METHODS = {"GET", "PUT", "POST", "DELETE", "PATCH"}

# Known values a generated case often takes, each group as a whole (e.g. a path parameter and the
# body field that must match it), so the fuzzer gets past "unknown charge point" and "not a party
# of yours" to the code behind them. Keys: "path:NAME", "header:NAME", "body:NAME".
Steering = list[dict[str, Any]]


def fuzz_settings(examples: int) -> settings:
    """Deterministic for CI: derandomized, no example database, no shrinking (a failure is reported
    at once, with a curl line to replay it). No deadline: a request may wait on the database.
    CSMS_FUZZ_SCALE=N runs N times the examples with a random seed, for a longer hunt by hand."""
    scale = int(os.environ.get("CSMS_FUZZ_SCALE", "0"))
    return settings(max_examples=examples * max(scale, 1), derandomize=not scale, database=None,
                    deadline=None, suppress_health_check=list(HealthCheck), print_blob=False,
                    phases=[Phase.explicit, Phase.generate])


# --- the database, seen from the fuzzing thread ------------------------------------------------


async def table_names(pool: asyncpg.Pool) -> list[str]:
    rows = await pool.fetch("""SELECT table_name FROM information_schema.tables
                               WHERE table_schema = 'public' AND table_type = 'BASE TABLE'
                               ORDER BY table_name""")
    return [row["table_name"] for row in rows if row["table_name"] not in SKIPPED_TABLES]


async def fingerprint(pool: asyncpg.Pool, tables: list[str]) -> dict[str, str]:
    """Row count and a checksum of all rows, per table: any insert, update or delete shows."""
    parts = []
    for table in tables:
        row = f"(to_jsonb(t) - '{{{','.join(VOLATILE_COLUMNS.get(table, []))}}}'::text[])::text"
        parts.append(f"(SELECT count(*) || ':' || md5(coalesce(string_agg({row}, ',' ORDER BY {row}), ''))"
                     f" FROM {table} t) AS {table}")
    found = await pool.fetchrow("SELECT " + ", ".join(parts))
    assert found is not None
    return dict(found)


@dataclass
class Database:
    """The app's database, read from the thread that sends the requests (the app runs in the loop)."""

    pool: asyncpg.Pool
    loop: asyncio.AbstractEventLoop
    tables: list[str]

    def run(self, work: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(timeout=30)

    def fingerprint(self) -> dict[str, str]:
        return dict(self.run(fingerprint(self.pool, self.tables)))


async def open_database(app: App) -> Database:
    return Database(app.pool, asyncio.get_running_loop(), await table_names(app.pool))


async def test_fingerprint_sees_a_new_row_and_a_changed_one(db_url: str) -> None:
    """The side-effect check can fail: an insert, then an update of one column, both show."""
    pool = await asyncpg.create_pool(db_url, min_size=1, max_size=1)
    try:
        tables = await table_names(pool)
        empty = await fingerprint(pool, tables)
        await store.upsert_token(pool, UID)
        added = await fingerprint(pool, tables)
        await store.set_token_status(pool, UID, "blocked")
        blocked = await fingerprint(pool, tables)
    finally:
        await pool.close()
    assert empty["tokens"] != added["tokens"] != blocked["tokens"]
    assert [table for table in tables if empty[table] != blocked[table]] == ["tokens"]


# --- the fuzzer ---------------------------------------------------------------------------------


def steered(strategy: st.SearchStrategy[Case], steering: Steering) -> st.SearchStrategy[Case]:
    @st.composite
    def build(draw: st.DrawFn) -> Case:
        case = draw(strategy)
        for group in steering:
            if draw(st.integers(0, 2)) == 2:  # two times in three, always in the simplest example
                continue
            for where, value in group.items():
                kind, _, name = where.partition(":")
                if kind == "path" and name in case.path_parameters:
                    case.path_parameters[name] = value
                elif kind == "header" and name in case.headers:
                    case.headers[name] = value
                elif kind == "body" and isinstance(case.body, dict) and name in case.body:
                    case.body[name] = value
        return case
    return build()


def cases(operation: APIOperation, steering: Steering) -> st.SearchStrategy[Case]:
    """Valid requests and, as often, requests that break the schema somewhere (auth included)."""
    modes = [operation.as_strategy(generation_mode=GenerationMode.POSITIVE)]
    try:
        modes.append(operation.as_strategy(generation_mode=GenerationMode.NEGATIVE))
    except Exception:  # an operation with nothing to get wrong
        pass
    return steered(st.one_of(modes), steering)


def described(exc: BaseException) -> list[str]:
    """Hypothesis groups distinct failures; schemathesis's own group says what failed, with curl."""
    if isinstance(exc, BaseExceptionGroup) and not isinstance(exc, FailureGroup):
        return [text for inner in exc.exceptions for text in described(inner)]
    return [f"{type(exc).__name__}: {exc}"]


def envelope_of(response: Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


@dataclass
class Fuzz:
    """One live server under fuzzing, and what the test holds against each of its answers."""

    base_url: str
    database: Database
    refused: Callable[[Response], bool]  # the answer refuses the request: nothing may have changed
    headers: Callable[[], dict[str, str]] = dict  # sent with every request (a credentials token)
    prepare: Callable[[Case], None] = lambda case: None  # last changes before a case is sent
    tolerated: Callable[[Case, Response], bool] = lambda case, response: False  # a documented 5xx
    expect: Callable[[Case, Response], None] = lambda case, response: None  # more checks
    after: Callable[[Case, Response], None] = lambda case, response: None  # restore what we need
    quiesce: Callable[[], Coroutine[Any, Any, None]] | None = None  # background work of an accepted request
    sent: int = 0

    def send(self, case: Case, http: requests.Session) -> None:
        self.prepare(case)
        headers = self.headers()
        before = self.database.fingerprint()
        try:
            response = case.call(base_url=self.base_url, session=http, headers=headers, timeout=20)
        except (requests.exceptions.InvalidHeader, requests.exceptions.InvalidURL, ValueError):
            return  # requests itself refuses to send it (e.g. a newline in a header)
        self.sent += 1
        if not self.tolerated(case, response):
            case.validate_response(response, checks=[not_a_server_error])
        self.expect(case, response)
        if self.refused(response):
            after = self.database.fingerprint()
            changed = sorted(table for table in before if before[table] != after[table])
            assert not changed, (f"refused with {response.status_code} {response.text_lossy()[:300]}"
                                 f" but changed {changed}\n{case.as_curl_command(headers=headers)}")
        elif self.quiesce is not None:
            # What an accepted request started (an OCPI command carried out, its result queued)
            # must not land during the next request, which may be a refused one.
            self.database.run(self.quiesce())
        self.after(case, response)

    def run(self, operations: list[APIOperation], examples: int, steering: Steering) -> list[str]:
        """Every operation gets `examples` cases; what failed, at most once per operation."""
        failures = []
        with requests.Session() as http:
            for operation in operations:
                @fuzz_settings(examples)
                @given(case=cases(operation, steering))
                def fuzz(case: Case) -> None:
                    self.send(case, http)

                try:
                    fuzz()
                # Every operation is fuzzed, then all failures are reported; schemathesis raises
                # its failed checks as a BaseExceptionGroup.
                except (Exception, BaseExceptionGroup) as exc:
                    failures += [f"{operation.label}: {problem}" for problem in described(exc)]
        return failures


def operations(schema: BaseSchema, keep: Callable[[str, str], bool] = lambda method, path: True
               ) -> list[APIOperation]:
    # A path item also holds its shared "parameters", which is no operation.
    return [schema[path][method] for path in schema for method in schema[path]
            if method.upper() in HTTP_METHODS and keep(method.upper(), path)]


async def seeded(make_app: AppFactory, **options: Any) -> App:
    """A charge point with an EVSE on a site, offline (commands to it answer 'offline'); a token."""
    app = await make_app(**options)
    await register(app.pool, CHARGE_POINT, None, {1: EVSE_ID}, events=app.events, security_profile=0)
    await assign_sites(app.pool, app.events, [replace(demo_site(), evses={})])
    await store.upsert_token(app.pool, UID)
    return app


# --- admin API: its own description, as it serves it ---------------------------------------------


def charger_outcome(case: Case, response: Response) -> bool:
    """502, 503 and 504 are documented command outcomes: the charger failed, is offline, is slow."""
    body = envelope_of(response)
    return (response.status_code in (502, 503, 504) and isinstance(body, dict)
            and body.get("outcome") in ("failed", "offline", "timeout"))


def no_data_without_token(case: Case, response: Response) -> None:
    # A request aiohttp's parser refuses (400) never reaches the token check: no data either way.
    assert response.status_code in (400, 401), (response.status_code, case.as_curl_command())


@pytest.mark.parametrize("authenticated", [True, False], ids=["token", "no-token"])
async def test_admin_api(make_app: AppFactory, authenticated: bool) -> None:
    app = await seeded(make_app)
    # The fuzzer's wrong tokens would soon have its own address wait (429) for every request, and
    # the routes behind the token check go untried: tests/operators/test_api.py covers the throttle.
    app.api.throttle = FailureLimit(10**9)
    base = f"http://127.0.0.1:{app.api.port}/api/v1"
    async with aiohttp.ClientSession() as http, http.get(f"{base}/openapi.json") as answer:
        # The console's event stream never ends: tests/operators/console/test_console.py covers it.
        served = operations(schemathesis.openapi.from_dict(await answer.json()),
                            lambda method, path: path != "/events")
    fuzz = Fuzz(base, await open_database(app), refused=lambda response: response.status_code >= 400,
                tolerated=charger_outcome)
    if authenticated:
        fuzz.headers = lambda: {"Authorization": f"Bearer {API_TOKEN}"}
    else:
        fuzz.expect = no_data_without_token
    steering: Steering = [{"path:cp": CHARGE_POINT}, {"path:evse": 1}, {"path:uid": UID},
                          {"body:token": UID}, {"body:evses": {"1": EVSE_ID}}, {"path:id": 1}]
    failures = await asyncio.to_thread(fuzz.run, served, 25 if authenticated else 8, steering)
    assert not failures, "\n\n".join(failures)
    assert fuzz.sent >= len(served) * 5


# --- OICP: what Hubject asks of us, from Hubject's description -----------------------------------

# Of Hubject's CPO description, the operations Hubject calls on a CPO (we call all the others).
OICP_SERVED = ("/authorize-remote/start", "/authorize-remote/stop", "/reservation-start-request",
               "/reservation-stop-request")


def oicp_operations(base_url: str) -> list[APIOperation]:
    """Hubject's OpenAPI 3.0 file as published: its patterns compile in Python (the prism-fixed
    copies only matter to JavaScript's unicode regexes). Fix-up: its servers are Hubject's QA and
    production systems, replaced by our listener, so no request can leave this machine."""
    raw = load_yaml(OICP_OPENAPI)
    raw["servers"] = [{"url": base_url}]
    return operations(schemathesis.openapi.from_dict(raw),
                      lambda method, path: path.endswith(OICP_SERVED))


def oicp_refused(response: Response) -> bool:
    body = envelope_of(response)
    return response.status_code >= 400 or not (isinstance(body, dict) and body.get("Result") is True)


def oicp_acknowledgement(case: Case, response: Response) -> None:
    """Hubject reads every answer as an eRoamingAcknowledgement, refusals included."""
    body = envelope_of(response)
    assert response.status_code == 200 and isinstance(body, dict), (response.status_code, body)
    assert isinstance(body.get("Result"), bool) and isinstance(body["StatusCode"]["Code"], str), body


async def test_oicp_inbound(make_app: AppFactory, hubject: SimulatedHubject) -> None:
    app = await seeded(make_app, oicp=oicp_settings(hubject))
    assert app.oicp is not None
    base = f"http://127.0.0.1:{app.oicp.inbound.port}/api/oicp"
    served = oicp_operations(base)
    assert len(served) == 4
    fuzz = Fuzz(base, await open_database(app), refused=oicp_refused, expect=oicp_acknowledgement)
    steering: Steering = [{"path:providerID": PROVIDER, "body:ProviderID": PROVIDER},
                          {"body:EvseID": EVSE_ID}]
    failures = await asyncio.to_thread(fuzz.run, served, 60, steering)
    assert not failures, "\n\n".join(failures)
    assert fuzz.sent >= len(served) * 30


# --- OCPI: what an eMSP asks of us as CPO, from the OCPI description -------------------------------

# The CPO side of the description, by path and method: versions, credentials, our sender modules
# (GET) and the receiver modules of a CPO (tokens, commands).
OCPI_SERVED = {
    "/versions": {"GET"}, "/versions/{version}": {"GET"},
    "/credentials": {"GET", "POST", "PUT", "DELETE"},
    "/locations": {"GET"}, "/locations/{location_id}": {"GET"},
    "/locations/{location_id}/{evse_uid}": {"GET"},
    "/locations/{location_id}/{evse_uid}/{connector_id}": {"GET"},
    "/sessions": {"GET"}, "/cdrs": {"GET"}, "/tariffs": {"GET"},
    "/tokens/{country_code}/{party_id}/{token_uid}": {"GET", "PUT", "PATCH"},
    **{f"/commands/{name}": {"POST"} for name in ("START_SESSION", "STOP_SESSION", "UNLOCK_CONNECTOR",
                                                  "RESERVE_NOW", "CANCEL_RESERVATION")},
    "/chargingprofiles/{session_id}": {"GET", "PUT", "DELETE"},
}


def ocpi_url(path: str) -> str:
    """Where we serve a path of the description. OCPI leaves URLs to each party (our versions
    endpoints announce them): /ocpi/versions, /ocpi/2.2.1 for the version details, modules below."""
    return {"/versions": "/ocpi/versions", "/versions/{version}": "/ocpi/{version}"}.get(
        path, f"/ocpi/{VERSION}{path}")


def ocpi_operations(base_url: str) -> list[APIOperation]:
    """The OCPI 2.2.1 description (multi-file, relative $refs). Fix-ups: only the paths we serve,
    moved to where we serve them; no webhooks (what we call); servers: us."""
    raw = load_yaml(OCPI_OPENAPI / "openapi.yaml")
    raw["paths"] = {ocpi_url(path): item for path, item in raw["paths"].items() if path in OCPI_SERVED}
    raw["servers"] = [{"url": base_url}]
    raw.pop("webhooks", None)
    schema = schemathesis.openapi.from_dict(raw)
    # The base of the relative $refs, as from_path sets it (the package data is plain files).
    with as_file(OCPI_OPENAPI) as folder:
        schema.location = (folder / "openapi.yaml").as_uri()
    methods = {ocpi_url(path): served for path, served in OCPI_SERVED.items()}
    return operations(schema, lambda method, path: method in methods[path])


def ocpi_refused(response: Response) -> bool:
    body = envelope_of(response)
    if response.status_code >= 400 or not isinstance(body, dict) or body.get("status_code") != 1000:
        return True
    data = body.get("data")
    # A CommandResponse other than ACCEPTED refuses the command.
    return isinstance(data, dict) and "result" in data and data["result"] != "ACCEPTED"


def ocpi_envelope(case: Case, response: Response) -> None:
    """Every answer, refusals included, is an OCPI response envelope."""
    body = envelope_of(response)
    assert isinstance(body, dict) and isinstance(body.get("status_code"), int), \
        (response.status_code, response.text_lossy()[:200], case.as_curl_command())
    assert isinstance(body.get("timestamp"), str), body


def refused_without_token(case: Case, response: Response) -> None:
    ocpi_envelope(case, response)
    assert response.status_code in (400, 401), (response.status_code, case.as_curl_command())


@pytest.mark.parametrize("authenticated", [True, False], ids=["token", "no-token"])
async def test_ocpi(make_app: AppFactory, emsp: SimulatedEmsp, authenticated: bool) -> None:
    app = await seeded(make_app, ocpi=ocpi_settings())
    ocpi = app.ocpi
    assert ocpi is not None
    await put_tariffs(app.pool, app.events, [TARIFF])

    async def registered() -> None:
        # Its full push queued too: nothing of it lands during a later, refused request.
        await ocpi.registrar.register_with(emsp.versions_url, emsp.token_a, "sim", parties=parties_of(emsp))
        await ocpi_pushes_queued(app)

    async def quiesce() -> None:
        await ocpi.server.commands.finish()
        await ocpi.server.profiles.settle()
        await ocpi_pushes_queued(app)  # one its receivers moving started
    await registered()
    base = app.settings.ocpi.public_url
    served = ocpi_operations(base)
    assert len(served) == 24, [operation.label for operation in served]

    def prepare(case: Case) -> None:
        # The URLs we would call (a partner's versions, a command's result) stay on this machine:
        # the stand-in eMSP's, so a registration or a result can go through.
        if isinstance(case.body, dict):
            if isinstance(case.body.get("url"), str):
                case.body["url"] = emsp.versions_url
            if isinstance(case.body.get("response_url"), str):
                case.body["response_url"] = f"{emsp.url}/ocpi/{VERSION}/commands/result/fuzz"
        if isinstance(case.query, dict) and isinstance(case.query.get("response_url"), str):
            case.query["response_url"] = f"{emsp.url}/ocpi/{VERSION}/chargingprofiles/result/fuzz"

    def token() -> dict[str, str]:
        return {"Authorization": "Token " + base64.b64encode((emsp.cpo_token or "").encode()).decode()}

    def reregister(case: Case, response: Response) -> None:
        # The partner's DELETE of its credentials unregistered it, a PUT rotated its token: the
        # requests after it come from a registered partner again.
        if case.path.endswith("/credentials") and case.method in ("DELETE", "PUT") \
                and not ocpi_refused(response):
            fuzz.database.run(registered())

    fuzz = Fuzz(base, await open_database(app), refused=ocpi_refused, prepare=prepare,
                expect=ocpi_envelope, quiesce=quiesce)
    if authenticated:
        fuzz.headers, fuzz.after = token, reregister
    else:
        fuzz.expect = refused_without_token
    party = {"path:country_code": "NL", "path:party_id": "EMS", "body:country_code": "NL",
             "body:party_id": "EMS", "header:OCPI-from-country-code": "NL",
             "header:OCPI-from-party-id": "EMS"}
    steering: Steering = [party, {"path:token_uid": EMSP_UID, "body:uid": EMSP_UID},
                          {"path:version": VERSION}, {"path:location_id": SITE},
                          {"path:evse_uid": EVSE_UID},
                          {"body:location_id": SITE, "body:evse_uid": EVSE_UID}]
    failures = await asyncio.to_thread(fuzz.run, served, 20 if authenticated else 6, steering)
    assert not failures, "\n\n".join(failures)
    assert fuzz.sent >= len(served) * 4
