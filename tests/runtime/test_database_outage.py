"""PostgreSQL restarted under connected chargers: connections stay up, nothing is acknowledged unstored,
and the log says so in a line or two, not a traceback per failure."""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pgserver
import pytest
import structlog
from pgserver._commands import pg_ctl

from csms.app import App
from csms.domain.charge_points import register
from csms.logs import configure_logging, current_charge_point
from csms.operator.http.api import COOKIE
from csms.storage import outage as outage_log
from csms.storage import store
from csms.storage.database import migrate_url
from simulators.chargepoint import SimConfig
from simulators.partners.hubject import SimulatedHubject
from tests import conftest
from tests.runtime.test_crash import MAKERS, Server
from tests.support import eventually, ws_url


class PrivatePostgres:
    """A PostgreSQL of this test's own, to stop and start while the system runs on it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.server = pgserver.get_server(path, cleanup_mode=None)
        self.url: str = self.server.get_uri()

    def stop(self) -> None:
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.path, user=self.server.system_user)

    def start(self) -> None:
        with self.server._lock:  # pgserver's own start, with the socket options it chose
            self.server.ensure_postgres_running()


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    # pgserver widens permissions on every parent: keep it in a folder of its own.
    root = Path(tempfile.gettempdir()) / "csms-test-restart" / uuid.uuid4().hex[:8]
    root.mkdir(parents=True)
    postgres = PrivatePostgres(root / "data")
    yield postgres
    postgres.stop()
    shutil.rmtree(root, ignore_errors=True)


@pytest.mark.parametrize("protocol", ["1.6", "2.0.1"])
async def test_database_restart_under_a_charging_session(private_postgres: PrivatePostgres,
                                                         protocol: str) -> None:
    await migrate_url(private_postgres.url)
    app = await App.open(conftest.test_settings(), url=private_postgres.url)
    await app.start()
    http = aiohttp.ClientSession()
    sim = MAKERS[protocol](SimConfig("CP1", ws_url(app), meter_interval=0.2,
                                     transaction_attempts=100, retry_interval=0.2))
    try:
        await register(app.pool, "CP1", None, {1: None}, security_profile=0)
        await store.upsert_token(app.pool, "TAG")
        await sim.start()
        await sim.start_local_session(1, "TAG")
        session_id = await eventually(lambda: app.pool.fetchval(
            "SELECT id FROM sessions WHERE status = 'active'"))

        async def energy_readings() -> list[int]:
            rows = await app.pool.fetch(
                """SELECT value FROM meter_samples WHERE session_id = $1
                   AND measurand = 'Energy.Active.Import.Register' ORDER BY sampled_at""",
                session_id)
            return [round(row["value"]) for row in rows]

        await eventually(lambda: _at_least(energy_readings, 2))
        connected_at = await app.pool.fetchval("SELECT connected_at FROM charge_points")

        async def ready() -> int:
            async with http.get(f"http://127.0.0.1:{app.api.port}/readyz") as response:
                return response.status

        await asyncio.to_thread(private_postgres.stop)
        assert await ready() == 503
        # The admin API says so too, to a bearer client and to the console's cookie alike.
        for credentials in ({"headers": {"Authorization": f"Bearer {conftest.API_TOKEN}"}},
                            {"cookies": {COOKIE: "a-console-session"}}):
            async with http.get(f"http://127.0.0.1:{app.api.port}/api/v1/charge-points",
                                **credentials) as response:  # type: ignore[arg-type]
                assert response.status == 503, await response.text()
        errors_before = len(sim.errors)
        await asyncio.sleep(1.5)  # the charger meters on; we cannot store, so we must not ack
        assert "InternalError" in sim.errors[errors_before:]
        assert sim.connected.is_set()  # its connection is still up
        await asyncio.to_thread(private_postgres.start)
        await eventually(lambda: _equals(ready, 200))

        await sim.stop_local_session(1)
        await sim.flush(timeout=30)
        await eventually(lambda: app.pool.fetchval(
            "SELECT status = 'completed' FROM sessions WHERE id = $1", session_id))
        row = await app.pool.fetchrow("SELECT * FROM sessions WHERE id = $1", session_id)
        assert row["meter_stop_wh"] == sim.meter_wh[1]
        # Every meter value the charger produced is stored, the refused ones too. (The last one
        # may come twice, periodic and Transaction.End, at different times; a replay may not.)
        tick = sim.tick_wh()
        start, stop = round(row["meter_start_wh"]), round(row["meter_stop_wh"])
        readings = await energy_readings()
        assert sorted(set(readings) - {start}) == list(range(start + tick, stop + 1, tick))
        assert len(readings) - len(set(readings)) <= 2, readings
        assert await app.pool.fetchval("SELECT connected_at FROM charge_points") == connected_at

        # Notifications (outbox wake-ups, relayed commands) flow again on a new connection.
        heard = asyncio.Event()
        await app.listener.subscribe("restart_check", lambda _: heard.set())
        await eventually(lambda: _notify_heard(app, heard))
    finally:
        await sim.stop()
        await http.close()
        await app.stop()


async def _at_least(readings: object, count: int) -> bool:
    return len(await readings()) >= count  # type: ignore[operator]


async def _equals(probe: object, expected: int) -> bool:
    try:
        return bool(await probe() == expected)  # type: ignore[operator]
    except aiohttp.ClientError:
        return False


async def _notify_heard(app: App, heard: asyncio.Event) -> bool:
    await app.pool.execute("NOTIFY restart_check")
    await asyncio.sleep(0.2)
    return heard.is_set()


@pytest.mark.timeout(300)  # a real `csms run` started on a busy machine
async def test_database_restart_logs_one_line_not_tracebacks(private_postgres: PrivatePostgres,
                                                             hubject: SimulatedHubject) -> None:
    """What an operator reads of an outage: `database unreachable` with the error in words, then
    `database reachable again`; no traceback from asyncpg's pool or from each refused call."""
    await migrate_url(private_postgres.url)
    pool = await asyncpg.create_pool(private_postgres.url, min_size=1, max_size=1)
    try:
        await register(pool, "CP1", None, {1: None}, security_profile=0)
        await store.upsert_token(pool, "TAG")
    finally:
        await pool.close()
    server = Server(private_postgres.url, hubject)  # the roaming bridge's loops run too
    sim = MAKERS["2.0.1"](SimConfig("CP1", f"ws://127.0.0.1:{server.ocpp_port}/ocpp",
                                    meter_interval=0.2, transaction_attempts=100,
                                    retry_interval=0.2))
    http = aiohttp.ClientSession()

    async def ready() -> int:
        async with http.get(f"http://127.0.0.1:{server.api_port}/readyz") as response:
            return response.status

    def output() -> str:
        server.output.seek(0)
        return server.output.read().decode(errors="replace")

    def said() -> list[dict[str, str]]:
        """The outage's lines (JSON, as off a terminal), in order."""
        lines = [json.loads(line) for line in output().splitlines() if line.startswith("{")]
        return [line for line in lines if line["event"].startswith("database ")]

    async def recovered() -> bool:  # a call failing as the database came back ends later
        return bool(said()) and said()[-1]["event"] == "database reachable again"

    try:
        await server.start()
        await sim.start()
        await sim.start_local_session(1, "TAG")
        await asyncio.to_thread(private_postgres.stop)
        try:
            await eventually(lambda: _equals(ready, 503))
            errors_before = len(sim.errors)
            # Refused calls, failed pool reconnects, background rounds: each a traceback before.
            await eventually(lambda: _refused(sim, errors_before, 3))
        finally:
            await asyncio.to_thread(private_postgres.start)
        await eventually(lambda: _equals(ready, 200))
        await sim.stop_local_session(1)
        await sim.flush(timeout=30)
        try:
            await eventually(recovered)
        except AssertionError:
            raise AssertionError(f"no outage lines; the log:\n{output()[-4000:]}") from None
    finally:
        await sim.stop()
        await http.close()
        if server.process is not None and server.process.returncode is None:
            server.process.terminate()
            await server.process.wait()
        text = output()
        lines = said()
        await server.stop()
    assert "Traceback" not in text, text
    assert '"event": "call not handled"' not in text, text
    assert lines[0]["event"] == "database unreachable", lines
    assert lines[0]["error"], lines  # in words: "the database system is shutting down", …
    assert not any("charge_point_id" in line for line in lines), lines  # the process's, not CP1's
    # Every refused call (and its retries) was a line of its own; the outage is a line or two.
    assert len(lines) < len(sim.errors) - errors_before, lines


