"""Which addresses our requests may reach: the rule, table-driven; redirects to loopback refused."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import structlog
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult

from bridge import egress
from bridge.ocpi.client import OcpiClient, OcpiError
from csms.config import OcpiSettings, Settings
from csms.security import exposure


@pytest.mark.parametrize(("address", "kind"), [
    ("127.0.0.1", "a loopback address"),
    ("127.8.9.10", "a loopback address"),
    ("::1", "a loopback address"),
    ("::ffff:127.0.0.1", "a loopback address"),  # IPv4-mapped
    ("64:ff9b::7f00:1", "a loopback address"),  # NAT64 of 127.0.0.1
    ("2002:7f00:1::", "a loopback address"),  # 6to4 of 127.0.0.1
    ("0.0.0.0", "an unspecified address"),
    ("::", "an unspecified address"),
    ("10.1.2.3", "a private address"),
    ("172.16.0.1", "a private address"),
    ("172.31.255.254", "a private address"),
    ("192.168.1.1", "a private address"),
    ("fc00::1", "a private address"),
    ("fd12:3456::1", "a private address"),
    ("169.254.169.254", "a link-local address"),  # cloud metadata
    ("fe80::1", "a link-local address"),
    ("fe80::1%eth0", "a link-local address"),
    ("224.0.0.1", "a multicast address"),
    ("239.255.255.250", "a multicast address"),
    ("ff02::1", "a multicast address"),
    ("240.0.0.1", "a reserved address"),
    ("255.255.255.255", "a reserved address"),  # broadcast
    ("100.64.0.1", "not a public address"),  # carrier-grade NAT
    ("192.0.2.2", "a private address"),  # documentation (TEST-NET-1)
    ("8.8.8.8", None),
    ("93.184.215.14", None),
    ("2606:4700:4700::1111", None),
    ("::ffff:8.8.8.8", None),
])
def test_refusal(address: str, kind: str | None) -> None:
    assert egress.refusal(address) == kind


@pytest.mark.parametrize(("host", "refused"), [
    ("127.0.0.1", True), ("[::1]", True), ("[::ffff:10.0.0.1]", True), ("", True), (None, True),
    ("8.8.8.8", False), ("partner.example", False), ("localhost", False),  # names: once resolved
])
def test_literal_refusal(host: str | None, refused: bool) -> None:
    assert (egress.literal_refusal(host) is not None) == refused


class Recorder:
    """A real HTTP server on 127.0.0.1 that records every request it gets. Its answers: a
    redirect for /redirect?to=URL, `status` with `body` for anything else."""

    def __init__(self, status: int = 200, body: str = '{"secret": "INTERNAL-ONLY-3b9f"}') -> None:
        self.status = status
        self.body = body
        self.hits: list[str] = []
        self.port = 0
        self._runner: web.AppRunner | None = None

    async def start(self) -> Recorder:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def url(self, path: str = "/", host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    async def _handle(self, request: web.Request) -> web.Response:
        self.hits.append(request.path)
        if request.path == "/redirect":
            raise web.HTTPFound(request.query["to"])
        return web.Response(status=self.status, text=self.body, content_type="application/json")


@pytest.fixture
async def recorder() -> AsyncIterator[Recorder]:
    server = await Recorder().start()
    yield server
    await server.stop()


class Names(AbstractResolver):
    """The test's name service: partner.test is the stand-in on 127.0.0.1, as if it were a
    partner on the internet; every other name goes to `public`, the resolver we ship."""

    def __init__(self, public: AbstractResolver) -> None:
        self.public = public

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        if host == "partner.test":
            return [{"hostname": host, "host": "127.0.0.1", "port": port,
                     "family": socket.AF_INET, "proto": 0, "flags": socket.AI_NUMERICHOST}]
        return await self.public.resolve(host, port, family)

    async def close(self) -> None:
        await self.public.close()


class Fixed(AbstractResolver):
    """Every name has these addresses."""

    def __init__(self, *addresses: str) -> None:
        self.addresses = addresses

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        return [{"hostname": host, "host": address, "port": port, "family": socket.AF_INET,
                 "proto": 0, "flags": 0} for address in self.addresses]

    async def close(self) -> None:
        pass


async def test_only_public_addresses_of_a_name_are_connected_to() -> None:
    mixed = egress.PublicResolver(Fixed("10.0.0.7", "8.8.8.8", "127.0.0.1"))
    assert [r["host"] for r in await mixed.resolve("partner.example", 443)] == ["8.8.8.8"]
    with pytest.raises(egress.Refused, match="a loopback address and a private address"):
        await egress.PublicResolver(Fixed("127.0.0.1", "192.168.0.2")).resolve("x.example")


@pytest.mark.parametrize("allowed", [True, False])
def test_the_relaxation_warns_at_start(allowed: bool) -> None:
    settings = Settings()
    settings.ocpi = OcpiSettings(enabled=True, allow_private_addresses=allowed)
    with structlog.testing.capture_logs() as logs:
        exposure.warn_relaxations(settings)
    warned = [e for e in logs if e["log_level"] == "warning"
              and e.get("setting") == "ocpi.allow_private_addresses"]
    assert bool(warned) == allowed


@pytest.fixture
async def client() -> AsyncIterator[OcpiClient]:
    ours = OcpiClient(OcpiSettings(enabled=True, request_timeout=30.0),
                      Names(egress.PublicResolver(aiohttp.DefaultResolver())))
    await ours.start()
    yield ours
    await ours.stop()


async def _get(client: OcpiClient, url: str) -> Any:
    return await client.call("GET", url, "token", "base64")


async def test_redirects_to_loopback_are_refused(client: OcpiClient, recorder: Recorder) -> None:
    partner = recorder.url("/redirect", host="partner.test")
    # A partner (here by name) is reached, and its redirects followed, to public addresses...
    with pytest.raises(OcpiError) as answered:
        await _get(client, f"{partner}?to={recorder.url('/allowed', host='partner.test')}")
    assert "HTTP 200, not an OCPI answer" in str(answered.value)
    assert recorder.hits == ["/redirect", "/allowed"]
    # ... but not to loopback: by address, nor by a name that resolves to it.
    for target in (recorder.url("/by-address"), recorder.url("/by-name", host="localhost"),
                   recorder.url("/by-address-v6", host="[::ffff:127.0.0.1]")):
        with pytest.raises(OcpiError) as refused:
            await _get(client, f"{partner}?to={target}")
        assert "loopback" in str(refused.value), refused.value
    assert recorder.hits == ["/redirect", "/allowed"] + ["/redirect"] * 3
    # The first request is judged the same way.
    for target in (recorder.url("/direct"), recorder.url("/direct", host="localhost")):
        with pytest.raises(OcpiError) as refused:
            await _get(client, target)
        assert "not a partner we send to" in str(refused.value)
    # Old numeric forms of 127.0.0.1 do not slip through either.
    for host in ("127.1", "2130706433", "0x7f000001"):
        with pytest.raises(OcpiError):
            await _get(client, recorder.url("/direct", host=host))
    assert "/direct" not in recorder.hits


async def test_a_push_to_a_refused_address_is_not_retried(client: OcpiClient,
                                                          recorder: Recorder) -> None:
    """A partner's module endpoint (or a response_url) on loopback: failed for good, not sent."""
    delivery = await client.deliver("POST", recorder.url("/cdrs", host="localhost"), "token",
                                    "base64", {}, None)
    assert (delivery.ok, delivery.retry) == (False, False)
    assert "a loopback address" in str(delivery.error)
    assert recorder.hits == []
