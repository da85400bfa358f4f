"""Failed authentications per key (charger id, client host): past a few, refused unchecked, growing delay."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

# The first delay once the limit is reached (s); each further failure doubles it, up to MAX_DELAY.
FIRST_DELAY = 1.0
MAX_DELAY = 300.0
# A key without a failure for this long starts afresh.
FORGET_AFTER = 900.0


@dataclass
class _Failures:
    count: int = 0
    in_flight: int = 0  # checks under way: each may be one more failure
    last: float = 0.0


class FailureLimit:
    """At most `limit` failures (or checks under way) per key; then `retry_after` says how long
    until the next try: `first_delay`, doubled by each further failure up to `max_delay`. A key
    without a failure for `forget_after` starts afresh. Bounded: at most `size` keys, the least
    recently failed forgotten first. In memory, per process."""

    def __init__(self, limit: int, size: int = 100_000,
                 clock: Callable[[], float] = time.monotonic, first_delay: float = FIRST_DELAY,
                 max_delay: float = MAX_DELAY, forget_after: float = FORGET_AFTER) -> None:
        self.limit = limit
        self.size = size
        self.clock = clock
        self.first_delay = first_delay
        self.max_delay = max_delay
        self.forget_after = forget_after
        self._keys: dict[str, _Failures] = {}

    def __len__(self) -> int:
        return len(self._keys)

    def _get(self, key: str) -> _Failures | None:
        entry = self._keys.get(key)
        quiet = max(self.forget_after, self.max_delay)  # never forgotten while it must still wait
        if entry is not None and not entry.in_flight and self.clock() - entry.last > quiet:
            del self._keys[key]
            return None
        return entry

    def retry_after(self, key: str) -> float:
        """0: a check may go ahead; else seconds until one may."""
        entry = self._get(key)
        if not self.limit or entry is None or entry.count + entry.in_flight < self.limit:
            return 0.0
        if entry.count < self.limit or entry.in_flight:  # past the limit: one try at a time
            return self.first_delay
        delay = min(self.max_delay, self.first_delay * 2 ** min(entry.count - self.limit, 62))
        return max(0.0, entry.last + delay - self.clock())

    def start(self, key: str) -> None:
        if not self.limit:
            return
        entry = self._get(key)
        if entry is None:
            if len(self._keys) >= self.size:
                del self._keys[next(iter(self._keys))]
            entry = self._keys[key] = _Failures(last=self.clock())
        entry.in_flight += 1

    def finish(self, key: str, failed: bool) -> None:
        entry = self._keys.get(key)
        if entry is None:
            return
        entry.in_flight = max(0, entry.in_flight - 1)
        if failed:
            entry.count += 1
            entry.last = self.clock()
            self._keys[key] = self._keys.pop(key)  # the most recent failure last
        elif not entry.count and not entry.in_flight:
            del self._keys[key]

    def succeeded(self, key: str) -> None:
        """The right password: the failures before it no longer count."""
        entry = self._keys.get(key)
        if entry is not None:
            entry.count = 0
            if not entry.in_flight:
                del self._keys[key]

    def failed(self, key: str) -> None:
        """A failure settled at once (no check under way to wait for)."""
        self.start(key)
        self.finish(key, failed=True)
