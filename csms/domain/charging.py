"""When energy flowed in a session (its charging period), apart from the session's own start and end."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from csms.domain.model import MeterSample, register_readings

Reading = tuple[datetime, float]  # an energy register reading: when, Wh


def increases(readings: Sequence[Reading], level_wh: float | None
              ) -> tuple[datetime | None, datetime | None, float | None]:
    """(first, last) reading above every earlier one, and the highest reading: energy flowing.
    level_wh: the meter at the session's start (None: unknown, the first reading sets it)."""
    first = last = None
    for at, wh in sorted(readings):
        if level_wh is not None and wh > level_wh:
            first = first or at
            last = at
        level_wh = wh if level_wh is None else max(level_wh, wh)
    return first, last, level_wh


def first_increase(samples: Sequence[MeterSample], level_wh: float | None) -> datetime | None:
    """When one message's meter values first show energy flowing above the session's level."""
    return increases([(s.sampled_at, s.value) for s in register_readings(samples)], level_wh)[0]


def charging_period(session_start: datetime, session_end: datetime,
                    charging_started_at: datetime | None, readings: Sequence[Reading],
                    meter_start_wh: float | None, meter_stop_wh: float | None
                    ) -> tuple[datetime, datetime]:
    """(charging start, charging end) of a finished session, within its own start and end.

    The start: the first increase, or the charger's Charging state if that came first; the end:
    the last increase. Energy after the last reading (stopped while charging; a charger that sends
    no readings): until the session's end. No energy at all: a period of no length, where the
    Charging state was seen, else at the session's start."""
    first, last, seen = increases(readings, meter_start_wh)
    known = [at for at in (charging_started_at, first) if at is not None]
    start = min(max(min(known, default=session_start), session_start), session_end)
    if meter_stop_wh is not None and seen is not None and meter_stop_wh > seen:
        return start, session_end
    return start, min(max(last or start, start), session_end)