async def _refused(sim: object, before: int, count: int) -> bool:
    return sim.errors[before:].count("InternalError") >= count  # type: ignore[attr-defined]


async def test_outage_errors_told_from_faults(db_url: str) -> None:
    """Real errors: the database away is an outage; a misuse of a connection, a closed pool or
    an OSError of our own is not, and keeps its traceback."""
    refused = await _raised(asyncpg.connect("postgresql://postgres@127.0.0.1:1/postgres"))
    assert isinstance(refused, OSError) and outage_log.is_outage(refused)
    assert outage_log.in_words(refused) == "Connection refused"

    conn = await asyncpg.connect(db_url)
    busy = await _raised(asyncio.gather(conn.execute("SELECT pg_sleep(0.2)"),
                                        conn.execute("SELECT 1")))
    assert isinstance(busy, asyncpg.InterfaceError) and not outage_log.is_outage(busy)
    await conn.close()
    closed = await _raised(conn.execute("SELECT 1"))
    assert isinstance(closed, asyncpg.InterfaceError) and outage_log.is_outage(closed)
    conn = await asyncpg.connect(db_url)
    transaction = conn.transaction()
    await transaction.start()
    conn.terminate()  # as a connection lost mid-transaction: leaving it says so
    left = await _raised(transaction.__aexit__(None, None, None))
    assert isinstance(left, asyncpg.InterfaceError) and outage_log.is_outage(left), left

    async def leave_after(error: BaseException) -> None:  # a transaction whose statement failed
        try:
            raise error
        except OSError:
            await transaction.__aexit__(None, None, None)

    aftermath = await _raised(leave_after(refused))
    assert isinstance(aftermath, asyncpg.InterfaceError), aftermath
    assert outage_log.in_words(aftermath) == "Connection refused"  # what closed it, in words

    pool = await asyncpg.create_pool(db_url, min_size=1, max_size=1)
    terminated = await _raised(pool.execute(  # as an administrator's pg_terminate_backend
        "SELECT pg_terminate_backend(pg_backend_pid())"))
    assert outage_log.is_outage(terminated), repr(terminated)
    await pool.close()
    assert not outage_log.is_outage(await _raised(pool.execute("SELECT 1")))  # our own stop

    ours = await _raised(asyncio.to_thread(Path("/nonexistent/file").read_text))
    assert isinstance(ours, OSError) and not outage_log.is_outage(ours)
    wrapped = RuntimeError("while storing")
    wrapped.__cause__ = refused
    assert outage_log.is_outage(wrapped)
    try:
        try:
            raise refused
        except OSError:
            {}["a bug while handling it"]
    except KeyError as bug:
        assert not outage_log.is_outage(bug)


