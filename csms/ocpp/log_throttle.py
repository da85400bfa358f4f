"""Log lines that repeat per key (a charger flooding us): one a period, with a count of those left out."""

from __future__ import annotations

import time
from collections.abc import Callable


class LogThrottle:
    """Remembers when each key last logged, for at most `size` keys (the oldest are forgotten
    first: a flood of fresh keys costs bounded memory and at worst a few more lines)."""

    def __init__(self, period: float = 60.0, size: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.period = period
        self.size = size
        self.clock = clock
        self._keys: dict[str, list[float]] = {}  # key → [last line at, events left out since]

    def admit(self, key: str) -> int | None:
        """None: leave this one out. A number: log it, saying how many were left out before."""
        now = self.clock()
        entry = self._keys.get(key)
        if entry is not None and now - entry[0] < self.period:
            entry[1] += 1
            return None
        left_out = int(entry[1]) if entry is not None else 0
        self._keys.pop(key, None)
        if len(self._keys) >= self.size:
            del self._keys[next(iter(self._keys))]
        self._keys[key] = [now, 0]
        return left_out
