"""Recent OCPP frames of this process: a small global ring, and live copies for whoever watches a charger."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import NamedTuple

from csms.security.masking import mask_frame

# Enough for the last minutes of a few chargers; bounded in memory whatever the fleet's size.
RING_SIZE = 2000
# A frame is kept (and shown) up to this many characters: 2,000 frames stay a few MiB.
FRAME_CHARS = 4096


class Frame(NamedTuple):
    at: float  # Unix time
    charge_point_id: str
    direction: str  # "in": from the charger, "out": to it
    text: str
    shown: bool = False  # already masked (a long frame, masked before it was cut)


Watcher = Callable[[Frame], None]


class MessageLog:
    """No buffer per charger: a fleet of 10,000 would pay for it in memory whether anyone looks
    or not. Every frame costs one append to a bounded ring and one test of a dict's size; frames
    are copied out only for chargers a console watches."""

    def __init__(self, size: int = RING_SIZE) -> None:
        # Plain tuples in Frame's order: a NamedTuple made per frame cost more than the append
        self._ring: deque[tuple[float, str, str, str, bool]] = deque(maxlen=size)
        self._watchers: dict[str, list[Watcher]] = {}

    def record(self, charge_point_id: str, direction: str, frame: str | bytes) -> None:
        """Called by the OCPP adapter for every frame received ("in") or sent ("out"). A frame
        that fits is kept as it came and masked when shown (most frames are never shown);
        a longer one is masked before it is cut, so a cut never splits a secret from its key."""
        if not isinstance(frame, str):
            frame = frame.decode("utf-8", "replace")
        shown = len(frame) > FRAME_CHARS
        if shown:
            frame = mask_frame(frame)
            if len(frame) > FRAME_CHARS:
                frame = frame[:FRAME_CHARS] + "…"
        entry = (time.time(), charge_point_id, direction, frame, shown)
        self._ring.append(entry)
        if self._watchers:  # the one check a frame costs while no console watches
            for watcher in self._watchers.get(charge_point_id, ()):
                watcher(_masked(Frame(*entry)))

    def recent(self, charge_point_id: str, limit: int = 100) -> list[Frame]:
        """The charger's latest frames still in the ring, oldest first."""
        found: list[Frame] = []
        for entry in reversed(self._ring):
            if entry[1] == charge_point_id:
                found.append(Frame(*entry))
                if len(found) >= limit:
                    break
        found.reverse()
        return [_masked(entry) for entry in found]

    def watch(self, charge_point_id: str, watcher: Watcher) -> None:
        self._watchers.setdefault(charge_point_id, []).append(watcher)

    def unwatch(self, charge_point_id: str, watcher: Watcher) -> None:
        watchers = self._watchers.get(charge_point_id)
        if watchers and watcher in watchers:
            watchers.remove(watcher)
            if not watchers:
                del self._watchers[charge_point_id]

    def watched(self) -> list[str]:
        return list(self._watchers)


def _masked(entry: Frame) -> Frame:
    """The frame as it may be shown: a new charger password must not show in the console."""
    return entry if entry.shown else entry._replace(text=mask_frame(entry.text), shown=True)


# One per process, like the charger connections it records: the adapters write, the console reads.
message_log = MessageLog()
