"""Helpers for tests: the admin API client, polling, URLs, the repository's root."""

from __future__ import annotations

import asyncio
import random
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

from bridge.ocpi.handshake.credentials import our_party
from bridge.ocpi.handshake.partners import Party, issue_token_a
from csms.app import App
from simulators.partners.emsp import SimulatedEmsp
from simulators.partners.hubject import SimulatedHubject

# the repository, wherever a test module sits below tests/
ROOT = Path(__file__).resolve().parents[1]
API_TOKEN = "test-token"


class Api:
    """The admin API over real HTTP."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.http = aiohttp.ClientSession(headers={"Authorization": f"Bearer {API_TOKEN}"})

    async def request(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        async with self.http.request(method, self.base + path, **kwargs) as response:
            return response.status, await response.json()

    async def get(self, path: str, **kwargs: Any) -> Any:
        status, data = await self.request("GET", path, **kwargs)
        assert status == 200, (status, data)
        return data

    async def items(self, path: str, **kwargs: Any) -> Any:
        """A list's items (one page: every list answers items, limit, offset, total)."""
        page = await self.get(path, **kwargs)
        assert set(page) == {"items", "limit", "offset", "total"}, page
        return page["items"]

    async def post(self, path: str, json: Any = None) -> tuple[int, Any]:
        return await self.request("POST", path, json=json)


def ws_url(app: App) -> str:
    return f"ws://127.0.0.1:{app.ocpp.port}/ocpp"


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 30.0,
                     interval: float = 0.05) -> Any:
    """Poll until check() returns something truthy; the last value is returned. The deadline is
    generous: a machine busy with other work is slow, not wrong, and a pass returns at once."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        value = await check()
        if value:
            return value
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s (last value {value!r})")
        await asyncio.sleep(interval)


def oicp_settings(hubject: SimulatedHubject, **overrides: Any) -> dict[str, Any]:
    """OICP switched on, talking plain HTTP to the simulated Hubject, retrying fast. The request
    timeout stays the default: a stand-in slowed by a busy machine must not look like a lost answer."""
    return {"enabled": True, "base_url": hubject.base_url, "allow_plain_http": True,
            "operator_id": "DE*ABC", "operator_name": "ABC Charging", "retry_base_delay": 0.05,
            "retry_max_delay": 0.2, "listen_host": "127.0.0.1", "listen_port": 0, **overrides}


def _local_port_range() -> tuple[int, int]:
    """The ports the kernel hands out to outgoing connections (and to bind(0))."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999  # Linux's default


def free_port() -> int:
    """A port nobody listens on now, for servers that must announce their URL before they start.
    Below the kernel's range for outgoing connections: a port from bind(0) is in that range, and
    between the probe and the server's own bind any connection (one to PostgreSQL, another test
    worker's) could be given it (seen: "address already in use" for a node's OICP port)."""
    low, _ = _local_port_range()
    for _ in range(200):
        port = random.randrange(max(1024, low - 12000), low)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as probe:  # that stretch all taken: any the kernel gives
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def ocpi_settings(**overrides: Any) -> dict[str, Any]:
    """OCPI switched on, retrying fast. The partner stand-ins listen on 127.0.0.1, so requests to
    private addresses are allowed (tests of that rule set allow_private_addresses=False)."""
    port = free_port()
    return {"enabled": True, "listen_host": "127.0.0.1", "listen_port": port,
            "public_url": f"http://127.0.0.1:{port}", "country_code": "DE", "party_id": "ABC",
            "business_name": "ABC Charging", "retry_base_delay": 0.05, "retry_max_delay": 0.2,
            "allow_private_addresses": True, **overrides}


def parties_of(emsp: SimulatedEmsp) -> list[Party]:
    """What the operator binds a simulated eMSP to (--party): its own party."""
    return [Party(emsp.country_code, emsp.party_id)]


async def issue_token(app: App, token_a: str, emsp: SimulatedEmsp, name: str = "sim") -> int:
    """A Token A for the simulated eMSP's party, as `csms ocpi issue-token --party` issues it."""
    return await issue_token_a(app.pool, token_a, name, "base64", parties_of(emsp),
                               our_party(app.settings.ocpi))


async def ocpi_pushes_queued(app: App) -> None:
    """Every OCPI partner's full push (due from its registration) is queued, and the full pull of
    its token list done: neither changes anything more."""
    await eventually(lambda: app.pool.fetchval(
        "SELECT NOT EXISTS (SELECT 1 FROM ocpi_partners WHERE sync_stage IS NOT NULL)"))
    await ocpi_pulls_done(app)


async def ocpi_pulls_done(app: App) -> None:
    """No registered OCPI partner's full token pull (due from its registration) is due or under
    way: what is pushed from now on is not overtaken by it."""
    await eventually(lambda: app.pool.fetchval(
        """SELECT NOT EXISTS (SELECT 1 FROM ocpi_token_pulls t JOIN ocpi_partners p
                              ON p.id = t.partner_id AND p.status = 'registered'
                              WHERE t.full_asked_at IS NOT NULL OR t.claimed_by IS NOT NULL)"""))
