"""Who a request comes from: the peer, or the client a trusted proxy names; counted per host."""

from __future__ import annotations

import ipaddress

Networks = list[ipaddress.IPv4Network | ipaddress.IPv6Network]


def networks(text: str) -> Networks:
    """Comma-separated addresses or networks (10.0.0.5, 10.1.0.0/16, ::1); ValueError if not."""
    return [ipaddress.ip_network(part.strip(), strict=False) for part in text.split(",")
            if part.strip()]


def client_address(peer: str | None, forwarded_for: str | None, proxies: Networks) -> str | None:
    """Who sent the request: the connection's peer, unless it is one of our proxies; then the
    right-most address in X-Forwarded-For that is not one of ours (the left ones are the
    client's to write)."""
    def ours(address: str | None) -> bool:
        try:
            return address is not None and any(ipaddress.ip_address(address) in net
                                               for net in proxies)
        except ValueError:
            return False

    if not proxies or not ours(peer) or not forwarded_for:
        return peer
    hops = [hop.strip() for hop in forwarded_for.split(",")]
    for hop in reversed(hops):
        if not ours(hop):
            return hop
    return hops[0]


def client_key(address: str | None) -> str:
    """An IPv6 client is counted by its /64 (one host holds a whole /64); IPv4 by its address."""
    if not address:
        return ""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address  # a unix socket's peer, say
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)
