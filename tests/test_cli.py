"""The csms command: migrate, register and list charge points, add tokens."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from pathlib import Path

import asyncpg
import pytest

from csms.cli import main
from tests.conftest import admin, with_database


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
    line = capsys.readouterr().out.strip()
    assert line.startswith("CP1\toffline")
    assert "1=DE*ABC*E0001*1:unknown 2=-:unknown" in line


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
    sites = Path(__file__).resolve().parents[1] / "simulators" / "demo" / "sites.toml"
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
    assert main(["ocpi", "issue-token", "--name", "acme"]) == 0
    out = capsys.readouterr().out
    assert "Token A" in out and "/ocpi/versions" in out
    assert main(["ocpi", "partners"]) == 0
    assert "\tpending\tacme\t" in capsys.readouterr().out
    assert main(["ocpi", "register", "http://127.0.0.1:9/ocpi/versions", "tokenA"]) == 1
    assert "failed" in capsys.readouterr().err
    assert main(["ocpi", "unregister", "99"]) == 1


def test_tariffs_load_and_delete(cli_database: None, capsys: pytest.CaptureFixture[str],
                                 tmp_path: Path) -> None:
    demo = Path(__file__).resolve().parents[1] / "simulators" / "demo" / "tariffs.json"
    assert main(["tariffs", "load", str(demo)]) == 0
    assert main(["tariffs", "load", str(demo)]) == 0
    assert capsys.readouterr().out.splitlines() == ["1 of 1 tariff(s) new or changed",
                                                    "0 of 1 tariff(s) new or changed"]
    bad = tmp_path / "bad.json"
    bad.write_text('[{"id": "X", "currency": "EURO", "elements": []}]')
    assert main(["tariffs", "load", str(bad)]) == 2
    assert "currency" in capsys.readouterr().err
    assert main(["tariffs", "delete", "AC-STANDARD"]) == 0
