"""Tariffs: prices in OCPI's tariff model, every version kept, and which tariff an EVSE charges by."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from typing import Any

import asyncpg
import structlog

from csms.domain.events import EventBus, TariffAssigned, TariffChanged
from csms.storage import store

log = structlog.get_logger(__name__)

_DIMENSIONS = {"ENERGY", "FLAT", "PARKING_TIME", "TIME"}

ALL = "*"  # every EMP (Hubject's ProviderID for offer-to-all prices), or every EVSE

Assignments = Mapping[tuple[str, str], str]  # (ProviderID or '*', EvseID or '*') → tariff id


class TariffError(ValueError):
    """A tariff definition that cannot be used; the message names the tariff and the field."""


class UnknownTariff(LookupError):
    """No current tariff has this id (never loaded, or withdrawn)."""


class TariffInUse(Exception):
    """A tariff that EVSEs or sessions are priced by: the message says which."""


# Held by a withdrawal and an assignment for their transaction: neither sees the tariff's state
# the other is about to change (an assignment to a tariff withdrawn at the same moment).
_LOCK = 0x7461726966  # "tarif"


def check_tariff(data: Any) -> dict[str, Any]:
    """A tariff as OCPI writes it (country_code, party_id and last_updated are filled in on the
    way out): id, currency and elements with price components."""
    if not isinstance(data, dict) or not isinstance(data.get("id"), str) or not data["id"]:
        raise TariffError("a tariff needs an id")
    where = f"tariff {data['id']!r}"
    if not isinstance(data.get("currency"), str) or len(data["currency"]) != 3:
        raise TariffError(f"{where}: currency must be an ISO 4217 code such as EUR")
    elements = data.get("elements")
    if not isinstance(elements, list) or not elements:
        raise TariffError(f"{where}: elements must list at least one element")
    for element in elements:
        components = element.get("price_components") if isinstance(element, dict) else None
        if not isinstance(components, list) or not components:
            raise TariffError(f"{where}: every element needs price_components")
        for component in components:
            if not isinstance(component, dict) or component.get("type") not in _DIMENSIONS \
                    or not isinstance(component.get("price"), int | float) \
                    or not isinstance(component.get("step_size"), int):
                raise TariffError(f"{where}: a price component needs type ({', '.join(sorted(_DIMENSIONS))}),"
                                  " price and step_size")
    return {k: v for k, v in data.items() if k not in ("country_code", "party_id", "last_updated")}


async def put_tariffs(pool: asyncpg.Pool, events: EventBus, tariffs: list[dict[str, Any]]) -> int:
    """Store new versions of the tariffs that changed; returns how many changed."""
    changed = 0
    async with pool.acquire() as conn, conn.transaction():
        current = {row["id"]: row["data"] for row in await store.current_tariffs(conn)}
        for tariff in map(check_tariff, tariffs):
            if current.get(tariff["id"]) == tariff:
                continue
            await store.put_tariff(conn, tariff["id"], tariff)
            await events.publish(conn, TariffChanged(tariff["id"], tariff, datetime.now(UTC)))
            changed += 1
    log.info("tariffs stored", changed=changed)
    return changed


async def in_use(conn: asyncpg.Connection, tariff_id: str) -> str | None:
    """Why a tariff cannot be withdrawn now, or None: assignments in force naming it, sites
    whose EVSEs name it (their `tariff` key), sessions in progress priced by it."""
    from csms.domain.billing.pricing import session_pricing  # it imports this module
    from csms.domain.sites import SiteError, parse_site

    assigned = sorted(f"{evse_id} for {'every EMP' if provider == ALL else provider}"
                      for (provider, evse_id), named in (await assignments_at(conn)).items()
                      if named == tariff_id)
    if assigned:
        return f"tariff {tariff_id!r} is assigned to {', '.join(assigned)}: unassign it first"
    sites = []
    for row in await conn.fetch("SELECT id, data FROM sites ORDER BY id"):
        try:
            site = parse_site(row["data"])
        except SiteError:
            continue
        if tariff_id in {site.evse.tariff, *(d.tariff for d in site.evses.values())}:
            sites.append(row["id"])
    if sites:
        return f"tariff {tariff_id!r} is named by site(s) {', '.join(sites)}: change them first"
    sessions = []
    for row in await conn.fetch(
            """SELECT s.id, s.charge_point_id, e.evse_id, s.started_at,
                      s.attributes -> 'oicp' ->> 'ProviderID' AS provider FROM sessions s
               JOIN evses e ON e.id = s.evse
               WHERE s.status = 'active' AND s.started_at IS NOT NULL ORDER BY s.started_at"""):
        # OCPI prices by the every-EMP chain, Hubject by the session's EMP's (bridge/oicp).
        for provider in {ALL, row["provider"] or ALL}:
            pricing = await session_pricing(conn, row["charge_point_id"], row["evse_id"],
                                            row["started_at"], "", provider)
            if pricing.tariff is not None and pricing.tariff.get("id") == tariff_id:
                sessions.append(str(row["id"]))
                break
    if sessions:
        return (f"tariff {tariff_id!r} prices {len(sessions)} session(s) in progress "
                f"({', '.join(sessions[:3])}{', …' if len(sessions) > 3 else ''}): "
                "withdraw it once they ended")
    return None


async def withdraw_tariff(pool: asyncpg.Pool, events: EventBus, tariff_id: str) -> None:
    """Withdraw a tariff nothing is priced by any more (UnknownTariff, TariffInUse otherwise);
    ended sessions keep their price (every version is kept), partners are told (TariffChanged)."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK)
        if tariff_id not in {row["id"] for row in await store.current_tariffs(conn)}:
            raise UnknownTariff(f"no tariff {tariff_id!r}")
        if (reason := await in_use(conn, tariff_id)) is not None:
            raise TariffInUse(reason)
        await store.put_tariff(conn, tariff_id, None)
        await events.publish(conn, TariffChanged(tariff_id, None, datetime.now(UTC)))
    log.info("tariff withdrawn", tariff_id=tariff_id)


