"""`process.event_loop`: asyncio by default, uvloop when chosen, a clear refusal when it is not installed."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest
from websockets.asyncio.client import connect

from csms import runtime
from csms.config import ConfigError, load_settings
from csms.domain.charge_points import register
from csms.memory import YOUNG_THRESHOLD
from tests.support import ROOT, free_port


async def _loop_name() -> str:
    await asyncio.sleep(0)
    return runtime.running_loop_name()


def test_asyncio_is_the_default() -> None:
    assert load_settings(environ={}).process.event_loop == "asyncio"
    assert runtime.run(_loop_name()) == "asyncio"


def test_uvloop_runs_when_chosen() -> None:
    settings = load_settings(environ={"CSMS_PROCESS_EVENT_LOOP": "uvloop"})
    assert runtime.run(_loop_name(), settings.process.event_loop) == "uvloop"


def test_an_unknown_loop_is_a_setting_error() -> None:
    with pytest.raises(ConfigError, match="EVENT_LOOP = .trio.: expected one of asyncio, uvloop"):
        load_settings(environ={"CSMS_PROCESS_EVENT_LOOP": "trio"})


def test_uvloop_chosen_but_not_installed_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # what `import uvloop` meets without it
    with pytest.raises(ConfigError, match=r"uvloop is not installed: pip install 'csms\[uvloop\]'"):
        runtime.run(_loop_name(), "uvloop")


def test_csms_run_says_so_in_one_line_without_uvloop(tmp_path: Path) -> None:
    """Before anything starts (no database is needed to be told)."""
    hide = tmp_path / "sitecustomize.py"
    hide.write_text("import sys\nsys.modules['uvloop'] = None\n")
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}",
           "CSMS_PROCESS_EVENT_LOOP": "uvloop",
           "CSMS_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}
    done = subprocess.run([sys.executable, "-m", "csms", "run"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        "configuration error: process.event_loop is \"uvloop\" but uvloop is not installed: "
        "pip install 'csms[uvloop]' (or choose \"asyncio\")"]


async def test_csms_run_on_uvloop_serves_a_charger(db_url: str) -> None:
    """The whole node on uvloop: it says which loop it runs, and a charger's boot is accepted."""
    await register_cp(db_url)
    ocpp_port, api_port = free_port(), free_port()
    env = {**os.environ, "CSMS_DATABASE_URL": db_url, "CSMS_LOG_LEVEL": "info",
           "CSMS_LOG_FORMAT": "json", "CSMS_PROCESS_EVENT_LOOP": "uvloop",
           "CSMS_OCPP_HOST": "127.0.0.1", "CSMS_OCPP_PORT": str(ocpp_port),
           "CSMS_OCPP_ALLOW_UNAUTHENTICATED": "true", "CSMS_OCPP_METER_VALUE_INTERVAL": "0",
           "CSMS_API_HOST": "127.0.0.1", "CSMS_API_PORT": str(api_port)}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "csms", "run", cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    assert process.stdout is not None
    try:
        running = None
        while running is None:
            line = await asyncio.wait_for(process.stdout.readline(), 60)
            assert line, "csms run ended before it was running"
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if record.get("event") == "csms running":
                running = record
        assert running["event_loop"] == "uvloop"
        assert running["gc_threshold"] == list(YOUNG_THRESHOLD)  # csms.memory's, not Python's
        async with connect(f"ws://127.0.0.1:{ocpp_port}/ocpp/UV1",
                           subprotocols=["ocpp1.6"]) as ws:  # type: ignore[list-item]
            await ws.send(json.dumps([2, "1", "BootNotification",
                                      {"chargePointVendor": "V", "chargePointModel": "M"}]))
            answer = json.loads(await asyncio.wait_for(ws.recv(), 30))
        assert answer[:2] == [3, "1"] and answer[2]["status"] == "Accepted"
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), 60)


async def register_cp(db_url: str) -> None:
    pool = await asyncpg.create_pool(db_url, min_size=1, max_size=1)
    try:
        await register(pool, "UV1", None, {1: "DE*ABC*E0001*1"}, security_profile=0)
    finally:
        await pool.close()
