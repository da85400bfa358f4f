"""OCPI partners and their credentials: a small repository over the ocpi_partners table."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeAlias

import asyncpg

from bridge.ocpi.transport import token_digest

CHANNEL = "ocpi_partners"
TOKEN_A_TRIES = 3  # credentials exchanges a Token A serves; then it is void
Db: TypeAlias = asyncpg.Pool | asyncpg.Connection


@dataclass(frozen=True)
class Partner:
    id: int
    name: str
    status: str
    their_token: str | None
    token_format: str
    versions_url: str | None
    version: str | None
    endpoints: list[dict[str, Any]]
    roles: list[dict[str, Any]]

    @property
    def outbox_name(self) -> str:
        """The outbox's partner column for messages to this partner."""
        return f"ocpi:{self.id}"

    def endpoint(self, identifier: str, role: str) -> str | None:
        for endpoint in self.endpoints:
            if endpoint.get("identifier") == identifier and endpoint.get("role") == role:
                return str(endpoint["url"]).rstrip("/")
        return None

    def emsp_party(self) -> tuple[str, str] | None:
        """(country_code, party_id) of the partner's eMSP role, the one that owns tokens."""
        for role in self.roles:
            if role.get("role") == "EMSP":
                return str(role["country_code"]), str(role["party_id"])
        return None

    def has_party(self, country_code: str, party_id: str) -> bool:
        return any(r.get("country_code") == country_code and r.get("party_id") == party_id
                   for r in self.roles)


def _partner(row: asyncpg.Record) -> Partner:
    return Partner(row["id"], row["name"], row["status"], row["their_token"], row["token_format"],
                   row["versions_url"], row["version"], list(row["endpoints"]), list(row["roles"]))


async def issue_token_a(db: Db, token: str, name: str, token_format: str) -> int:
    """A partner we expect to register with us, holding the Token A we hand it."""
    return await db.fetchval(  # type: ignore[no-any-return]
        "INSERT INTO ocpi_partners (name, token_a_hash, token_format) VALUES ($1, $2, $3) RETURNING id",
        name, token_digest(token), token_format,
    )


async def start_registration(db: Db, name: str, versions_url: str, their_token_a: str,
                             our_token: str, token_format: str) -> int:
    """We register with a partner: our token must already work when it calls us back."""
    return await db.fetchval(  # type: ignore[no-any-return]
        """INSERT INTO ocpi_partners (name, versions_url, their_token, token_hash, token_format)
           VALUES ($1, $2, $3, $4, $5) RETURNING id""",
        name, versions_url, their_token_a, token_digest(our_token), token_format,
    )


async def by_token(db: Db, candidates: list[str]) -> tuple[Partner, bool, str] | None:
    """The caller a token belongs to, whether it is a registration Token A, and the token as
    the caller holds it (the header may carry it encoded or not)."""
    digests = {token_digest(token): token for token in candidates}
    row = await db.fetchrow(
        """SELECT *, token_a_hash = ANY($1::text[]) AS is_token_a FROM ocpi_partners
           WHERE (token_hash = ANY($1::text[]) AND status IN ('pending', 'registered'))
              OR (token_a_hash = ANY($1::text[]) AND status = 'pending' AND token_a_tries < $2)
           LIMIT 1""",
        list(digests), TOKEN_A_TRIES,
    )
    if row is None:
        return None
    held = digests.get(row["token_a_hash"] if row["is_token_a"] else row["token_hash"], "")
    return _partner(row), bool(row["is_token_a"]), held


async def spend_token_a_try(db: Db, partner_id: int) -> bool:
    """A credentials exchange with Token A begins: one of its tries is spent, whatever the
    outcome (so concurrent attempts cannot exceed them either). False: none was left."""
    spent = await db.fetchval(
        """UPDATE ocpi_partners SET token_a_tries = token_a_tries + 1, updated_at = now()
           WHERE id = $1 AND status = 'pending' AND token_a_hash IS NOT NULL
             AND token_a_tries < $2
           RETURNING token_a_tries""",
        partner_id, TOKEN_A_TRIES,
    )
    return spent is not None


async def registered(db: Db, partner_id: int, *, their_token: str, our_token: str | None,
                     versions_url: str, version: str, endpoints: list[dict[str, Any]],
                     roles: list[dict[str, Any]], full_push: bool = False) -> Partner:
    """Credentials exchanged (or rotated): Token A is spent; the new tokens count from now.
    With full_push, every Location and Tariff is due to it (bridge/ocpi/sync.py)."""
    row = await db.fetchrow(
        """UPDATE ocpi_partners SET status = 'registered', token_a_hash = NULL, their_token = $2,
               token_hash = COALESCE($3, token_hash), versions_url = $4, version = $5,
               endpoints = $6, roles = $7, updated_at = now(),
               sync_stage = CASE WHEN $8 THEN 'locations' ELSE sync_stage END,
               sync_after = CASE WHEN $8 THEN '' ELSE sync_after END
           WHERE id = $1 RETURNING *""",
        partner_id, their_token, token_digest(our_token) if our_token else None, versions_url,
        version, endpoints, roles, full_push,
    )
    assert row is not None
    # Whichever process serves this partner starts delivering to it (committed with the change).
    await db.execute("SELECT pg_notify($1, $2)", CHANNEL, str(partner_id))
    return _partner(row)


async def unregister(db: Db, partner_id: int) -> None:
    await db.execute(
        """UPDATE ocpi_partners SET status = 'unregistered', token_hash = NULL, token_a_hash = NULL,
               their_token = NULL, updated_at = now() WHERE id = $1""",
        partner_id,
    )


async def forget(db: Db, partner_id: int) -> None:
    """A registration of ours that failed half-way: nothing of it stays valid."""
    await db.execute("DELETE FROM ocpi_partners WHERE id = $1 AND status = 'pending'", partner_id)


async def get(db: Db, partner_id: int) -> Partner | None:
    row = await db.fetchrow("SELECT * FROM ocpi_partners WHERE id = $1", partner_id)
    return _partner(row) if row else None


async def find(db: Db, party: str) -> Partner | None:
    """A registered partner by id, or by a role's COUNTRY/PARTY (also COUNTRY*PARTY or ROLE:COUNTRY*PARTY,
    as `csms ocpi partners` shows it)."""
    if party.isdigit():
        found = await get(db, int(party))
        return found if found is not None and found.status == "registered" else None
    country_code, _, party_id = party.rpartition(":")[2].replace("*", "/").partition("/")
    return next((p for p in await all_registered(db)
                 if p.has_party(country_code.upper(), party_id.upper())), None)


async def every(db: Db) -> list[Partner]:
    """Every partnership, registered or not (the console lists them all)."""
    return [_partner(row) for row in await db.fetch("SELECT * FROM ocpi_partners ORDER BY id")]


async def all_registered(db: Db) -> list[Partner]:
    rows = await db.fetch("SELECT * FROM ocpi_partners WHERE status = 'registered' ORDER BY id")
    return [_partner(row) for row in rows]
