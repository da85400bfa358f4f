"""The csms command: migrate, register and list charge points, add tokens."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import asyncpg
import pytest

from csms.config import reference
from csms.operator.command_line.cli import main
from tests.conftest import admin, with_database
from tests.support import ROOT, free_port


@pytest.fixture
def cli_database(server_url: str, template_database: str, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    name = f"csms_cli_{uuid.uuid4().hex[:12]}"
    asyncio.run(admin(server_url, f"CREATE DATABASE {name}"))  # empty: `csms migrate` fills it
    monkeypatch.setenv("CSMS_DATABASE_URL", with_database(server_url, name))
    monkeypatch.setenv("CSMS_LOG_LEVEL", "warning")
    yield
    asyncio.run(admin(server_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


def test_migrate_add_and_list(cli_database: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["migrate"]) == 0
    assert "0001_core.sql" in capsys.readouterr().out
    assert main(["migrate"]) == 0
    assert "up to date" in capsys.readouterr().out

    assert main(["charge-points", "add", "CP1", "--evse", "1=DE*ABC*E0001*1", "--evse", "2",
                 "--password", "secret-pw", "--security-profile", "2"]) == 0
    assert main(["tokens", "add", "CARD"]) == 0
    capsys.readouterr()
    assert main(["charge-points", "list"]) == 0
    header, line = capsys.readouterr().out.splitlines()
    assert header.split()[:2] == ["ID", "STATE"] and line.split()[:2] == ["CP1", "offline"]
    assert line.endswith("1=DE*ABC*E0001*1:unknown 2=-:unknown")


def test_a_charger_without_a_password_is_registered_so_explicitly(
        cli_database: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["migrate"]) == 0
    assert main(["charge-points", "add", "CP1"]) == 0
    assert "CP1 has no password, so it is refused" in capsys.readouterr().err
    assert main(["charge-points", "add", "CP0", "--no-password"]) == 0
    assert "refused" not in capsys.readouterr().err
    assert main(["charge-points", "add", "CP2", "--no-password", "--password", "secret-pw"]) == 2

    async def profiles() -> dict[str, int]:
        conn = await asyncpg.connect(os.environ["CSMS_DATABASE_URL"])
        try:
            rows = await conn.fetch("SELECT id, security_profile FROM charge_points")
        finally:
            await conn.close()
        return {row["id"]: row["security_profile"] for row in rows}
    assert asyncio.run(profiles()) == {"CP0": 0, "CP1": 1}


def test_bad_evse_option_is_explained(cli_database: None, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["charge-points", "add", "CP1", "--evse", "x=DE*ABC*E1"]) == 2
    assert "NUMBER=EVSEID" in capsys.readouterr().err


def test_config_errors_are_reported(monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CSMS_OCPP_PORT", "not-a-port")
    assert main(["migrate"]) == 2
    assert "CSMS_OCPP_PORT" in capsys.readouterr().err


async def _outbox(url: str) -> list[tuple[str, str]]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT operation, body FROM outbox ORDER BY id")
    finally:
        await conn.close()
    return [(row["operation"], json.loads(row["body"])["ActionType"]) for row in rows]


def test_sites_retire_and_oicp_pushes(cli_database: None, monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    for key, value in (("ENABLED", "true"), ("ALLOW_PLAIN_HTTP", "true"),
                       ("BASE_URL", "http://127.0.0.1:9")):
        monkeypatch.setenv(f"CSMS_OICP_{key}", value)
    sites = ROOT / "simulators" / "demo" / "sites.toml"
    assert main(["charge-points", "add", "CP1", "--evse", "1=DE*ABC*E0001*1",
                 "--evse", "2=DE*ABC*E0001*2"]) == 0
    assert main(["sites", "load", str(sites)]) == 0
    assert main(["charge-points", "retire", "CP1", "--evse", "2"]) == 0
    assert main(["oicp", "push-evse-data", "--full"]) == 0
    assert main(["oicp", "push-evse-status"]) == 0
    assert "queued full load of 1 EVSE(s)" in capsys.readouterr().out
    assert asyncio.run(_outbox(os.environ["CSMS_DATABASE_URL"])) == [
        ("PushEvseData", "insert"), ("PushEvseData", "delete"), ("PushEvseData", "fullLoad"),
        ("PushEvseStatus", "fullLoad")]

    bad = tmp_path / "bad.toml"
    bad.write_text('[[site]]\nid = "x"\nname = "No address"\n')
    assert main(["sites", "load", str(bad)]) == 2
    assert "missing" in capsys.readouterr().err
    monkeypatch.setenv("CSMS_OICP_ALLOW_PLAIN_HTTP", "false")
    assert main(["oicp", "push-evse-data"]) == 2
    assert "allow_plain_http" in capsys.readouterr().err
    monkeypatch.setenv("CSMS_OICP_ENABLED", "false")
    assert main(["oicp", "push-evse-data"]) == 2


def test_ocpi_issue_token_and_partners(cli_database: None, monkeypatch: pytest.MonkeyPatch,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ocpi", "partners"]) == 2  # not enabled
    monkeypatch.setenv("CSMS_OCPI_ENABLED", "true")
    assert main(["ocpi", "issue-token", "--name", "acme", "--party", "nl*ems",
                 "--party", "EMSP:BE*EM2"]) == 0
    out = capsys.readouterr().out
    assert "Token A" in out and "/ocpi/versions" in out
    assert main(["ocpi", "partners", "--json"]) == 0
    (listed,) = json.loads(capsys.readouterr().out)
    assert (listed["status"], listed["name"], listed["parties"]) == (
        "pending", "acme", ["EMSP:BE*EM2", "NL*EMS"])
    # The parties are bound: to one partner only, never ours (DE*ABC by default), well formed.
    for party, reason in (("NL*EMS", "bound to partner 1"), ("de*abc", "our own party"),
                          ("NLEMS", "COUNTRY*PARTY")):
        assert main(["ocpi", "issue-token", "--party", party]) in (1, 2)
        assert reason in capsys.readouterr().err
    assert main(["ocpi", "partners"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2  # a header and one: the refused left nothing
    assert main(["ocpi", "register", "http://127.0.0.1:9/ocpi/versions", "tokenA",
                 "--party", "FR*XYZ"]) == 1
    assert "failed" in capsys.readouterr().err
    assert main(["ocpi", "unregister", "99"]) == 1


def test_tariffs_load_and_delete(cli_database: None, capsys: pytest.CaptureFixture[str],
                                 tmp_path: Path) -> None:
    demo = ROOT / "simulators" / "demo" / "tariffs.json"
    assert main(["tariffs", "load", str(demo)]) == 0
    assert main(["tariffs", "load", str(demo)]) == 0
    assert capsys.readouterr().out.splitlines() == ["1 of 1 tariff(s) new or changed",
                                                    "0 of 1 tariff(s) new or changed"]
    bad = tmp_path / "bad.json"
    bad.write_text('[{"id": "X", "currency": "EURO", "elements": []}]')
    assert main(["tariffs", "load", str(bad)]) == 2
    assert "currency" in capsys.readouterr().err
    # Withdrawn only when nothing is priced by it any more, as through the API.
    assert main(["tariffs", "assign", "AC-STANDARD"]) == 0
    capsys.readouterr()
    assert main(["tariffs", "delete", "AC-STANDARD"]) == 1
    assert "assign" in capsys.readouterr().err
    assert main(["tariffs", "unassign"]) == 0
    assert main(["tariffs", "delete", "AC-STANDARD"]) == 0
    capsys.readouterr()
    assert main(["tariffs", "delete", "AC-STANDARD"]) == 1
    assert "no tariff 'AC-STANDARD'" in capsys.readouterr().err


# --- failures an operator can fix are one line on stderr, from `csms` as a subprocess ------------

def csms(*args: str, cwd: Path | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    """`python -m csms ARGS` with only the CSMS_* variables given here."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CSMS_")}
    return subprocess.run([sys.executable, "-m", "csms", *args], cwd=cwd or ROOT,
                          env={**clean, **env}, capture_output=True, text=True, timeout=120)


