"""OCPI partners and their credentials: a small repository over the ocpi_partners table."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, TypeAlias

import asyncpg

from bridge.ocpi.transport import token_digest

CHANNEL = "ocpi_partners"
TOKEN_A_TRIES = 3  # credentials exchanges a Token A serves; then it is void
Db: TypeAlias = asyncpg.Pool | asyncpg.Connection
ROLES = ("CPO", "EMSP", "HUB", "NAP", "NSP", "OTHER", "SCSP")  # OCPI 2.2.1 Role
_PARTY = re.compile(r"(?:(?P<role>[A-Za-z]+):)?(?P<country>[A-Za-z]{2})\*(?P<party>[A-Za-z0-9]{3})")


class PartyError(ValueError):
    """A party the operator named that cannot be bound (malformed, ours, another partner's)."""


@dataclass(frozen=True)
class Party:
    """A party a partner may act for: OCPI's (country_code, party_id), maybe only in one role."""

    country_code: str
    party_id: str
    role: str | None = None

    @classmethod
    def parse(cls, text: str) -> Party:
        """COUNTRY*PARTY or ROLE:COUNTRY*PARTY, e.g. NL*EMS or EMSP:NL*EMS (case-insensitive)."""
        found = _PARTY.fullmatch(text.strip())
        role = found["role"].upper() if found and found["role"] else None
        if found is None or (role is not None and role not in ROLES):
            raise PartyError(f"party {text!r} must be COUNTRY*PARTY or ROLE:COUNTRY*PARTY "
                             f"(e.g. NL*EMS, EMSP:NL*EMS; roles {', '.join(ROLES)})")
        return cls(found["country"].upper(), found["party"].upper(), role)

    def covers(self, role: dict[str, Any]) -> bool:
        """Does this binding allow a CredentialsRole (CiStrings: compared case-insensitively)?"""
        return (str(role.get("country_code", "")).upper(), str(role.get("party_id", "")).upper()) \
            == (self.country_code, self.party_id) \
            and self.role in (None, str(role.get("role", "")).upper())

    def __str__(self) -> str:
        return f"{self.role + ':' if self.role else ''}{self.country_code}*{self.party_id}"


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
    parties: tuple[Party, ...] = ()  # what the operator bound it to: all it may act for
    # The party an inbound request comes from (its OCPI-from- headers), set per request: a
    # hub's answers (command results) go back to that party.
    caller: str | None = None

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

    @property
    def is_hub(self) -> bool:
        """A hub (a HUB role in its credentials): it fronts other parties, reached through it
        by their own country_code/party_id (OCPI 2.2.1 transport_and_format Message Routing)."""
        return any(str(r.get("role", "")).upper() == "HUB" for r in self.roles)

    def own_party(self) -> tuple[str, str] | None:
        """The party the partner itself is: its HUB role for a hub, else its eMSP role, else
        its first."""
        wanted = "HUB" if self.is_hub else "EMSP"
        chosen = next((r for r in self.roles if str(r.get("role", "")).upper() == wanted),
                      self.roles[0] if self.roles else None)
        return None if chosen is None else (str(chosen["country_code"]), str(chosen["party_id"]))

    def route(self, addressee: str | None) -> tuple[str, str] | None:
        """The OCPI-to- party of a message: its addressee (COUNTRY*PARTY) when it has one, else
        the partner itself (for a hub: a broadcast push, transport_and_format Broadcast Push)."""
        if addressee:
            country_code, _, party_id = addressee.partition("*")
            return country_code, party_id
        return self.own_party()

    def asking(self) -> str | None:
        """The client party a request came from through a hub ("CC*PID"), None when it came
        from the partner itself (a peer, or the hub on behalf of all its clients)."""
        own = self.own_party()
        if self.caller is None or (own is not None
                                   and self.caller == f"{own[0].upper()}*{own[1].upper()}"):
            return None
        return self.caller

    def fronts(self, country_code: str, party_id: str) -> bool:
        """May requests come from this party through the partner? Its own party or one bound
        to it (a hub's clients are bound to it like any partner's parties)."""
        own = self.own_party()
        return self.acts_for(country_code, party_id) or (
            own is not None and (own[0].upper(), own[1].upper())
            == (country_code.upper(), party_id.upper()))

    def has_party(self, country_code: str, party_id: str) -> bool:
        return any(r.get("country_code") == country_code and r.get("party_id") == party_id
                   for r in self.roles)

    def acts_for(self, country_code: str, party_id: str) -> bool:
        """Is this party one the operator bound the partner to (CiStrings, any case)?"""
        return any(p.country_code == country_code.upper() and p.party_id == party_id.upper()
                   for p in self.parties)

    def unbound(self, roles: list[dict[str, Any]]) -> list[str]:
        """The roles of credentials it sent that it was not bound to (as ROLE:CC*PID)."""
        return [f"{r.get('role')}:{r.get('country_code')}*{r.get('party_id')}" for r in roles
                if not any(p.covers(r) for p in self.parties)]


# A partner's row with the parties bound to it (as stored: a binding the migration made from old
# credentials need not be what --party accepts today).
_SELECT = """SELECT p.*, ARRAY(SELECT ARRAY[b.country_code, b.party_id, b.role]
                              FROM ocpi_parties b WHERE b.partner_id = p.id
                              ORDER BY b.country_code, b.party_id) AS parties
             FROM ocpi_partners p"""


def _partner(row: asyncpg.Record) -> Partner:
    return Partner(row["id"], row["name"], row["status"], row["their_token"], row["token_format"],
                   row["versions_url"], row["version"], list(row["endpoints"]), list(row["roles"]),
                   tuple(Party(*bound) for bound in row["parties"]))


async def _bind(conn: asyncpg.Connection, partner_id: int, parties: Iterable[Party],
                ours: Party) -> None:
    """Bind the parties to the partner: none of them ours, none another partner's."""
    for party in parties:
        if (party.country_code, party.party_id) == (ours.country_code, ours.party_id):
            raise PartyError(f"{party.country_code}*{party.party_id} is our own party")
        holder = await conn.fetchval(
            """INSERT INTO ocpi_parties (country_code, party_id, role, partner_id)
               VALUES ($1, $2, $3, $4) ON CONFLICT (country_code, party_id) DO NOTHING
               RETURNING partner_id""", party.country_code, party.party_id, party.role, partner_id)
        if holder is None:
            other = await conn.fetchval(
                "SELECT partner_id FROM ocpi_parties WHERE country_code = $1 AND party_id = $2",
                party.country_code, party.party_id)
            raise PartyError(f"{party.country_code}*{party.party_id} is bound to partner {other}"
                             " already")


def _needs(parties: list[Party]) -> None:
    if not parties:
        raise PartyError("name the partner's parties (--party COUNTRY*PARTY)")


async def issue_token_a(pool: asyncpg.Pool, token: str, name: str, token_format: str,
                        parties: list[Party], ours: Party) -> int:
    """A partner we expect to register with us, holding the Token A we hand it, and bound to the
    parties the operator named: its credentials may claim those only."""
    _needs(parties)
    async with pool.acquire() as conn, conn.transaction():
        partner_id: int = await conn.fetchval(
            """INSERT INTO ocpi_partners (name, token_a_hash, token_format) VALUES ($1, $2, $3)
               RETURNING id""", name, token_digest(token), token_format)
        await _bind(conn, partner_id, parties, ours)
    return partner_id


async def start_registration(pool: asyncpg.Pool, name: str, versions_url: str, their_token_a: str,
                             our_token: str, token_format: str, parties: list[Party],
                             ours: Party) -> int:
    """We register with a partner: our token must already work when it calls us back, for the
    parties the operator confirmed."""
    _needs(parties)
    async with pool.acquire() as conn, conn.transaction():
        partner_id: int = await conn.fetchval(
            """INSERT INTO ocpi_partners (name, versions_url, their_token, token_hash, token_format)
               VALUES ($1, $2, $3, $4, $5) RETURNING id""",
            name, versions_url, their_token_a, token_digest(our_token), token_format)
        await _bind(conn, partner_id, parties, ours)
    return partner_id


async def by_token(db: Db, candidates: list[str]) -> tuple[Partner, bool, str] | None:
    """The caller a token belongs to, whether it is a registration Token A, and the token as
    the caller holds it (the header may carry it encoded or not)."""
    digests = {token_digest(token): token for token in candidates}
    row = await db.fetchrow(
        f"""SELECT *, token_a_hash = ANY($1::text[]) AS is_token_a FROM ({_SELECT}) p
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
                     roles: list[dict[str, Any]], full_push: bool = False,
                     full_pull: bool = False) -> Partner:
    """Credentials exchanged (or rotated): Token A is spent; the new tokens count from now.
    With full_push, every Location and Tariff is due to it (bridge/ocpi/publishing/sync.py);
    with full_pull, a full pull of its token list is due (bridge/ocpi/token_pull.py)."""
    await db.execute(
        """UPDATE ocpi_partners SET status = 'registered', token_a_hash = NULL, their_token = $2,
               token_hash = COALESCE($3, token_hash), versions_url = $4, version = $5,
               endpoints = $6, roles = $7, updated_at = now(),
               sync_stage = CASE WHEN $8 THEN 'locations' ELSE sync_stage END,
               sync_after = CASE WHEN $8 THEN '' ELSE sync_after END
           WHERE id = $1""",
        partner_id, their_token, token_digest(our_token) if our_token else None, versions_url,
        version, endpoints, roles, full_push,
    )
    if full_pull:  # (the pull state's table, migration 0039: bridge/ocpi/token_store.py)
        await db.execute(
            """INSERT INTO ocpi_token_pulls (partner_id) VALUES ($1) ON CONFLICT (partner_id)
               DO UPDATE SET full_asked_at = now(), next_due = now()""", partner_id)
    # Whichever process serves this partner starts delivering to it (committed with the change).
    await db.execute("SELECT pg_notify($1, $2)", CHANNEL, str(partner_id))
    partner = await get(db, partner_id)
    assert partner is not None
    return partner


async def unregister(db: Db, partner_id: int) -> None:
    """It ends: its tokens stop working, and its parties are free to be bound again."""
    await db.execute(
        """WITH freed AS (DELETE FROM ocpi_parties WHERE partner_id = $1)
           UPDATE ocpi_partners SET status = 'unregistered', token_hash = NULL, token_a_hash = NULL,
               their_token = NULL, updated_at = now() WHERE id = $1""",
        partner_id,
    )


async def forget(db: Db, partner_id: int) -> None:
    """A registration of ours that failed half-way: nothing of it stays valid."""
    await db.execute("DELETE FROM ocpi_partners WHERE id = $1 AND status = 'pending'", partner_id)


async def get(db: Db, partner_id: int) -> Partner | None:
    row = await db.fetchrow(f"{_SELECT} WHERE p.id = $1", partner_id)
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
    return [_partner(row) for row in await db.fetch(f"{_SELECT} ORDER BY p.id")]


async def all_registered(db: Db) -> list[Partner]:
    rows = await db.fetch(f"{_SELECT} WHERE p.status = 'registered' ORDER BY p.id")
    return [_partner(row) for row in rows]
