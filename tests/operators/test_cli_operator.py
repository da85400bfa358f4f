"""The operator's CLI: sessions and tokens commands, tables with headers or --json, defaults in every
--help, and bad input as one line with exit 2 and no side effect."""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from csms.app import App
from csms.domain.charge_points import register
from csms.domain.model import ENERGY_REGISTER, MeterSample
from csms.operator.command_line import cli
from csms.operator.command_line.cli import main
from csms.operator.command_line.help_format import DefaultsShown, Parser, every_parser, shows_default
from csms.operator.command_line.tables import cell, show
from csms.storage import store
from csms.storage.database import create_pool
from simulators import __main__ as simulator_cli
from simulators.chargepoint import SimConfig
from simulators.chargepoint16 import ChargePoint16
from tests.conftest import AppFactory, admin, with_database
from tests.support import ROOT, eventually, ws_url

# --- help and argument errors, for every sub-command of csms and csms-sim ---------------------


def _parsers() -> list[tuple[str, argparse.ArgumentParser]]:
    return [(p.prog, p) for top in (cli.parser(), simulator_cli.parser()) for p in every_parser(top)]


def test_every_help_shows_the_defaults() -> None:
    """Each option with a default, in every (sub-)command, says it in its --help."""
    checked = 0
    for prog, parser in _parsers():
        assert isinstance(parser, Parser), prog  # so its own sub-commands are too
        formatter = parser._get_formatter()
        assert isinstance(formatter, DefaultsShown), prog
        assert parser.format_help()  # every help renders
        for action in parser._actions:
            if not shows_default(action):
                continue
            text = " ".join(formatter._format_action(action).split())
            assert "default" in text and str(action.default) in text, (prog, text)
            checked += 1
    assert checked > 40  # the walk reaches the sub-commands' options


def test_every_listing_has_json() -> None:
    """Every `list` (and the other listings) takes --json."""
    listings = {"csms charge-points list", "csms tariffs list", "csms tariffs costs",
                "csms sessions list", "csms tokens list", "csms firmware jobs",
                "csms certificates list", "csms device-model inventory",
                "csms device-model requests", "csms device-model monitors",
                "csms device-model events", "csms device-model display-messages",
                "csms ocpi partners"}
    progs = {prog for prog, _ in _parsers()}
    assert listings <= progs
    for prog, parser in _parsers():
        if prog in listings or prog.endswith(" list"):
            assert "--json" in parser._option_string_actions, prog


def test_a_wrong_argument_is_one_line() -> None:
    parser = Parser(prog="x")
    parser.add_argument("--n", type=int, default=3)
    err = io.StringIO()
    with pytest.raises(SystemExit) as exit_, _stderr(err):
        parser.parse_args(["--n", "many"])
    assert exit_.value.code == 2
    assert err.getvalue() == "x: error: argument --n: invalid int value: 'many' (see x --help)\n"


class _stderr:
    def __init__(self, to: io.StringIO) -> None:
        self.to = to

    def __enter__(self) -> None:
        import sys
        self.saved, sys.stderr = sys.stderr, self.to

    def __exit__(self, *exc: object) -> None:
        import sys
        sys.stderr = self.saved


# --- the table printer ------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "shown"), [
    (None, "-"), ("", "-"), (True, "yes"), (False, "no"), (2.50, "2.5"), (7, "7"),
    (datetime(2026, 12, 1, 8, 0, 1, 123, tzinfo=UTC), "2026-12-01T08:00:01+00:00"),
    (["1=A:available", "2=-:charging"], "1=A:available 2=-:charging"), ([], "-"),
    ({"b": 1, "a": None}, '{"a": null, "b": 1}'), ("two\nlines\tand tab", "two lines and tab"),
])
def test_cells_are_one_line(value: Any, shown: str) -> None:
    assert cell(value) == shown


def test_tables_have_headers_and_json_the_same_fields() -> None:
    rows = [{"id": "CP1", "n": 1.5, "at": datetime(2026, 1, 2, tzinfo=UTC), "hidden": 1},
            {"id": "LONGER-ID", "n": None, "at": None}]
    columns = [("ID", "id"), ("NUMBER", "n"), ("AT", "at")]
    out = io.StringIO()
    show(rows, columns, False, out)
    assert out.getvalue().splitlines() == [
        "ID         NUMBER  AT",
        "CP1        1.5     2026-01-02T00:00:00+00:00",
        "LONGER-ID  -       -"]
    out = io.StringIO()
    show(rows, columns, True, out)
    assert json.loads(out.getvalue()) == [
        {"id": "CP1", "n": 1.5, "at": "2026-01-02T00:00:00+00:00"},
        {"id": "LONGER-ID", "n": None, "at": None}]
    out = io.StringIO()
    show([], columns, False, out)
    assert out.getvalue() == "ID  NUMBER  AT\n"  # an empty listing still says what it lists


