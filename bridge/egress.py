"""Which addresses our requests to partners may reach: public ones only, unless the operator allows more."""

from __future__ import annotations

import ipaddress
import socket

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.client_middlewares import ClientHandlerType
from yarl import URL

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class Refused(aiohttp.ClientOSError):
    """A request we do not send: its target is not a public address."""


def refusal(address: str) -> str | None:
    """Why we send nothing to this IP address (a kind of address, in our words); None: we may."""
    ip: Address = ipaddress.ip_address(address.split("%", 1)[0])  # "%eth0": an IPv6 zone
    if isinstance(ip, ipaddress.IPv6Address):
        # An IPv4 address written as IPv6 (::ffff:127.0.0.1, 64:ff9b::7f00:1 via NAT64,
        # 2002:7f00:1:: via 6to4) reaches that IPv4 address: judge that one.
        embedded = ip.ipv4_mapped or ip.sixtofour or _nat64(ip)
        if embedded is not None:
            ip = embedded
    for kind, matches in (("an unspecified", ip.is_unspecified), ("a loopback", ip.is_loopback),
                          ("a link-local", ip.is_link_local), ("a multicast", ip.is_multicast),
                          ("a reserved", ip.is_reserved), ("a private", ip.is_private)):
        if matches:
            return f"{kind} address"
    if not ip.is_global:  # e.g. 100.64.0.0/10, shared by carriers' NAT
        return "not a public address"
    return None


def _nat64(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip in ipaddress.IPv6Network("64:ff9b::/96"):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def literal_refusal(host: str | None) -> str | None:
    """Why a URL's host, when it is an IP address, is not one we send to; None for names
    (judged once resolved) and allowed addresses."""
    if not host:
        return "no host"
    try:
        return refusal(host.strip("[]"))
    except ValueError:
        return None  # a name


class PublicResolver(AbstractResolver):
    """The default resolver, keeping only public addresses. The connection is made to what
    this returns, so a name that resolves differently between a check and the connection
    (DNS rebinding) gains nothing."""

    def __init__(self, inner: AbstractResolver) -> None:
        self.inner = inner

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        found = await self.inner.resolve(host, port, family)
        public = [r for r in found if refusal(r["host"]) is None]
        if not public:
            reasons = sorted({refusal(r["host"]) or "" for r in found})
            raise Refused(f"{host} is {' and '.join(reasons) or 'unknown'}: not a partner we send to")
        return public

    async def close(self) -> None:
        await self.inner.close()


async def public_only(request: aiohttp.ClientRequest,
                      handler: ClientHandlerType) -> aiohttp.ClientResponse:
    """Client middleware, run for the first request and for every redirect: a URL naming an
    IP address (names go through PublicResolver) must name a public one."""
    why = literal_refusal(request.url.raw_host)
    if why is not None:
        raise Refused(f"{_origin(request.url)} is {why}: not a partner we send to")
    return await handler(request)


def _origin(url: URL) -> str:
    return f"{url.scheme}://{url.raw_host}" + (f":{url.explicit_port}" if url.explicit_port else "")


def refused(exc: BaseException) -> Refused | None:
    """The Refused behind a client error (the connector wraps a resolver's error in its own)."""
    while exc is not None:
        if isinstance(exc, Refused):
            return exc
        if isinstance(exc, aiohttp.ClientConnectorError) and isinstance(exc.os_error, Refused):
            return exc.os_error
        exc = exc.__cause__  # type: ignore[assignment]
    return None