def one_line(result: subprocess.CompletedProcess[str], code: int) -> str:
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_a_management_command_elsewhere_makes_no_database(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "csms.toml").write_text('[database]\ndata_dir = "pgdata"\n')
    for how in ({"CSMS_CONFIG": str(tmp_path / "etc" / "csms.toml")}, {}):
        args = () if how else ("--config", "etc/csms.toml")  # relative to where it is typed
        for command in (["charge-points", "list"], ["tokens", "add", "CARD"]):
            line = one_line(csms(*command, *args, cwd=tmp_path, **how), 1)
            assert line.startswith(f"error: no database in {tmp_path / 'etc' / 'pgdata'}: ")
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["csms.toml", "etc"]


def test_run_from_elsewhere_uses_the_checkouts_config(tmp_path: Path) -> None:
    result = csms("settings", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == reference((ROOT / "config.toml").read_text())


@pytest.mark.parametrize("command", [["migrate"], ["run"], ["charge-points", "list"],
                                     ["tariffs", "list"]])
def test_a_database_that_is_not_there_is_one_line(command: list[str], server_url: str) -> None:
    nobody = f"postgresql://postgres@127.0.0.1:{free_port()}/csms"
    line = one_line(csms(*command, CSMS_DATABASE_URL=nobody), 1)
    assert line.startswith(f"error: database {nobody} unreachable: ")
    missing = with_database(server_url, "csms_no_such_database")
    line = one_line(csms(*command, CSMS_DATABASE_URL=missing), 1)
    assert line.endswith('unreachable: database "csms_no_such_database" does not exist')
    line = one_line(csms(*command, CSMS_DATABASE_URL="postgresql://u:secret@db:port/x"), 2)
    assert line == ("configuration error: CSMS_DATABASE_URL = 'postgresql://u:***@db:port/x': "
                    "bad port in URL: Port could not be cast to integer value as 'port'")


@pytest.mark.parametrize("server", ["OCPP", "API", "OICP", "OCPI"])
def test_a_port_in_use_is_named(server: str, cli_database: None) -> None:
    env = {"CSMS_DATABASE_URL": os.environ["CSMS_DATABASE_URL"], "CSMS_LOG_LEVEL": "warning",
           "CSMS_OICP_ENABLED": "true", "CSMS_OICP_ALLOW_PLAIN_HTTP": "true",
           "CSMS_OICP_BASE_URL": "http://127.0.0.1:9", "CSMS_OCPI_ENABLED": "true",
           "CSMS_OCPP_HOST": "127.0.0.1", "CSMS_API_HOST": "127.0.0.1",
           "CSMS_OICP_LISTEN_HOST": "127.0.0.1", "CSMS_OCPI_LISTEN_HOST": "127.0.0.1",
           "CSMS_OCPP_PORT": "0", "CSMS_API_PORT": "0", "CSMS_OICP_LISTEN_PORT": "0",
           "CSMS_OCPI_LISTEN_PORT": "0"}
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        key = {"OCPP": "CSMS_OCPP_PORT", "API": "CSMS_API_PORT", "OICP": "CSMS_OICP_LISTEN_PORT",
               "OCPI": "CSMS_OCPI_LISTEN_PORT"}[server]
        line = one_line(csms("run", **{**env, key: str(port)}), 1)
    assert line == f"error: {server} server cannot listen on 127.0.0.1:{port}: address already in use"


def test_bad_config_files_and_variables_are_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[ocpp]\nport = 9000\nhost = 0.0.0.0\n')
    line = one_line(csms("charge-points", "list", "--config", str(bad)), 2)
    assert line.startswith(f"configuration error: {bad}: malformed TOML: ")
    assert "line 3" in line
    line = one_line(csms("run", CSMS_CONFIG=str(tmp_path / "nowhere.toml")), 2)
    assert line == f"configuration error: config file {tmp_path / 'nowhere.toml'} does not exist"
    line = one_line(csms("migrate", CSMS_OCPP_PROT="9100"), 2)
    assert line == ("configuration error: unknown environment variable CSMS_OCPP_PROT "
                    "(did you mean CSMS_OCPP_PORT?)")
    line = one_line(csms("run", CSMS_OCPP_BOOT_STATUS="maybe"), 2)
    assert line.endswith("expected one of Accepted, Pending, Rejected")
