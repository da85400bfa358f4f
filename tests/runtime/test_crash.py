"""SIGKILL mid-session: the real `csms run` process dies and comes back; nothing is lost or doubled."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import tempfile
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import asyncpg
import pytest

from bridge import outbox
from csms.domain.charge_points import register
from simulators.chargepoint import SimConfig, SimulatedChargePoint
from simulators.chargepoint16 import ChargePoint16
from simulators.chargepoint201 import ChargePoint201
from simulators.partners.hubject import SimulatedHubject
from tests.oicp.test_oicp_roaming import CDR, _async, remote_start_body
from tests.support import ROOT, eventually, free_port


class Server:
    """`python -m csms run` as a separate process, on fixed ports so chargers find it again."""

    def __init__(self, db_url: str, hubject: SimulatedHubject, **env: str) -> None:
        self.ocpp_port, self.api_port, self.oicp_port = free_port(), free_port(), free_port()
        self.env = {**os.environ, "CSMS_DATABASE_URL": db_url, "CSMS_LOG_LEVEL": "warning",
                    "CSMS_OCPP_HOST": "127.0.0.1", "CSMS_OCPP_PORT": str(self.ocpp_port),
                    "CSMS_API_HOST": "127.0.0.1", "CSMS_API_PORT": str(self.api_port),
                    "CSMS_OICP_ENABLED": "true", "CSMS_OICP_BASE_URL": hubject.base_url,
                    "CSMS_OICP_ALLOW_PLAIN_HTTP": "true", "CSMS_OICP_LISTEN_HOST": "127.0.0.1",
                    "CSMS_OICP_LISTEN_PORT": str(self.oicp_port),
                    "CSMS_OICP_RETRY_BASE_DELAY": "0.05", "CSMS_OICP_RETRY_MAX_DELAY": "0.2",
                    **env}
        self.process: asyncio.subprocess.Process | None = None
        self.output = tempfile.TemporaryFile()  # its warnings, to tell why if it will not stop

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "csms", "run", cwd=ROOT, env=self.env,
            stdout=self.output, stderr=self.output)
        async with aiohttp.ClientSession() as http:
            async def ready() -> bool:
                assert self.process is not None
                if self.process.returncode is not None:  # it died: why, not a wait
                    self.output.seek(0)
                    raise AssertionError(f"csms run exited {self.process.returncode}: "
                                         f"{self.output.read().decode(errors='replace')[-2000:]}")
                try:
                    async with http.get(f"http://127.0.0.1:{self.api_port}/readyz") as response:
                        return response.status == 200
                except aiohttp.ClientError:
                    return False
            # A start on a machine busy with other processes' starts can take a while.
            await eventually(ready, timeout=90, interval=0.1)

    async def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()

    async def stop(self) -> None:
        """SIGTERM, as an operator's service manager sends it; a server that hangs is an error
        (with its last words), not a test that times out saying nothing."""
        try:
            if self.process is not None and self.process.returncode is None:
                self.process.terminate()
                try:
                    await asyncio.wait_for(self.process.wait(), 60)
                except TimeoutError:
                    self.process.kill()
                    await self.process.wait()
                    self.output.seek(0)
                    last = self.output.read().decode(errors="replace")[-3000:]
                    raise AssertionError(
                        f"csms run did not stop within 60 s of SIGTERM:\n{last}") from None
        finally:
            self.output.close()


async def settled(sim: SimulatedChargePoint, pool: asyncpg.Pool) -> None:
    """Every message of the charger answered and every roaming message delivered: a second CDR,
    if one were made, would have reached Hubject by now."""
    await sim.flush(timeout=30)
    await eventually(lambda: _none_pending(pool))


async def _none_pending(pool: asyncpg.Pool) -> bool:
    return not await outbox.list_messages(pool, "hubject", "pending")


@pytest.fixture
async def pool(db_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(db_url, min_size=1, max_size=2)
    yield pool
    await pool.close()


MAKERS: dict[str, Callable[[SimConfig], SimulatedChargePoint]] = {
    "1.6": ChargePoint16, "2.0.1": ChargePoint201}


@pytest.mark.timeout(300)  # a server started twice, on a busy machine
@pytest.mark.parametrize("protocol", ["1.6", "2.0.1"])
async def test_sigkill_mid_session(db_url: str, pool: asyncpg.Pool, hubject: SimulatedHubject,
                                   protocol: str) -> None:
    await register(pool, "CP1", None, {1: "DE*ABC*E0001*1"}, security_profile=0)
    server = Server(db_url, hubject)
    sim = MAKERS[protocol](SimConfig("CP1", f"ws://127.0.0.1:{server.ocpp_port}/ocpp",
                                     meter_interval=0.2))
    try:
        await server.start()
        await sim.start()
        start = remote_start_body()
        answer = await hubject.remote_start(f"http://127.0.0.1:{server.oicp_port}", start)
        assert answer["Result"] is True, answer
        session_id = answer["CPOPartnerSessionID"]

        async def readings(at_least: int) -> Any:
            count = await pool.fetchval(
                """SELECT count(*) FROM meter_samples WHERE session_id = $1
                   AND measurand = 'Energy.Active.Import.Register'""", session_id)
            return count >= at_least

        await eventually(lambda: readings(3))
        await server.kill()  # no shutdown, no goodbye: mid-write if it so happens
        await asyncio.sleep(1.0)  # the charger meters on, offline
        await sim.stop_local_session(1)  # ... and ends the session while we are gone
        await server.start()
        await sim.flush(timeout=20)

        async def completed() -> bool:
            return await pool.fetchval("SELECT status FROM sessions WHERE id = $1",
                                       session_id) == "completed"
        await eventually(completed)
        row = await pool.fetchrow("SELECT meter_start_wh, meter_stop_wh FROM sessions WHERE id = $1",
                                  session_id)
        assert row["meter_stop_wh"] == sim.meter_wh[1]
        [cdr] = await eventually(lambda: _async(hubject.accepted(CDR)))
        assert cdr.body["SessionID"] == start["SessionID"]
        assert cdr.body["ConsumedEnergy"] == (row["meter_stop_wh"] - row["meter_start_wh"]) / 1000
        await settled(sim, pool)
        assert len(hubject.accepted(CDR)) == 1 and hubject.invalid == []
        duplicates = await pool.fetchval(
            """SELECT count(*) - count(DISTINCT (sampled_at, measurand, phase)) FROM meter_samples
               WHERE session_id = $1""", session_id)
        assert duplicates == 0
    finally:
        await sim.stop()
        await server.stop()
