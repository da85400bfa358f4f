"""What the operator surfaces show of the roaming bridges, handed over by csms/app.py (no bridge import)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import asyncpg

from csms.config import Settings

# Credit a CDR we sent and, if asked, send the session's corrected CDR (pool, settings, the CDR's
# id, reissue): the CDRs it made, as csms/storage/cdr_store.py keeps them. Raises
# csms.domain.billing.cdr_corrections.UnknownCdr or CorrectionRefused.
CdrCorrector = Callable[[asyncpg.Pool, Settings, str, bool], Awaitable[Sequence[asyncpg.Record]]]


@dataclass(frozen=True)
class Roaming:
    hubject: str  # Hubject's partner name in the outbox
    pushes: dict[str, dict[str, str]]  # per kind of partner: its EVSE status and data push operations
    ocpi_partners: Callable[[asyncpg.Pool], Awaitable[Sequence[Any]]]  # each registered OCPI party
    # Per OCPI partner id, a hub's parties ({party 'CC*PID', role, status, last_updated, held: the
    # messages held for it}) and the state of the pulls of its token list ({last_full_at,
    # last_incremental_at, next_due_at, tokens, last_error, failures}).
    hub_clients: Callable[[asyncpg.Pool], Awaitable[dict[int, list[dict[str, Any]]]]]
    token_pulls: Callable[[asyncpg.Pool], Awaitable[dict[int, dict[str, Any]]]]
    # A tariff as Hubject's EMPs see it (its pricing products), a line each, for `csms tariffs list`.
    tariff_for_hubject: Callable[[dict[str, Any], date], list[str]]
    correct_cdr: CdrCorrector
