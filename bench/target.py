"""The systems under test, each a process of its own: `csms run` on a fresh database, and the baseline."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import asyncpg

from bench.load import more_open_files
from csms.storage.database import embedded_url, migrate_url

ROOT = Path(__file__).resolve().parents[1]
def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Database:
    """A fresh database per run on the configured server (CSMS_DATABASE_URL), else embedded."""

    def __init__(self) -> None:
        server = os.environ.get("CSMS_DATABASE_URL") or embedded_url(
            Path(tempfile.gettempdir()) / "csms-bench" / "data")
        self.server_url = server
        self.name = f"csms_bench_{uuid.uuid4().hex[:8]}"
        self.url = urlunsplit(urlsplit(server)._replace(path="/" + self.name))

    async def _admin(self, statement: str) -> None:
        conn = await asyncpg.connect(self.server_url)
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    async def create(self) -> None:
        await self._admin(f"CREATE DATABASE {self.name}")
        await migrate_url(self.url)

    async def drop(self) -> None:
        await self._admin(f"DROP DATABASE IF EXISTS {self.name} WITH (FORCE)")


class Process:
    """A server process on 127.0.0.1; `ready` is a URL that answers once it serves."""

    def __init__(self, args: list[str], env: dict[str, str], port: int, ready: str | None,
                 cwd: Path = ROOT) -> None:
        self.args = args
        self.log: Path | None = None  # where its stderr goes (its log lines), if anywhere
        self.cwd = cwd
        self.env = env
        self.port = port
        self.ready = ready
        self.process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ocpp"

    async def start(self) -> None:
        stderr = os.open(self.log or os.devnull, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        try:
            self.process = await asyncio.create_subprocess_exec(
                *self.args, cwd=self.cwd, env=self.env, preexec_fn=more_open_files,
                stdout=asyncio.subprocess.DEVNULL, stderr=stderr)
        finally:
            os.close(stderr)  # the child holds its own
        deadline = asyncio.get_running_loop().time() + 60
        async with aiohttp.ClientSession() as http:
            while True:
                try:
                    if self.ready is None:
                        _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                        writer.close()
                        return
                    async with http.get(self.ready) as response:
                        if response.status == 200:
                            return
                except (OSError, aiohttp.ClientError):
                    pass
                if asyncio.get_running_loop().time() > deadline or self.process.returncode:
                    raise RuntimeError(f"{self.args} did not start")
                await asyncio.sleep(0.1)

    def cpu_seconds(self) -> float:
        """CPU time (user and system) the server process has used so far."""
        assert self.process is not None
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_kib(self) -> int:
        """Resident memory of the server process now."""
        assert self.process is not None
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 30)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()


def csms(database_url: str, root: Path = ROOT, **settings: str) -> Process:
    """`python -m csms run` with the limits meant for hostile chargers lifted: the load
    generator is one friendly address sending back to back. `root`: another checkout's code
    (`python -m` finds the package in its working directory first)."""
    port, api_port = free_port(), free_port()
    env = {**os.environ, "CSMS_DATABASE_URL": database_url, "CSMS_LOG_LEVEL": "warning",
           "CSMS_OCPP_HOST": "127.0.0.1", "CSMS_OCPP_PORT": str(port),
           "CSMS_API_HOST": "127.0.0.1", "CSMS_API_PORT": str(api_port),
           "CSMS_OCPP_MAX_MESSAGES_PER_SECOND": "0", "CSMS_OCPP_MAX_CONNECTIONS_PER_IP": "0",
           "CSMS_OCPP_METER_VALUE_INTERVAL": "0", "CSMS_DATABASE_POOL_MAX_SIZE": "10",
           **{f"CSMS_{key.upper()}": value for key, value in settings.items()}}
    return Process([sys.executable, "-m", "csms", "run"], env, port,
                   f"http://127.0.0.1:{api_port}/readyz", cwd=root)


def checkout(commit: str, into: Path) -> Path:
    """The tree of a commit of this repository, written out (git archive) to compare with."""
    into.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "archive", "--format=tar", commit], cwd=ROOT, check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def baseline() -> Process:
    port = free_port()
    return Process([sys.executable, "-m", "bench.baseline", "--port", str(port)],
                   dict(os.environ), port, None)


def bare(event_loop: str = "asyncio") -> Process:
    """The floor of this stack: WebSockets and JSON in Python, answering at once (bench/bare.py)."""
    port = free_port()
    return Process([sys.executable, "-m", "bench.bare", "--port", str(port),
                    "--event-loop", event_loop], dict(os.environ), port, None)
