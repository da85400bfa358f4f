"""When energy flowed in a session (its charging period), apart from the session's own start and end."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from csms.domain import MeterSample, register_readings


@dataclass(frozen=True)
class Flow:
    """What the meter (and the charger's Charging state) said so far about a running session."""

    started_at: datetime | None  # first energy increase, or the Charging state if earlier
    ended_at: datetime | None  # last energy increase
    seen_wh: float | None  # the highest register reading so far: what an increase is measured by

    @classmethod
    def of(cls, session: Mapping[str, Any]) -> Flow:
        seen = session["energy_seen_wh"]
        return cls(session["charging_started_at"], session["charging_ended_at"],
                   session["meter_start_wh"] if seen is None else seen)


def energy_flow(before: Flow, samples: Sequence[MeterSample]) -> Flow:
    """The flow after these samples: a reading above every earlier one is energy flowing."""
    started, ended, seen = before.started_at, before.ended_at, before.seen_wh
    for reading in sorted(register_readings(samples), key=lambda s: s.sampled_at):
        if seen is not None and reading.value > seen:
            started = min(started, reading.sampled_at) if started else reading.sampled_at
            ended = max(ended, reading.sampled_at) if ended else reading.sampled_at
        seen = reading.value if seen is None else max(seen, reading.value)
    return Flow(started, ended, seen)


def charging_period(session_start: datetime, session_end: datetime, flow: Flow,
                    meter_stop_wh: float | None) -> tuple[datetime, datetime]:
    """(charging start, charging end) of a finished session, within its own start and end.

    Energy after the last reading seen (stopped while charging; or a charger that reports no
    readings): charging lasted until the session's end. No energy at all: a period of no length,
    where the Charging state was seen, else at the session's start."""
    start = min(max(flow.started_at or session_start, session_start), session_end)
    if meter_stop_wh is not None and flow.seen_wh is not None and meter_stop_wh > flow.seen_wh:
        return start, session_end
    end = flow.ended_at or start
    return start, min(max(end, start), session_end)