async def delete_tariff(pool: asyncpg.Pool, events: EventBus, tariff_id: str) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await store.put_tariff(conn, tariff_id, None)
        await events.publish(conn, TariffChanged(tariff_id, None, datetime.now(UTC)))


def candidates(assignments: Assignments, evse_id: str, site_tariff: str,
               provider: str = ALL) -> list[tuple[str, str]]:
    """The tariffs that may price an EVSE for an EMP, most specific first, each with the provider
    of the assignment naming it: this EMP at this EVSE, this EMP everywhere (an EMP's deal beats
    the EVSE's general price), every EMP at this EVSE, the site's `tariff` key, every EMP everywhere.
    """
    keys = [(provider, evse_id), (provider, ALL)] if provider != ALL else []
    found = [(assignments.get(key), key[0]) for key in [*keys, (ALL, evse_id)]]
    found += [(site_tariff or None, ALL), (assignments.get((ALL, ALL)), ALL)]
    return [(tariff_id, chosen_by) for tariff_id, chosen_by in found if tariff_id]


def resolve(assignments: Assignments, evse_id: str, site_tariff: str, provider: str,
            known: Collection[str]) -> tuple[str, str] | None:
    """The first of the candidates that exists (deleted or never loaded tariffs are passed over)."""
    return next((c for c in candidates(assignments, evse_id, site_tariff, provider)
                 if c[0] in known), None)


async def assignments_at(db: asyncpg.Pool | asyncpg.Connection,
                         at: datetime | None = None) -> dict[tuple[str, str], str]:
    """Every assignment in force at `at` (now when None)."""
    rows = await db.fetch(
        """SELECT * FROM (SELECT DISTINCT ON (provider_id, evse_id) provider_id, evse_id, tariff_id
                          FROM tariff_assignments WHERE valid_from <= coalesce($1, clock_timestamp())
                          ORDER BY provider_id, evse_id, valid_from DESC) newest
           WHERE tariff_id IS NOT NULL""",
        at,
    )
    return {(row["provider_id"], row["evse_id"]): row["tariff_id"] for row in rows}


async def evse_tariff(db: asyncpg.Pool | asyncpg.Connection, evse_id: str | None, site_tariff: str,
                      at: datetime, provider: str = ALL) -> dict[str, Any] | None:
    """The tariff (as it was at `at`) a session started at `at` on this EVSE is priced by."""
    assignments = await assignments_at(db, at)
    for tariff_id, _ in candidates(assignments, evse_id or "", site_tariff, provider):
        data = await store.tariff_at(db, tariff_id, at)
        if data is not None:
            return data
    return None


async def assign(pool: asyncpg.Pool, events: EventBus, tariff_id: str | None, evse_ids: list[str],
                 provider: str = ALL) -> list[str]:
    """Assign a tariff (None: remove the assignment) to EVSEs (none: every EVSE) for an EMP
    ('*': every EMP); returns the EvseIDs not registered (assigned all the same)."""
    if not re.fullmatch(r"[A-Za-z]{2}[*-]?[A-Za-z0-9]{3}|\*", provider):
        raise TariffError(f"provider {provider!r}: a ProviderID such as DE-8EO, or * for every EMP")
    targets = sorted(set(evse_ids)) or [ALL]
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK)  # not while one is withdrawn
        if tariff_id is not None and tariff_id not in {
                row["id"] for row in await store.current_tariffs(conn)}:
            raise TariffError(f"no tariff {tariff_id!r} (load it first: csms tariffs load)")
        await conn.executemany(
            "INSERT INTO tariff_assignments (provider_id, evse_id, tariff_id) VALUES ($1, $2, $3)",
            [(provider, evse_id, tariff_id) for evse_id in targets])
        await events.publish(conn, TariffAssigned(provider, tuple(targets), tariff_id))
        known = {row["evse_id"] for row in await conn.fetch(
            "SELECT evse_id FROM evses WHERE evse_id = ANY($1::text[])", targets)}
    log.info("tariff assigned", tariff_id=tariff_id, provider_id=provider, evse_ids=targets)
    return [e for e in targets if e != ALL and e not in known]
