"""Failed logins per client address: a few are free, then each waits twice as long as the last."""

from __future__ import annotations

import ipaddress
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Record:
    failures: int
    last: float  # when the latest failure was
    blocked_until: float


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


class LoginThrottle:
    """In memory, per node: after `attempts` failures an address waits `base_delay` seconds, then
    double that after each further failure, up to `max_delay`. A success resets the address;
    so does `forget_after` seconds without a failure. At most `capacity` addresses are kept
    (the least recently failed go first), so many addresses cannot grow it without bound."""

    def __init__(self, attempts: int = 5, base_delay: float = 1.0, max_delay: float = 300.0,
                 forget_after: float = 900.0, capacity: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.attempts = attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.forget_after = forget_after
        self.capacity = capacity
        self.clock = clock
        self._records: OrderedDict[str, _Record] = OrderedDict()

    def __len__(self) -> int:
        return len(self._records)

    def _current(self, key: str, now: float) -> _Record | None:
        record = self._records.get(key)
        if record is not None and now - record.last > max(self.forget_after, self.max_delay) \
                and now >= record.blocked_until:
            del self._records[key]
            return None
        return record

    def retry_after(self, address: str | None) -> int:
        """Whole seconds this address must wait before its next try (0: it may try now)."""
        now = self.clock()
        record = self._current(client_key(address), now)
        if record is None or now >= record.blocked_until:
            return 0
        return max(1, math.ceil(record.blocked_until - now))

    def failed(self, address: str | None) -> None:
        key = client_key(address)
        now = self.clock()
        record = self._current(key, now) or _Record(0, now, now)
        record.failures += 1
        record.last = now
        beyond = record.failures - self.attempts
        if beyond > 0:
            delay = min(self.max_delay, self.base_delay * 2 ** min(beyond - 1, 62))
            record.blocked_until = now + delay
        self._records[key] = record
        self._records.move_to_end(key)
        while len(self._records) > self.capacity:
            self._records.popitem(last=False)

    def succeeded(self, address: str | None) -> None:
        self._records.pop(client_key(address), None)