async def test_an_outage_said_once_then_a_minute_apart_and_its_end() -> None:
    now = [0.0]
    outage = outage_log.Outage(remind_every=60.0, clock=lambda: now[0])
    refused = await _raised(asyncpg.connect("postgresql://postgres@127.0.0.1:1/postgres"))
    with structlog.testing.capture_logs() as seen:
        outage.reachable()  # nothing was wrong: nothing to say
        for second in range(0, 130, 5):
            now[0] = float(second)
            assert outage.noted(refused)
        assert not outage.noted(ValueError("a bug"))
        now[0] = 131.0
        outage.reachable()
        outage.reachable()
    assert [(line["event"], line.get("error")) for line in seen] == [
        ("database unreachable", "Connection refused"),
        ("database still unreachable", "Connection refused"),
        ("database still unreachable", "Connection refused"),
        ("database reachable again", None)]
    assert seen[1]["failures"] == 12 and seen[1]["seconds"] == 60
    assert seen[3]["seconds"] == 131.0


async def test_asyncpg_logs_an_outage_as_our_line_and_a_fault_as_it_was(
        caplog: pytest.LogCaptureFixture) -> None:
    configure_logging("warning", "console")  # installs the filter, as `csms run` does
    refused = await _raised(asyncpg.connect("postgresql://postgres@127.0.0.1:1/postgres"))
    fault = ValueError("a bug in asyncpg")
    library = logging.getLogger("asyncpg.pool")
    outage_log.outage.reachable()
    with structlog.testing.capture_logs() as seen:
        library.warning("Failed to restore the pool connection floor; retrying", exc_info=refused)
        library.warning("something else", exc_info=fault)
        library.warning("no exception at all")
        outage_log.outage.reachable()
    assert [record.getMessage() for record in caplog.records
            if record.name == "asyncpg.pool"] == ["something else", "no exception at all"]
    assert [line["event"] for line in seen] == ["database unreachable",
                                                "database reachable again"]


async def _raised(awaitable: Any) -> BaseException:
    try:
        await awaitable
    except BaseException as exc:  # noqa: BLE001 - the error is what the test looks at
        return exc
    raise AssertionError("no error")



async def test_outage_lines_name_no_charger_whose_work_met_it(
        capsys: pytest.CaptureFixture[str]) -> None:
    """The pool may reconnect inside a call's or an event's context (bound to a charger): the
    line is about the process's database all the same."""
    now = [0.0]
    outage = outage_log.Outage(clock=lambda: now[0])
    refused = await _raised(asyncpg.connect("postgresql://postgres@127.0.0.1:1/postgres"))
    configure_logging("info", "json")
    try:
        with structlog.contextvars.bound_contextvars(charge_point_id="CP1", session_id="S1"):
            handling = current_charge_point.set("CP2")
            assert outage.noted(refused)
            outage.reachable()
            structlog.get_logger("csms.anywhere").warning("after")
            current_charge_point.reset(handling)
    finally:
        configure_logging("warning", "console")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()
             if line.startswith("{")]
    assert [(line["event"], line.get("charge_point_id"), line.get("session_id"))
            for line in lines] == [("database unreachable", None, None),
                                   ("database reachable again", None, None),
                                   ("after", "CP1", "S1")]  # the context itself untouched
