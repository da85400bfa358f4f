"""The test run's embedded PostgreSQL (no CSMS_TEST_DATABASE_URL): each run its own, gone at its end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from tests.support import ROOT

# A run of one test that only notes where its server lives: its data directory and postmaster.
INNER = '''
import json, os
from pathlib import Path

import asyncpg


async def test_note_the_server(server_url):
    conn = await asyncpg.connect(server_url)
    try:
        data_dir = await conn.fetchval("SHOW data_directory")
    finally:
        await conn.close()
    pid = int((Path(data_dir) / "postmaster.pid").read_text().split()[0])
    Path(os.environ["NOTE"]).write_text(json.dumps({"data_dir": data_dir, "pid": pid}))
'''


def _alive(pid: int) -> bool:
    # A stopped server may stay a zombie until its parent, init, reaps it: that is not running.
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.mark.timeout(300)
def test_each_run_starts_its_own_server_and_stops_it(tmp_path: Path) -> None:
    inner = tmp_path / "test_inner.py"
    inner.write_text(INNER)
    env = {k: v for k, v in os.environ.items() if k != "CSMS_TEST_DATABASE_URL"}
    # Two runs at once, as two checkouts on one machine would do.
    runs = [(subprocess.Popen(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-c", str(ROOT / "pyproject.toml"),
         "-p", "tests.conftest", str(inner)], cwd=ROOT, env={**env, "NOTE": str(tmp_path / name)},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True), tmp_path / name)
        for name in ("first.json", "second.json")]
    noted = []
    for process, note in runs:
        output, _ = process.communicate(timeout=240)
        assert process.returncode == 0, output
        noted.append(json.loads(note.read_text()))
    assert noted[0]["data_dir"] != noted[1]["data_dir"]
    for server in noted:
        assert not _alive(server["pid"])  # stopped ...
        assert not Path(server["data_dir"]).exists()  # ... and its data deleted
