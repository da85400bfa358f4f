"""Charging profiles and composite schedules as protocol-neutral domain objects (pure)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class Purpose(StrEnum):
    CHARGER_MAX = "ChargePointMax"  # the whole charger (or one EVSE) never draws more
    TX_DEFAULT = "TxDefault"        # every new transaction, until a Tx profile replaces it
    TX = "Tx"                       # one transaction


class Kind(StrEnum):
    ABSOLUTE = "Absolute"    # periods counted from the schedule's start
    RECURRING = "Recurring"  # the schedule repeats daily or weekly from its start
    RELATIVE = "Relative"    # periods counted from the transaction's start


class Recurrency(StrEnum):
    DAILY = "Daily"
    WEEKLY = "Weekly"


class RateUnit(StrEnum):
    AMPERES = "A"
    WATTS = "W"


@dataclass(frozen=True)
class SchedulePeriod:
    """From `start` seconds after the schedule's start: at most `limit` (A or W) on `phases`."""

    start: int
    limit: float
    phases: int | None = None


@dataclass(frozen=True)
class ChargingProfile:
    id: int
    stack_level: int
    purpose: Purpose
    kind: Kind
    unit: RateUnit
    periods: tuple[SchedulePeriod, ...]
    recurrency: Recurrency | None = None
    starts_at: datetime | None = None   # the schedule's start (Absolute, Recurring)
    duration: int | None = None         # seconds; None: the last period lasts
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    min_rate: float | None = None
    transaction_id: str | None = None   # Tx profiles: the transaction they belong to


@dataclass(frozen=True)
class CompositeSchedule:
    """What a charger says it will allow on an EVSE (0: the whole charger) from `starts_at`."""

    evse: int
    starts_at: datetime | None
    duration: int | None
    unit: RateUnit
    periods: tuple[SchedulePeriod, ...] = field(default_factory=tuple)


def problem(profile: ChargingProfile) -> str | None:
    """Why a profile cannot be sent to a charger, or None (checked before anything is sent)."""
    if profile.id <= 0:
        return "the profile id must be positive"
    if profile.stack_level < 0:
        return "the stack level must not be negative"
    if not profile.periods:
        return "a schedule needs at least one period"
    if profile.periods[0].start != 0:
        return "the first period must start at 0"
    starts = [period.start for period in profile.periods]
    if starts != sorted(set(starts)):
        return "periods must start at increasing offsets"
    for period in profile.periods:
        if period.limit < 0:
            return "a limit must not be negative"
        if period.phases is not None and period.phases not in (1, 2, 3):
            return "phases must be 1, 2 or 3"
    if profile.kind is Kind.RECURRING and (profile.recurrency is None or profile.starts_at is None):
        return "a recurring profile needs a recurrency and a start"
    if profile.kind is not Kind.RECURRING and profile.recurrency is not None:
        return "only a recurring profile has a recurrency"
    if profile.kind is Kind.RELATIVE and profile.starts_at is not None:
        return "a relative profile has no start"
    if profile.duration is not None and profile.duration <= 0:
        return "the duration must be positive"
    if profile.valid_from and profile.valid_to and profile.valid_to <= profile.valid_from:
        return "valid_to must be after valid_from"
    if profile.purpose is not Purpose.TX and profile.transaction_id is not None:
        return "only a Tx profile belongs to a transaction"
    return None


def remote_start_problem(profile: ChargingProfile) -> str | None:
    """Why a profile cannot go with a remote start, or None: 1.6 §5.16 and 2.0.1 F01/K05
    want a TxProfile, for the transaction it starts (so no transaction id yet)."""
    if profile.purpose is not Purpose.TX:
        return "a remote start's profile must be a Tx profile"
    if profile.transaction_id is not None:
        return "a remote start's profile has no transaction id: the transaction is yet to start"
    return problem(profile)


def _time(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def _period(raw: Mapping[str, Any]) -> SchedulePeriod:
    phases = raw.get("phases")
    return SchedulePeriod(int(raw["start"]), float(raw["limit"]),
                          int(phases) if phases is not None else None)


def profile_from_dict(raw: Mapping[str, Any]) -> ChargingProfile:
    """A profile from its JSON form (admin API, storage); ValueError/KeyError/TypeError when bad."""
    recurrency = raw.get("recurrency")
    duration = raw.get("duration")
    min_rate = raw.get("min_rate")
    transaction = raw.get("transaction_id")
    return ChargingProfile(
        id=int(raw["id"]), stack_level=int(raw["stack_level"]), purpose=Purpose(raw["purpose"]),
        kind=Kind(raw.get("kind", "Absolute")), unit=RateUnit(raw.get("unit", "A")),
        periods=tuple(_period(period) for period in raw["periods"]),
        recurrency=Recurrency(recurrency) if recurrency else None,
        starts_at=_time(raw.get("starts_at")), duration=int(duration) if duration is not None else None,
        valid_from=_time(raw.get("valid_from")), valid_to=_time(raw.get("valid_to")),
        min_rate=float(min_rate) if min_rate is not None else None,
        transaction_id=str(transaction) if transaction is not None else None)


def _json(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, list | tuple):
        return [_json(item) for item in value]
    if isinstance(value, dict):
        return {key: _json(item) for key, item in value.items()}
    return value


def to_dict(value: ChargingProfile | CompositeSchedule) -> dict[str, Any]:
    """The JSON form of a profile or composite schedule (admin API, storage)."""
    result: dict[str, Any] = _json(asdict(value))
    return result


def composite_from_dict(raw: Mapping[str, Any]) -> CompositeSchedule:
    duration = raw.get("duration")
    return CompositeSchedule(int(raw["evse"]), _time(raw.get("starts_at")),
                             int(duration) if duration is not None else None,
                             RateUnit(raw.get("unit", "A")),
                             tuple(_period(period) for period in raw.get("periods", [])))


def periods_of(raw: Sequence[Mapping[str, Any]]) -> tuple[SchedulePeriod, ...]:
    return tuple(_period(period) for period in raw)