# --- against a database -------------------------------------------------------------------------

@pytest.fixture
def cli_db(server_url: str, template_database: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    name = f"csms_cli_{uuid.uuid4().hex[:12]}"
    asyncio.run(admin(server_url, f"CREATE DATABASE {name} TEMPLATE {template_database}"))
    url = with_database(server_url, name)
    monkeypatch.setenv("CSMS_DATABASE_URL", url)
    monkeypatch.setenv("CSMS_LOG_LEVEL", "warning")
    yield url
    asyncio.run(admin(server_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


async def _sessions(url: str) -> dict[str, str]:
    """Three sessions on CP1: one active with samples and Hubject's ids, one completed a day ago,
    one pending; their ids by status."""
    conn = await create_pool(url, 1, 1)  # the codecs the system stores JSON with
    try:
        evse = (await store.ensure_evse(conn, "CP1", 1))["id"]
        now = datetime.now(UTC)
        active = await store.insert_session(
            conn, charge_point_id="CP1", evse=evse, transaction_id="7", token_uid="CARD",
            status="active", started_at=now - timedelta(minutes=30), meter_start_wh=1000.0,
            attributes={"oicp": {"SessionID": "b2688855-7f00-0002-6d8e-48d3ec1e9cb2",
                                 "ProviderID": "DE-8EO", "Identification": {
                                     "RemoteIdentification": {"EvcoID": "DE-8EO-CAET5E4XY-3"}}}})
        await store.insert_samples(conn, str(active["id"]), "CP1", evse, [
            MeterSample(now - timedelta(minutes=m), ENERGY_REGISTER, 1000.0 + 500 * (30 - m), "Wh")
            for m in (20, 10)] + [MeterSample(now - timedelta(minutes=10), "Power.Active.Import",
                                              11000.0, "W")])
        done = await store.insert_session(
            conn, charge_point_id="CP1", evse=evse, transaction_id="6", token_uid="CARD",
            status="completed", started_at=now - timedelta(days=1, hours=1),
            stopped_at=now - timedelta(days=1), meter_start_wh=0.0, meter_stop_wh=800.0,
            stop_reason="local")
        pending = await store.insert_session(conn, charge_point_id="CP1", evse=evse,
                                             token_uid="OTHER", status="pending", remote=True)
        return {"active": str(active["id"]), "completed": str(done["id"]),
                "pending": str(pending["id"])}
    finally:
        await conn.close()


def _lines(capsys: pytest.CaptureFixture[str]) -> list[list[str]]:
    return [line.split() for line in capsys.readouterr().out.splitlines()]


def test_sessions_list_and_show(cli_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["charge-points", "add", "CP1", "--evse", "1=DE*ABC*E0001*1", "--no-password"]) == 0
    ids = asyncio.run(_sessions(cli_db))
    capsys.readouterr()

    assert main(["sessions", "list"]) == 0
    header, *rows = _lines(capsys)
    assert header[:2] == ["SESSION", "CHARGE"]
    assert [(r[0], r[3]) for r in rows] == [(ids["pending"], "pending"),
                                           (ids["completed"], "completed"),
                                           (ids["active"], "active")]
    assert rows[2][7] == "10000"  # energy so far: the latest register reading less the start

    for argv, expected in [(["--status", "active"], ["active"]),
                           (["--charge-point", "CP2"], []),
                           (["--since", "2h"], ["pending", "active"]),
                           (["--since", "2999-01-01"], []),
                           (["--limit", "1", "--offset", "1"], ["completed"])]:
        assert main(["sessions", "list", "--json", *argv]) == 0
        listed = json.loads(capsys.readouterr().out)
        assert [s["status"] for s in listed] == expected, argv
    assert main(["sessions", "list", "--json", "--status", "completed"]) == 0
    (completed,) = json.loads(capsys.readouterr().out)
    assert set(completed) == {"id", "charge_point_id", "evse_number", "status", "token_uid",
                              "started_at", "stopped_at", "energy_wh", "stop_reason"}
    assert (completed["energy_wh"], completed["stop_reason"]) == (800.0, "local")

    assert main(["sessions", "show", ids["active"], "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert (shown["energy_wh"], shown["samples"], shown["max_power_w"]) == (10000.0, 3, 11000.0)
    assert (shown["oicp_session_id"], shown["oicp_evco_id"]) == (
        "b2688855-7f00-0002-6d8e-48d3ec1e9cb2", "DE-8EO-CAET5E4XY-3")
    assert main(["sessions", "show", ids["active"]]) == 0
    text = capsys.readouterr().out
    assert "oicp_evco_id:" in text and "DE-8EO-CAET5E4XY-3" in text
    for unknown in (str(uuid.uuid4()), "nonsense"):
        assert main(["sessions", "show", unknown]) == 1
        assert capsys.readouterr().err == f"no session {unknown}\n"


def test_other_listings_print_a_header_and_json(cli_db: str,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["charge-points", "add", "CP1", "--evse", "1=DE*ABC*E0001*1", "--no-password"]) == 0
    demo = ROOT / "simulators" / "demo" / "tariffs.json"
    assert main(["tariffs", "load", str(demo)]) == 0
    assert main(["tariffs", "assign", "AC-STANDARD", "--evse", "DE*ABC*E0001*1"]) == 0
    capsys.readouterr()
    for argv, header in [(["charge-points", "list"], "ID"), (["tariffs", "list"], "TARIFF"),
                         (["tariffs", "costs"], "SESSION"), (["firmware", "jobs"], "JOB"),
                         (["tokens", "list"], "UID"), (["sessions", "list"], "SESSION"),
                         (["certificates", "list", "CP1"], "TYPE"),
                         (["device-model", "inventory", "CP1"], "VARIABLE"),
                         (["device-model", "monitors", "CP1"], "MONITOR")]:
        assert main(argv) == 0, argv
        assert capsys.readouterr().out.split()[0] == header, argv
        assert main([*argv, "--json"]) == 0, argv
        assert isinstance(json.loads(capsys.readouterr().out), list), argv
    assert main(["charge-points", "list", "--json"]) == 0
    (cp,) = json.loads(capsys.readouterr().out)
    assert (cp["id"], cp["state"], cp["evses"]) == ("CP1", "offline", ["1=DE*ABC*E0001*1:unknown"])
    assert main(["tariffs", "list", "--json"]) == 0
    tariff, assignment = json.loads(capsys.readouterr().out)
    assert (tariff["tariff_id"], tariff["currency"]) == ("AC-STANDARD", "EUR")
    assert (assignment["tariff_id"], assignment["evse_id"], assignment["provider_id"]) == (
        "AC-STANDARD", "DE*ABC*E0001*1", "*")


# --- tokens: blocked ones refused at Authorize; a remote stop as the API's -------------------------

async def test_blocked_tokens_are_refused_and_sessions_stop(
        make_app: AppFactory, db_url: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    app: App = await make_app()
    await register(app.pool, "CP1", None, {1: "DE*ABC*E0001*1"}, security_profile=0)
    await store.upsert_token(app.pool, "CARD")
    # The same UID pushed by a roaming partner: its copy is the partner's, never ours to change.
    await store.upsert_owned_token(app.pool, "NL", "EMS", "CARD", "RFID", "accepted", "ocpi:1",
                                   False, {})
    await store.upsert_owned_token(app.pool, "NL", "EMS", "THEIRS", "RFID", "accepted", "ocpi:1",
                                   False, {})
    monkeypatch.setenv("CSMS_DATABASE_URL", db_url)
    monkeypatch.setenv("CSMS_LOG_LEVEL", "warning")

    async def csms(*argv: str) -> int:
        return await asyncio.to_thread(main, list(argv))

    def said(text: str) -> str:
        """The CLI's own lines: the app running in this process may log beside them (JSON)."""
        return "".join(line + "\n" for line in text.splitlines() if not line.startswith("{"))

    sim = ChargePoint16(SimConfig(charge_point_id="CP1", url=ws_url(app), meter_interval=0.2))
    await sim.start()
    try:
        assert await sim.authorize("CARD") == "Accepted"
        assert await csms("tokens", "block", "CARD") == 0
        assert said(capsys.readouterr().out) == "token CARD blocked\n"
        assert await sim.authorize("CARD") == "Blocked"
        assert await csms("tokens", "list", "--json") == 0
        assert [(t["uid"], t["status"], t["owner"]) for t in json.loads(
            said(capsys.readouterr().out))] == [("CARD", "blocked", None)]
        assert await csms("tokens", "list", "--all", "--json") == 0
        assert [(t["uid"], t["status"], t["owner"]) for t in json.loads(
            said(capsys.readouterr().out))] == [("CARD", "blocked", None),
                                                ("CARD", "accepted", "ocpi:1"),
                                          ("THEIRS", "accepted", "ocpi:1")]
        assert await csms("tokens", "block", "THEIRS") == 1
        assert said(capsys.readouterr().err) == \
            "no token THEIRS of ours (see csms tokens list --all)\n"
        assert await csms("tokens", "unblock", "CARD") == 0
        assert await sim.authorize("CARD") == "Accepted"

        # A remote stop through the command service, the node holding the charger sends it.
        await sim.start_local_session(1, "CARD")
        session = await eventually(lambda: app.pool.fetchrow(
            "SELECT id FROM sessions WHERE status = 'active'"))
        capsys.readouterr()
        assert await csms("sessions", "stop", str(session["id"])) == 0
        assert said(capsys.readouterr().out).startswith("accepted")
        await eventually(lambda: app.pool.fetchval(
            "SELECT stop_reason = 'remote' FROM sessions WHERE id = $1", session["id"]))
        assert await csms("sessions", "stop", str(session["id"])) == 1
        assert "rejected" in capsys.readouterr().err
    finally:
        await sim.stop()


# --- bad input: one line, exit 2, nothing changed --------------------------------------------------

BAD_INPUT = [
    (["sessions", "list", "--status", "done"], "invalid choice: 'done'"),
    (["sessions", "list", "--since", "yesterday"], "neither a time"),
    (["sessions", "list", "--limit", "0"], "'0' is not a whole number from 1 to 1000"),
    (["sessions", "list", "--evse", "one"], "'one' is not a whole number"),
    (["sessions", "show"], "the following arguments are required: id"),
    (["sessions"], "the following arguments are required: action"),
    (["tokens", "list", "--status", "lost"], "invalid choice: 'lost'"),
    (["tokens", "list", "--offset", "-1"], "'-1' is not a whole number"),
    (["tokens", "block"], "required: uid"),
    (["tokens", "add", "NEW", "--status", "maybe"], "invalid choice: 'maybe'"),
    (["tokens", "group", "CARD"], "give a GROUP"),
    (["charge-points", "add", "CP9", "--evse", "x=DE*ABC*E9"], "NUMBER=EVSEID"),
    (["charge-points", "list", "--json", "yes"], "unrecognized arguments: yes"),
    (["firmware", "jobs", "--kind", "config"], "invalid choice: 'config'"),
    (["firmware", "jobs", "--limit", "-1"], "'-1' is not a whole number"),
    (["tokens", "add", "NUL\x00CARD"], "a value cannot be used"),  # the database refuses it
    (["tariffs", "costs", "--session", "nonsense"], "'nonsense' is not an id"),
    (["tariffs", "costs", "--limit", "0"], "'0' is not a whole number"),
    (["device-model", "events", "CP1", "--limit", "0"], "'0' is not a whole number"),
    (["profiles", "composite", "CP1", "--duration", "0"], "--duration positive"),
    (["no-such-command"], "invalid choice: 'no-such-command'"),
]


async def _counts(url: str) -> dict[str, int]:
    conn = await asyncpg.connect(url)
    try:
        return {table: await conn.fetchval(f"SELECT count(*) FROM {table}")
                for table in ("charge_points", "evses", "tokens", "sessions", "charger_jobs")}
    finally:
        await conn.close()


def test_bad_input_is_one_line_exit_2_and_changes_nothing(
        cli_db: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["tokens", "add", "CARD"]) == 0
    before = asyncio.run(_counts(cli_db))
    capsys.readouterr()
    for argv, message in BAD_INPUT:
        try:
            code = main(argv)
        except SystemExit as exit_:  # argparse's own check of the arguments
            code = exit_.code  # type: ignore[assignment]
        captured = capsys.readouterr()
        lines = captured.err.strip().splitlines()
        assert code == 2, (argv, captured.err)
        assert len(lines) == 1 and message in lines[0], (argv, captured.err)
        assert "Traceback" not in captured.err and not captured.out, argv
    assert asyncio.run(_counts(cli_db)) == before

