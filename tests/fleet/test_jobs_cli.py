"""`csms firmware` and `csms logs`: jobs queued for the running csms, listed, shown; bad input is one line."""

from __future__ import annotations

import json

import pytest

from csms.operator.command_line.cli import main
from tests.operators.test_cli import cli_database  # noqa: F401  # the fixture

URL = "https://firmware.example.com/v2.bin"


def test_firmware_and_logs_commands(cli_database: None,  # noqa: F811
                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["migrate"]) == 0
    assert main(["charge-points", "add", "CP1", "--no-password"]) == 0
    assert main(["charge-points", "add", "CP2", "--no-password"]) == 0
    capsys.readouterr()

    assert main(["firmware", "update", "CP1", "CP2", "--location", URL,
                 "--max-concurrent", "1", "--offline-policy", "fail", "--retries", "2"]) == 0
    assert capsys.readouterr().out.strip() == \
        "rollout 1: 2 job(s) queued; the running csms sends them"
    assert main(["logs", "get", "CP1", "--location", "ftp://logs.example.com/",
                 "--type", "security"]) == 0
    capsys.readouterr()

    assert main(["firmware", "jobs", "--rollout", "1", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [(r["charge_point_id"], r["kind"], r["state"]) for r in rows] == [
        ("CP2", "firmware", "queued"), ("CP1", "firmware", "queued")]
    assert main(["firmware", "job", "3"]) == 0
    job = json.loads(capsys.readouterr().out)
    assert (job["kind"], job["parameters"]["log_type"]) == ("log", "security")
    assert main(["firmware", "rollout", "1"]) == 0
    rollout = json.loads(capsys.readouterr().out)
    assert (rollout["max_concurrent"], rollout["offline_policy"], rollout["queued"]) == \
        (1, "fail", 2)

    for argv, code, message in [
        (["firmware", "update", "NOPE", "--location", URL], 1, "unknown charge points: NOPE"),
        (["firmware", "update", "--location", URL], 1, "no charge points given"),
        (["firmware", "update", "CP1", "--location", "file:///x"], 2, "absolute URL"),
        (["firmware", "update", "CP1", "--location", URL, "--signature", "S"], 2, "both"),
        (["firmware", "update", "CP1", "--location", URL, "--max-concurrent", "0"], 2,
         "'max_concurrent'"),
        (["firmware", "job", "99"], 1, "no job 99"),
    ]:
        assert main(argv) == code, argv
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, (argv, err)
