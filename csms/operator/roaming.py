"""What the operator surfaces show of the roaming bridges, handed over by csms/app.py (no bridge import)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import asyncpg


@dataclass(frozen=True)
class Roaming:
    hubject: str  # Hubject's partner name in the outbox
    pushes: dict[str, dict[str, str]]  # per kind of partner: its EVSE status and data push operations
    ocpi_partners: Callable[[asyncpg.Pool], Awaitable[Sequence[Any]]]  # each registered OCPI party
    # A tariff as Hubject's EMPs see it (its pricing products), a line each, for `csms tariffs list`.
    tariff_for_hubject: Callable[[dict[str, Any], date], list[str]]
