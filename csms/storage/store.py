"""The repository layer: every SQL statement on the core tables, as small functions over a connection."""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeAlias
from uuid import UUID

import asyncpg

from csms.domain.model import ENERGY_REGISTER, MeterSample
from csms.storage.paging import fetch_page

Executor: TypeAlias = asyncpg.Connection | asyncpg.Pool
Row: TypeAlias = asyncpg.Record


# --- charge points -------------------------------------------------------------------------

async def insert_charge_point(
    db: Executor, charge_point_id: str, password_hash: str | None, registration: str = "accepted",
    security_profile: int | None = None,
) -> None:
    await db.execute(
        """INSERT INTO charge_points (id, password_hash, registration, security_profile)
           VALUES ($1, $2, $3, COALESCE($4, 1))
           ON CONFLICT (id) DO UPDATE SET
               password_hash = COALESCE(EXCLUDED.password_hash, charge_points.password_hash),
               registration = EXCLUDED.registration,
               security_profile = COALESCE($4, charge_points.security_profile)""",
        charge_point_id, password_hash, registration, security_profile,
    )


async def set_password_hash(db: Executor, charge_point_id: str, password_hash: str) -> None:
    await db.execute("UPDATE charge_points SET password_hash = $2 WHERE id = $1",
                     charge_point_id, password_hash)


async def raise_security_profile(db: Executor, charge_point_id: str, profile: int) -> None:
    """The charger took a higher security profile: from now on we require it (never lowered)."""
    await db.execute("UPDATE charge_points SET security_profile = GREATEST(security_profile, $2) "
                     "WHERE id = $1", charge_point_id, profile)


async def get_charge_point(db: Executor, charge_point_id: str) -> Row | None:
    return await db.fetchrow("SELECT * FROM charge_points WHERE id = $1", charge_point_id)


async def list_charge_points(db: Executor) -> list[Row]:
    return await db.fetch("SELECT * FROM charge_points ORDER BY id")


async def page_charge_points(pool: asyncpg.Pool, limit: int,
                             offset: int) -> tuple[list[Row], int]:
    return await fetch_page(pool, "SELECT * FROM charge_points ORDER BY id", (), limit, offset)


# Every statement that changes several chargers' rows locks them in id order (a FOR NO KEY
# UPDATE subquery ordered by id, the lock an UPDATE takes itself; the rows then updated through
# the primary key): two batches locking them in different orders (an array's, the table's)
# deadlocked, and PostgreSQL finds a deadlock only after deadlock_timeout (1 s), every charger of
# both batches waiting meanwhile: the cluster's one-second pauses (bench/README.md). Not FOR
# UPDATE: that also waits for the key-share locks other batches' inserts take on a charger's
# row (their foreign keys), in those batches' order, and deadlocked with them instead.


async def set_connected(db: Executor, connections: list[tuple[str, str]],
                        node_id: str) -> dict[str, str | None]:
    """Chargers (id, protocol) connected to `node_id`; returns the node that held each until now."""
    rows = await db.fetch(
        """UPDATE charge_points cp SET connected = true, protocol = v.protocol, node_id = $3,
               connected_at = now(), last_seen = now()
           FROM (SELECT c.id, c.node_id AS previous, k.protocol
                 FROM unnest($1::text[], $2::text[]) k (id, protocol)
                 JOIN charge_points c ON c.id = k.id ORDER BY c.id FOR NO KEY UPDATE OF c) v
           WHERE cp.id = v.id
           RETURNING cp.id, v.previous""",
        [c[0] for c in connections], [c[1] for c in connections], node_id,
    )
    return {row["id"]: row["previous"] for row in rows}


async def set_disconnected(db: Executor, charge_point_ids: list[str], node_id: str) -> set[str]:
    """The chargers still held by `node_id` are disconnected now; the others have meanwhile
    connected to another node, which holds them."""
    rows = await db.fetch(
        """UPDATE charge_points SET connected = false, node_id = NULL, last_seen = now()
           WHERE id = ANY(ARRAY(SELECT id FROM charge_points
                                WHERE id = ANY($1::text[]) AND node_id = $2
                                ORDER BY id FOR NO KEY UPDATE))
           RETURNING id""",
        charge_point_ids, node_id,
    )
    return {row["id"] for row in rows}


async def join_nodes(db: Executor, node_id: str, lease: float) -> bool:
    """Take or renew this node's lease; True when the row was new, or a sweep had marked it swept
    (its chargers released: the node counted as dead meanwhile)."""
    if isinstance(db, asyncpg.Pool):
        async with db.acquire() as conn:
            return await join_nodes(conn, node_id, lease)
    async with db.transaction():
        # Read under the row's lock, after it: a sweep under way on our row is waited for, and
        # its mark seen (a snapshot taken before the wait, as one statement's, would miss it).
        swept = await db.fetchval("SELECT swept_at IS NOT NULL FROM nodes WHERE id = $1 FOR UPDATE",
                                  node_id)
        await db.execute(
            """INSERT INTO nodes (id, lease_until) VALUES ($1, now() + make_interval(secs => $2))
               ON CONFLICT (id) DO UPDATE SET lease_until = EXCLUDED.lease_until, swept_at = NULL""",
            node_id, lease,
        )
    return swept is None or bool(swept)


async def leave_nodes(db: Executor, node_ids: list[str]) -> None:
    await db.execute("DELETE FROM nodes WHERE id = ANY($1::text[])", node_ids)


async def expired_nodes(db: Executor) -> list[str]:
    """Nodes whose lease ran out, swept already or not, locked until the caller's transaction
    ends. One another node is sweeping is skipped (its lock); a live node's row is never locked
    (the lease is read first)."""
    rows = await db.fetch(
        "SELECT id FROM nodes WHERE lease_until < now() ORDER BY id FOR UPDATE SKIP LOCKED")
    return [row["id"] for row in rows]


async def mark_swept(db: Executor, node_ids: list[str]) -> list[str]:
    """These expired nodes are swept now (their rows kept as tombstones); returns those that were
    not marked already: the ones that died since the last sweep."""
    rows = await db.fetch(
        """UPDATE nodes SET swept_at = now() WHERE id = ANY($1::text[]) AND swept_at IS NULL
           RETURNING id""",
        node_ids,
    )
    return [row["id"] for row in rows]


async def forget_swept(db: Executor, node_ids: list[str], after: float) -> list[str]:
    """The tombstones among these nodes marked more than `after` seconds ago go."""
    rows = await db.fetch(
        """DELETE FROM nodes WHERE id = ANY($1::text[])
               AND swept_at < now() - make_interval(secs => $2) RETURNING id""",
        node_ids, after,
    )
    return [row["id"] for row in rows]


async def claim_charge_points(db: Executor, node_id: str, charge_point_ids: list[str]) -> None:
    """Chargers this node still holds, after a sweep by another node took them away."""
    await db.execute(
        """UPDATE charge_points SET connected = true, node_id = $1
           WHERE id = ANY(ARRAY(SELECT id FROM charge_points WHERE id = ANY($2::text[])
                                  AND (node_id IS NULL OR node_id = $1)
                                ORDER BY id FOR NO KEY UPDATE))""",
        node_id, charge_point_ids,
    )


async def release_chargers_of(db: Executor, node_ids: list[str]) -> list[str]:
    """The chargers recorded as connected to these nodes are disconnected now: only theirs are
    read (charge_points_connected_node)."""
    rows = await db.fetch(
        """UPDATE charge_points SET connected = false, node_id = NULL
           WHERE id = ANY(ARRAY(SELECT id FROM charge_points
                                WHERE connected AND node_id = ANY($1::text[])
                                ORDER BY id FOR NO KEY UPDATE))
           RETURNING id""",
        node_ids,
    )
    return [row["id"] for row in rows]


async def release_strays(db: Executor, node_id: str) -> list[str]:
    """At a node's start: chargers recorded as connected under its own id (by an earlier life of
    it), under no node, or under a node without a row (one whose tombstone was gone by the time
    it recorded a connection, a stall longer than the tombstone lasts, and died before it could
    renew) are disconnected now. Reads every connected charger, once per start; the sweeps that
    follow read only dead nodes' chargers."""
    rows = await db.fetch(
        """UPDATE charge_points SET connected = false, node_id = NULL
           WHERE id = ANY(ARRAY(SELECT id FROM charge_points c WHERE connected
                                  AND (node_id IS NULL OR node_id = $1
                                       OR NOT EXISTS (SELECT 1 FROM nodes n
                                                      WHERE n.id = c.node_id))
                                ORDER BY id FOR NO KEY UPDATE))
           RETURNING id""",
        node_id,
    )
    return [row["id"] for row in rows]


async def holder_of(db: Executor, charge_point_id: str) -> str | None:
    """The live node holding the charger's connection, if any: not one whose lease ran out,
    swept (a tombstone) or not yet."""
    return await db.fetchval(  # type: ignore[no-any-return]
        """SELECT cp.node_id FROM charge_points cp JOIN nodes n ON n.id = cp.node_id
           WHERE cp.id = $1 AND n.lease_until > now() AND n.swept_at IS NULL""",
        charge_point_id,
    )


async def registrations(db: Executor, charge_point_ids: list[str]
                        ) -> dict[str, tuple[str, int | None]]:
    """Each charger's registration policy: (accepted/pending/rejected, retry interval)."""
    rows = await db.fetch(
        """SELECT id, registration, registration_interval FROM charge_points
           WHERE id = ANY($1::text[])""", charge_point_ids)
    return {row["id"]: (row["registration"], row["registration_interval"]) for row in rows}


async def set_registration(db: Executor, charge_point_id: str, registration: str,
                           interval: int | None) -> Row | None:
    """The charger's registration policy; None: no such charger."""
    return await db.fetchrow(
        """UPDATE charge_points SET registration = $2, registration_interval = $3
           WHERE id = $1 RETURNING *""",
        charge_point_id, registration, interval)


async def record_boots(db: Executor, boots: list[tuple[str, str, str, str | None, str | None, str]]
                       ) -> None:
    """(id, vendor, model, serial number, firmware version, our answer) of each boot."""
    await db.execute(
        """UPDATE charge_points cp SET vendor = b.vendor, model = b.model,
               serial_number = b.serial_number, firmware_version = b.firmware_version,
               boot_status = b.boot_status, last_boot = now(), last_seen = now()
           FROM (SELECT b.* FROM unnest($1::text[], $2::text[], $3::text[], $4::text[],
                                        $5::text[], $6::text[])
                     b (id, vendor, model, serial_number, firmware_version, boot_status)
                 JOIN charge_points c ON c.id = b.id ORDER BY c.id FOR NO KEY UPDATE OF c) b
           WHERE cp.id = b.id""",
        *([boot[i] for boot in boots] for i in range(6)),
    )


async def touch(db: Executor, charge_point_ids: list[str]) -> None:
    await db.execute(
        """UPDATE charge_points SET last_seen = now()
           WHERE id = ANY(ARRAY(SELECT id FROM charge_points WHERE id = ANY($1::text[])
                                ORDER BY id FOR NO KEY UPDATE))""",
        charge_point_ids)


async def set_last_seen(db: Executor, seen: list[tuple[str, datetime]]) -> None:
    """When each charger last sent a frame; never moves a time back (another node's later one)."""
    await db.execute(
        """UPDATE charge_points cp SET last_seen = greatest(cp.last_seen, s.at)
           FROM (SELECT s.* FROM unnest($1::text[], $2::timestamptz[]) AS s (id, at)
                 JOIN charge_points c ON c.id = s.id ORDER BY c.id FOR NO KEY UPDATE OF c) s
           WHERE cp.id = s.id""",
        [charge_point_id for charge_point_id, _ in seen], [at for _, at in seen])


async def set_charge_point_status(db: Executor, charge_point_id: str, status: str,
                                  error_code: str | None) -> None:
    await db.execute(
        "UPDATE charge_points SET status = $2, error_code = $3, last_seen = now() WHERE id = $1",
        charge_point_id, status, error_code,
    )


async def insert_charge_points(db: Executor, charge_point_ids: list[str]) -> None:
    """Many chargers at once, each with EVSE 1 and no password: security profile 0, they connect
    without credentials (a fleet's import, a benchmark)."""
    await db.execute(
        """WITH added AS (INSERT INTO charge_points (id, security_profile)
                          SELECT unnest($1::text[]), 0
                          ON CONFLICT (id) DO NOTHING RETURNING id)
           INSERT INTO evses (charge_point_id, evse_number) SELECT id, 1 FROM added""",
        charge_point_ids,
    )


# --- EVSEs and connectors ------------------------------------------------------------------

async def upsert_evse(db: Executor, charge_point_id: str, evse_number: int,
                      evse_id: str | None) -> Row:
    row = await db.fetchrow(
        """INSERT INTO evses (charge_point_id, evse_number, evse_id) VALUES ($1, $2, $3)
           ON CONFLICT (charge_point_id, evse_number)
           DO UPDATE SET evse_id = COALESCE(EXCLUDED.evse_id, evses.evse_id)
           RETURNING *""",
        charge_point_id, evse_number, evse_id,
    )
    assert row is not None
    return row


async def ensure_evse(db: Executor, charge_point_id: str, evse_number: int) -> Row:
    """The EVSE, created without a roaming id if the charger reports one we did not register."""
    row = await db.fetchrow(
        "SELECT * FROM evses WHERE charge_point_id = $1 AND evse_number = $2",
        charge_point_id, evse_number,
    )
    return row if row is not None else await upsert_evse(db, charge_point_id, evse_number, None)


async def get_evse(db: Executor, charge_point_id: str, evse_number: int) -> Row | None:
    return await db.fetchrow(
        "SELECT * FROM evses WHERE charge_point_id = $1 AND evse_number = $2",
        charge_point_id, evse_number,
    )


async def get_evse_by_pk(db: Executor, evse_pk: int) -> Row | None:
    return await db.fetchrow("SELECT * FROM evses WHERE id = $1", evse_pk)


async def get_evse_by_evse_id(db: Executor, evse_id: str) -> Row | None:
    return await db.fetchrow("SELECT * FROM evses WHERE evse_id = $1", evse_id)


async def list_evses(db: Executor, charge_point_id: str) -> list[Row]:
    return await db.fetch(
        "SELECT * FROM evses WHERE charge_point_id = $1 ORDER BY evse_number", charge_point_id
    )


async def list_connectors(db: Executor, evse_pks: list[int]) -> list[Row]:
    return await db.fetch(
        "SELECT * FROM connectors WHERE evse = ANY($1::bigint[]) ORDER BY evse, connector_number",
        evse_pks,
    )


async def set_evse_status(db: Executor, evse_pk: int, status: str, ocpp_status: str,
                          error_code: str | None, at: datetime) -> str:
    """Store the new status; returns the previous one."""
    previous = await db.fetchval(
        """UPDATE evses e SET status = $2, ocpp_status = $3, error_code = $4, status_at = $5
           FROM (SELECT id, status FROM evses WHERE id = $1 FOR UPDATE) old
           WHERE e.id = old.id RETURNING old.status""",
        evse_pk, status, ocpp_status, error_code, at,
    )
    return str(previous)


async def upsert_connector(db: Executor, evse_pk: int, connector_number: int, status: str,
                           ocpp_status: str, error_code: str | None, at: datetime) -> None:
    await db.execute(
        """INSERT INTO connectors (evse, connector_number, status, ocpp_status, error_code, status_at)
           VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (evse, connector_number) DO UPDATE SET status = EXCLUDED.status,
               ocpp_status = EXCLUDED.ocpp_status, error_code = EXCLUDED.error_code,
               status_at = EXCLUDED.status_at""",
        evse_pk, connector_number, status, ocpp_status, error_code, at,
    )


# --- tokens --------------------------------------------------------------------------------

# Our own tokens have an empty party; a partner's are keyed by its party, as OCPI keys them.
# Ordered: ours first, then the partners' in the order they were added (owner "ocpi:N").
_HELD_ORDER = "owner IS NOT NULL, length(owner), owner, country_code, party_id"


async def get_token(db: Executor, uid: str) -> Row | None:
    """The token with this UID: ours if we have one, else the first partner's that holds it."""
    return await db.fetchrow(f"SELECT * FROM tokens WHERE uid = $1 ORDER BY {_HELD_ORDER} LIMIT 1",
                             uid)


async def tokens_held(db: Executor, uid: str) -> list[Row]:
    """Every token with this UID (ours, partners'), in the order authorization asks them."""
    return list(await db.fetch(f"SELECT * FROM tokens WHERE uid = $1 ORDER BY {_HELD_ORDER}", uid))


async def get_party_token(db: Executor, country_code: str, party_id: str, uid: str) -> Row | None:
    return await db.fetchrow(
        "SELECT * FROM tokens WHERE country_code = $1 AND party_id = $2 AND uid = $3",
        country_code, party_id, uid,
    )


async def upsert_token(db: Executor, uid: str, type_: str = "RFID", status: str = "accepted",
                       expires_at: datetime | None = None) -> Row:
    """One of our own tokens (a partner's card with the same UID is another token)."""
    row = await db.fetchrow(
        """INSERT INTO tokens (uid, type, status, expires_at) VALUES ($1, $2, $3, $4)
           ON CONFLICT (country_code, party_id, uid) DO UPDATE SET type = EXCLUDED.type,
               status = EXCLUDED.status, expires_at = EXCLUDED.expires_at
           RETURNING *""",
        uid, type_, status, expires_at,
    )
    assert row is not None
    return row


async def upsert_owned_token(db: Executor, country_code: str, party_id: str, uid: str, type_: str,
                             status: str, owner: str, realtime: bool,
                             attributes: dict[str, Any]) -> Row:
    """A token a roaming partner issued under one of its parties (the caller checked that the
    party is the owner's: a party that changed partners moves with its tokens)."""
    row = await db.fetchrow(
        """INSERT INTO tokens (country_code, party_id, uid, type, status, owner, realtime, attributes)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
           ON CONFLICT (country_code, party_id, uid) DO UPDATE SET type = EXCLUDED.type,
               status = EXCLUDED.status, owner = EXCLUDED.owner, realtime = EXCLUDED.realtime,
               attributes = EXCLUDED.attributes, updated_at = now()
           RETURNING *""",
        country_code, party_id, uid, type_, status, owner, realtime, attributes,
    )
    assert row is not None
    return row


async def set_token_status(db: Executor, uid: str, status: str) -> Row | None:
    """Every token with this UID (ours and partners' copies); the one get_token shows."""
    await db.execute("UPDATE tokens SET status = $2 WHERE uid = $1", uid, status)
    return await get_token(db, uid)


# $1: ours only (no roaming partner's copy); $2: of this status only.
_TOKENS = """SELECT * FROM tokens WHERE (NOT $1::boolean OR owner IS NULL)
    AND ($2::text IS NULL OR status = $2) ORDER BY uid, country_code, party_id"""


async def list_tokens(db: Executor, limit: int, offset: int, own: bool = False,
                      status: str | None = None) -> list[Row]:
    """Tokens by UID; `own`: ours only (no roaming partner's copy)."""
    return await db.fetch(f"{_TOKENS} LIMIT $3 OFFSET $4", own, status, limit, offset)


async def page_tokens(pool: asyncpg.Pool, limit: int, offset: int) -> tuple[list[Row], int]:
    return await fetch_page(pool, _TOKENS, (False, None), limit, offset)


async def set_own_token_status(db: Executor, uid: str, status: str) -> Row | None:
    """Our own token with this UID (None: we hold none); partners' copies are theirs to set."""
    return await db.fetchrow(
        "UPDATE tokens SET status = $2, updated_at = now() WHERE uid = $1 AND owner IS NULL "
        "RETURNING *", uid, status)


# --- sessions ------------------------------------------------------------------------------

_SESSION_COLUMNS = """s.*, e.evse_number, e.evse_id"""


async def next_transaction_id(db: Executor) -> int:
    return int(await db.fetchval("SELECT nextval('ocpp16_transaction_ids')"))


async def insert_session(db: Executor, *, next_remote_start_id: bool = False,
                         **values: Any) -> Row:
    """The new session as get_session reads it, in one round trip; `next_remote_start_id`: its
    remote_start_id is the sequence's next (a remote start about to be sent)."""
    columns = list(values)
    placeholders = [f"${i}" for i in range(1, len(columns) + 1)]
    if next_remote_start_id:
        columns.append("remote_start_id")
        placeholders.append("nextval('remote_start_ids')")
    session = await db.fetchrow(
        f"""WITH s AS (INSERT INTO sessions ({', '.join(columns)})
                       VALUES ({', '.join(placeholders)}) RETURNING *)
            SELECT {_SESSION_COLUMNS} FROM s JOIN evses e ON e.id = s.evse""",
        *values.values(),
    )
    assert session is not None
    return session


async def update_session(db: Executor, session_id: str, **values: Any) -> Row:
    assignments = ", ".join(f"{name} = ${i}" for i, name in enumerate(values, start=2))
    await db.execute(
        f"UPDATE sessions SET {assignments}, updated_at = now() WHERE id = $1",
        session_id, *values.values(),
    )
    session = await get_session(db, session_id)
    assert session is not None
    return session


async def get_session(db: Executor, session_id: str, lock: bool = False) -> Row | None:
    return await db.fetchrow(
        f"""SELECT {_SESSION_COLUMNS} FROM sessions s JOIN evses e ON e.id = s.evse
            WHERE s.id = $1 {"FOR UPDATE OF s" if lock else ""}""",
        session_id,
    )


async def session_by_transaction(db: Executor, charge_point_id: str,
                                 transaction_id: str) -> Row | None:
    return await db.fetchrow(
        f"""SELECT {_SESSION_COLUMNS} FROM sessions s JOIN evses e ON e.id = s.evse
            WHERE s.charge_point_id = $1 AND s.transaction_id = $2 FOR UPDATE OF s""",
        charge_point_id, transaction_id,
    )


async def session_by_start(db: Executor, charge_point_id: str, connector_number: int | None,
                           token_uid: str | None, started_at: datetime,
                           meter_start_wh: float | None) -> Row | None:
    """The session a 1.6 StartTransaction with exactly these values already opened (a resend)."""
    return await db.fetchrow(
        f"""SELECT {_SESSION_COLUMNS} FROM sessions s JOIN evses e ON e.id = s.evse
            WHERE s.charge_point_id = $1 AND s.connector_number IS NOT DISTINCT FROM $2
              AND s.started_at = $4 AND s.transaction_id IS NOT NULL
              AND s.token_uid IS NOT DISTINCT FROM $3
              AND s.meter_start_wh IS NOT DISTINCT FROM $5
            ORDER BY s.created_at LIMIT 1 FOR UPDATE OF s""",
        charge_point_id, connector_number, token_uid, started_at, meter_start_wh,
    )


async def last_energy_reading(db: Executor, session_id: str) -> Row | None:
    """The session's latest whole-meter energy register sample (value, sampled_at)."""
    return await db.fetchrow(
        """SELECT value, sampled_at FROM meter_samples WHERE session_id = $1 AND measurand = $2
           AND phase IS NULL ORDER BY sampled_at DESC, id DESC LIMIT 1""",
        session_id, ENERGY_REGISTER,
    )


async def expire_pending(db: Executor, requested_before: datetime) -> list[Row]:
    """Remote starts not taken up in time become 'expired'; returns them."""
    return await db.fetch(
        """UPDATE sessions SET status = 'expired', stop_reason = 'remote start not taken up',
               updated_at = now()
           WHERE status = 'pending' AND requested_at < $1 RETURNING *""",
        requested_before,
    )


async def sessions_by_transactions(db: Executor, keys: list[tuple[str, str]]
                                   ) -> dict[tuple[str, str], Row]:
    """Many chargers' sessions at once, by (charge point id, transaction id), locked."""
    rows = await db.fetch(
        f"""SELECT {_SESSION_COLUMNS} FROM sessions s JOIN evses e ON e.id = s.evse
            JOIN unnest($1::text[], $2::text[]) k (charge_point_id, transaction_id)
              ON s.charge_point_id = k.charge_point_id AND s.transaction_id = k.transaction_id
            ORDER BY s.id FOR UPDATE OF s""",
        [k[0] for k in keys], [k[1] for k in keys],
    )
    return {(row["charge_point_id"], row["transaction_id"]): row for row in rows}


async def set_last_seq_nos(db: Executor, seq_nos: dict[str, int]) -> None:
    """2.0.1 TransactionEvent seqNo, per session id."""
    await db.execute(
        """UPDATE sessions s SET last_seq_no = v.seq_no, updated_at = now()
           FROM unnest($1::uuid[], $2::int[]) v (id, seq_no) WHERE s.id = v.id""",
        list(seq_nos), list(seq_nos.values()),
    )


async def first_energy_readings(db: Executor, session_ids: list[str]) -> dict[str, float]:
    """Each session's earliest whole-meter energy register reading (Wh), by session id."""
    rows = await db.fetch(
        """SELECT DISTINCT ON (session_id) session_id, value FROM meter_samples
           WHERE session_id = ANY($1::uuid[]) AND measurand = $2 AND phase IS NULL
           ORDER BY session_id, sampled_at, id""",
        session_ids, ENERGY_REGISTER,
    )
    return {str(row["session_id"]): float(row["value"]) for row in rows}


async def set_charging_started(db: Executor, session_id: str, at: datetime) -> bool:
    """The charger says it charges: the session's charging start, unless one is known."""
    return await db.fetchval(
        """UPDATE sessions SET charging_started_at = $2
           WHERE id = $1 AND charging_started_at IS NULL RETURNING true""",
        session_id, at,
    ) is not None


async def roaming_evse_id(db: Executor, charge_point_id: str,
                          evse_number: int | None) -> str | None:
    """The EvseID of the charger's EVSE; without a number, of its only EVSE (if just one)."""
    rows = await db.fetch(
        """SELECT evse_id FROM evses WHERE charge_point_id = $1 AND retired_at IS NULL
             AND ($2::int IS NULL OR evse_number = $2) LIMIT 2""",
        charge_point_id, evse_number,
    )
    return rows[0]["evse_id"] if len(rows) == 1 else None


async def only_evse_number(db: Executor, charge_point_id: str) -> int | None:
    """The charger's EVSE number when it has just one (where a token is presented, then)."""
    rows = await db.fetch(
        """SELECT evse_number FROM evses WHERE charge_point_id = $1 AND retired_at IS NULL
           LIMIT 2""", charge_point_id)
    return rows[0]["evse_number"] if len(rows) == 1 else None


async def evse_ids(db: Executor, keys: list[tuple[str, int]]) -> dict[tuple[str, int], int]:
    """Many chargers' EVSE primary keys at once, by (charge point id, EVSE number)."""
    rows = await db.fetch(
        """SELECT e.id, e.charge_point_id, e.evse_number FROM evses e
           JOIN unnest($1::text[], $2::int[]) k (charge_point_id, evse_number)
             ON e.charge_point_id = k.charge_point_id AND e.evse_number = k.evse_number""",
        [k[0] for k in keys], [k[1] for k in keys],
    )
    return {(row["charge_point_id"], row["evse_number"]): row["id"] for row in rows}


async def active_session_on_evse(db: Executor, evse_pk: int) -> Row | None:
    return await db.fetchrow(
        f"""SELECT {_SESSION_COLUMNS} FROM sessions s JOIN evses e ON e.id = s.evse
            WHERE s.evse = $1 AND s.status = 'active'""",
        evse_pk,
    )


async def active_session_at(db: Executor, charge_point_id: str, evse_number: int) -> Row | None:
    """The running session on a charger's EVSE, addressed by its number."""
    return await db.fetchrow(
        f"""SELECT {_SESSION_COLUMNS} FROM sessions s JOIN evses e ON e.id = s.evse
            WHERE e.charge_point_id = $1 AND e.evse_number = $2 AND s.status = 'active'""",
        charge_point_id, evse_number,
    )


async def active_session_with_token(db: Executor, charge_point_id: str, token_uid: str,
                                    other_than_evse: int) -> Row | None:
    """The token's running session on another EVSE of this charger, if any."""
    return await db.fetchrow(
        """SELECT id FROM sessions WHERE charge_point_id = $1 AND token_uid = $2
           AND status = 'active' AND evse <> $3 LIMIT 1""",
        charge_point_id, token_uid, other_than_evse,
    )


async def lock_evse(db: Executor, evse_pk: int) -> None:
    """Transactions reported on one EVSE are decided one at a time (resends, superseding)."""
    await db.execute("SELECT 1 FROM evses WHERE id = $1 FOR UPDATE", evse_pk)


async def pending_by_remote_start_id(db: Executor, charge_point_id: str,
                                     remote_start_id: int) -> Row | None:
    return await db.fetchrow(
        f"""SELECT {_SESSION_COLUMNS} FROM sessions s JOIN evses e ON e.id = s.evse
            WHERE s.charge_point_id = $1 AND s.remote_start_id = $2 AND s.status = 'pending'
            FOR UPDATE OF s""",
        charge_point_id, remote_start_id,
    )


async def pending_by_token(db: Executor, charge_point_id: str, token_uid: str,
                           evse_pk: int | None, since: datetime) -> Row | None:
    """The newest remote start for this token on this charger (and EVSE, when known)."""
    return await db.fetchrow(
        f"""SELECT {_SESSION_COLUMNS} FROM sessions s JOIN evses e ON e.id = s.evse
            WHERE s.charge_point_id = $1 AND s.token_uid = $2 AND s.status = 'pending'
              AND ($3::bigint IS NULL OR s.evse = $3) AND s.requested_at >= $4
            ORDER BY s.requested_at DESC LIMIT 1 FOR UPDATE OF s""",
        charge_point_id, token_uid, evse_pk, since,
    )


# Newest first; $4 (`since`): started (or, not started, asked for) then or later.
_SESSIONS = f"""SELECT {_SESSION_COLUMNS} FROM sessions s JOIN evses e ON e.id = s.evse
    WHERE ($1::text IS NULL OR s.status = $1) AND ($2::text IS NULL OR s.charge_point_id = $2)
      AND ($3::int IS NULL OR e.evse_number = $3)
      AND ($4::timestamptz IS NULL OR COALESCE(s.started_at, s.created_at) >= $4)
    ORDER BY s.created_at DESC, s.id"""


async def list_sessions(db: Executor, status: str | None, charge_point_id: str | None,
                        evse_number: int | None, limit: int, offset: int,
                        since: datetime | None = None) -> list[Row]:
    return await db.fetch(f"{_SESSIONS} LIMIT $5 OFFSET $6",
                          status, charge_point_id, evse_number, since, limit, offset)


async def page_sessions(pool: asyncpg.Pool, status: str | None, charge_point_id: str | None,
                        evse_number: int | None, limit: int,
                        offset: int) -> tuple[list[Row], int]:
    return await fetch_page(pool, _SESSIONS, (status, charge_point_id, evse_number, None), limit,
                            offset)


# --- meter samples and reports ---------------------------------------------------------------

SampleRow = tuple[str | None, str, int | None, MeterSample]  # session, charger, EVSE pk, sample


async def insert_samples(db: Executor, session_id: str | None, charge_point_id: str,
                         evse_pk: int | None, samples: list[MeterSample]) -> None:
    await insert_sample_rows(db, [(session_id, charge_point_id, evse_pk, s) for s in samples])


async def insert_sample_rows(db: Executor, rows: list[SampleRow]) -> None:
    """Stores each sample once: a replay (the charger missed our answer) adds nothing.
    One statement for any number of chargers' samples."""
    if not rows:
        return
    await db.execute(
        """INSERT INTO meter_samples (session_id, charge_point_id, evse, sampled_at, measurand,
               value, unit, context, phase, location)
           SELECT * FROM unnest($1::uuid[], $2::text[], $3::bigint[], $4::timestamptz[],
                                $5::text[], $6::float8[], $7::text[], $8::text[], $9::text[],
                                $10::text[])
           ON CONFLICT DO NOTHING""",
        [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows],
        [r[3].sampled_at for r in rows], [r[3].measurand for r in rows],
        [r[3].value for r in rows], [r[3].unit for r in rows], [r[3].context for r in rows],
        [r[3].phase for r in rows], [r[3].location for r in rows],
    )


_SAMPLES = """SELECT sampled_at, measurand, value, unit, context, phase, location
    FROM meter_samples WHERE session_id = $1 ORDER BY sampled_at, id"""


async def list_samples(db: Executor, session_id: str) -> list[Row]:
    return await db.fetch(_SAMPLES, session_id)


async def page_samples(pool: asyncpg.Pool, session_id: str, limit: int,
                       offset: int) -> tuple[list[Row], int]:
    return await fetch_page(pool, _SAMPLES, (session_id,), limit, offset)


async def insert_report(db: Executor, charge_point_id: str, kind: str,
                        payload: dict[str, Any]) -> None:
    await db.execute(
        "INSERT INTO charge_point_reports (charge_point_id, kind, payload) VALUES ($1, $2, $3)",
        charge_point_id, kind, payload,
    )


_REPORTS = """SELECT kind, payload, received_at FROM charge_point_reports
    WHERE charge_point_id = $1 AND ($2::text IS NULL OR kind = $2)
    ORDER BY received_at DESC, id DESC"""


async def list_reports(db: Executor, charge_point_id: str, kind: str | None,
                       limit: int) -> list[Row]:
    return await db.fetch(f"{_REPORTS} LIMIT $3", charge_point_id, kind, limit)


async def page_reports(pool: asyncpg.Pool, charge_point_id: str, kind: str | None, limit: int,
                       offset: int) -> tuple[list[Row], int]:
    return await fetch_page(pool, _REPORTS, (charge_point_id, kind), limit, offset)


_SECURITY_EVENTS = """SELECT charge_point_id, payload, received_at FROM charge_point_reports
    WHERE kind = 'SecurityEventNotification' AND ($1::text IS NULL OR charge_point_id = $1)
    ORDER BY received_at DESC, id DESC"""


async def page_security_events(pool: asyncpg.Pool, charge_point_id: str | None, limit: int,
                               offset: int) -> tuple[list[Row], int]:
    """SecurityEventNotifications of one charger or all, newest first."""
    return await fetch_page(pool, _SECURITY_EVENTS, (charge_point_id,), limit, offset)


async def recent_security_events(db: Executor, limit: int) -> list[Row]:
    """Every charger's latest SecurityEventNotifications, newest first."""
    return await db.fetch(f"{_SECURITY_EVENTS} LIMIT $2", None, limit)


async def session_by_roaming_id(db: Executor, protocol: str, session_id: str) -> Row | None:
    """The session a roaming partner knows by its own id (e.g. OICP SessionID)."""
    return await db.fetchrow(
        f"""SELECT {_SESSION_COLUMNS} FROM sessions s JOIN evses e ON e.id = s.evse
            WHERE s.attributes -> $1 ->> 'SessionID' = $2 AND s.status <> 'failed'
            ORDER BY s.created_at DESC LIMIT 1""",
        protocol, session_id,
    )


async def energy_readings(db: Executor, session_id: str) -> list[float]:
    """The session's whole-meter energy register readings (Wh), in time order."""
    return [float(row["value"]) for row in await energy_samples(db, session_id)]


async def active_roaming_sessions(db: Executor, charge_point_id: str, protocol: str) -> list[Row]:
    """The charger's active sessions that a roaming partner authorized."""
    return await db.fetch(
        f"""SELECT {_SESSION_COLUMNS} FROM sessions s JOIN evses e ON e.id = s.evse
            WHERE s.charge_point_id = $1 AND s.status = 'active' AND s.attributes ? $2
            ORDER BY s.started_at""",
        charge_point_id, protocol,
    )


async def record_roaming_authorization(db: Executor, protocol: str, token_uid: str,
                                       charge_point_id: str, attributes: dict[str, Any], *,
                                       authorized: bool = True, status_code: str | None = None,
                                       keep: float = 86400.0) -> None:
    """A partner's answer for a token, positive or not (the newest decides what a cache may
    do); answers older than `keep` seconds, of any token, go."""
    await db.execute(
        "DELETE FROM roaming_authorizations WHERE authorized_at < now() - make_interval(secs => $1)",
        keep)
    await db.execute(
        """INSERT INTO roaming_authorizations
           (protocol, token_uid, charge_point_id, roaming_session_id, attributes, authorized,
            status_code)
           VALUES ($1, $2, $3, $4, $5, $6, $7)""",
        protocol, token_uid, charge_point_id, (attributes.get(protocol) or {}).get("SessionID"),
        attributes, authorized, status_code,
    )


async def unused_roaming_authorization(db: Executor, protocol: str, token_uid: str,
                                       charge_point_id: str, within: float) -> dict[str, Any] | None:
    """A recent positive answer for this token at this charger that no session has taken yet,
    unless the partner refused the token since."""
    return await db.fetchval(  # type: ignore[no-any-return]
        """SELECT a.attributes FROM roaming_authorizations a
           WHERE a.protocol = $1 AND a.token_uid = $2 AND a.charge_point_id = $3 AND a.authorized
             AND a.authorized_at > now() - make_interval(secs => $4)
             AND NOT EXISTS (SELECT 1 FROM sessions s
                             WHERE s.attributes -> $1 ->> 'SessionID' = a.roaming_session_id
                               AND s.status <> 'failed')
             AND NOT EXISTS (SELECT 1 FROM roaming_authorizations r
                             WHERE r.protocol = $1 AND r.token_uid = $2 AND NOT r.authorized
                               AND r.authorized_at > a.authorized_at)
           ORDER BY a.authorized_at DESC LIMIT 1""",
        protocol, token_uid, charge_point_id, within,
    )


async def cached_roaming_authorization(db: Executor, protocol: str, token_uid: str,
                                       within: float) -> dict[str, Any] | None:
    """The newest answer for this token, anywhere, not older than `within` seconds, if it was
    positive: a refusal since then stands."""
    return await db.fetchval(  # type: ignore[no-any-return]
        """SELECT CASE WHEN authorized THEN attributes END FROM roaming_authorizations
           WHERE protocol = $1 AND token_uid = $2
             AND authorized_at > now() - make_interval(secs => $3)
           ORDER BY authorized_at DESC, id DESC LIMIT 1""",
        protocol, token_uid, within,
    )


async def record_late_roaming_session(db: Executor, session_id: str, protocol: str,
                                      roaming_session_id: str) -> str:
    """The partner's session id a session got only after it ended (it charged on a cached
    authorization); the one recorded first stays. Returns the session's id at the partner."""
    return await db.fetchval(  # type: ignore[no-any-return]
        """WITH late AS (
               UPDATE sessions SET attributes = jsonb_set(attributes, ARRAY[$2::text, 'SessionID'],
                                                          to_jsonb($3::text))
               WHERE id = $1 AND NOT (attributes -> $2 ? 'SessionID')
               RETURNING attributes -> $2 ->> 'SessionID' AS id)
           SELECT coalesce((SELECT id FROM late),
                           (SELECT attributes -> $2 ->> 'SessionID' FROM sessions WHERE id = $1))""",
        session_id, protocol, roaming_session_id,
    )


async def late_roaming_session(db: Executor, session_id: str, protocol: str) -> str | None:
    """The partner's session id recorded for a session, if any."""
    return await db.fetchval(  # type: ignore[no-any-return]
        "SELECT attributes -> $2 ->> 'SessionID' FROM sessions WHERE id = $1",
        session_id, protocol)


async def upsert_site(db: Executor, site_id: str, data: dict[str, Any]) -> None:
    await db.execute(
        """INSERT INTO sites (id, data) VALUES ($1, $2)
           ON CONFLICT (id) DO UPDATE SET data = EXCLUDED.data, updated_at = now()""",
        site_id, data,
    )


async def set_site(db: Executor, charge_point_ids: list[str], site_id: str | None) -> list[str]:
    """Moves charge points to a site; returns those that exist."""
    rows = await db.fetch(
        "UPDATE charge_points SET site_id = $2 WHERE id = ANY($1::text[]) RETURNING id",
        charge_point_ids, site_id,
    )
    await db.execute("UPDATE evses SET updated_at = now() WHERE charge_point_id = ANY($1::text[])",
                     charge_point_ids)
    return [row["id"] for row in rows]


async def charge_points_on_site(db: Executor, site_id: str) -> list[str]:
    rows = await db.fetch("SELECT id FROM charge_points WHERE site_id = $1", site_id)
    return [row["id"] for row in rows]


async def retire_evses(db: Executor, charge_point_id: str, evse_numbers: list[int] | None) -> int:
    """Marks EVSEs retired (all of the charger's when evse_numbers is None); returns how many."""
    result = await db.execute(
        """UPDATE evses SET retired_at = now() WHERE charge_point_id = $1 AND retired_at IS NULL
           AND ($2::int[] IS NULL OR evse_number = ANY($2::int[]))""",
        charge_point_id, evse_numbers,
    )
    return int(result.split()[-1])


async def roaming_evses(db: Executor, charge_point_id: str | None = None) -> list[Row]:
    """EVSEs with a roaming EvseID, offered (not retired) and on a site, with the site's data."""
    return await db.fetch(
        """SELECT e.evse_id, e.charge_point_id, e.status, s.data AS site
           FROM evses e JOIN charge_points c ON c.id = e.charge_point_id
           JOIN sites s ON s.id = c.site_id
           WHERE e.evse_id IS NOT NULL AND e.retired_at IS NULL
             AND ($1::text IS NULL OR e.charge_point_id = $1)
           ORDER BY e.evse_id""",
        charge_point_id,
    )


async def sent_evse_data(db: Executor, protocol: str,
                         charge_point_id: str | None = None) -> dict[str, dict[str, Any]]:
    """The static EVSE records a roaming partner was last sent, by EvseID."""
    rows = await db.fetch(
        """SELECT evse_id, record FROM roaming_evse_data WHERE protocol = $1
           AND ($2::text IS NULL OR charge_point_id = $2) FOR UPDATE""",
        protocol, charge_point_id,
    )
    return {row["evse_id"]: row["record"] for row in rows}


async def record_sent_evse_data(db: Executor, protocol: str, charge_point_ids: dict[str, str],
                                records: dict[str, dict[str, Any]],
                                deleted: list[str]) -> None:
    """After queueing a push: what the partner will hold (charge_point_ids by EvseID)."""
    if deleted:
        await db.execute(
            "DELETE FROM roaming_evse_data WHERE protocol = $1 AND evse_id = ANY($2::text[])",
            protocol, deleted,
        )
    await db.executemany(
        """INSERT INTO roaming_evse_data (protocol, evse_id, charge_point_id, record)
           VALUES ($1, $2, $3, $4) ON CONFLICT (protocol, evse_id)
           DO UPDATE SET record = EXCLUDED.record, charge_point_id = EXCLUDED.charge_point_id""",
        [(protocol, evse_id, charge_point_ids[evse_id], record)
         for evse_id, record in records.items()],
    )


async def charge_points_with_sent_evse_data(db: Executor, protocol: str) -> set[str]:
    rows = await db.fetch(
        "SELECT DISTINCT charge_point_id FROM roaming_evse_data WHERE protocol = $1", protocol)
    return {row["charge_point_id"] for row in rows}


_RESERVATION_COLUMNS = "r.*, e.evse_number, e.evse_id"


async def insert_reservation(db: Executor, charge_point_id: str, evse_pk: int | None,
                             token_uid: str, expires_at: datetime, attributes: dict[str, Any],
                             connector_type: str | None = None) -> int:
    """evse_pk None: any EVSE of the charger (of `connector_type`, when given)."""
    return await db.fetchval(  # type: ignore[no-any-return]
        """INSERT INTO reservations (charge_point_id, evse, token_uid, expires_at, attributes,
                                     connector_type)
           VALUES ($1, $2, $3, $4, $5, $6) RETURNING id""",
        charge_point_id, evse_pk, token_uid, expires_at, attributes, connector_type,
    )


async def set_reservation_status(db: Executor, reservation_id: int, status: str,
                                 only_if: tuple[str, ...]) -> Row | None:
    """Moves a reservation on, only from the given statuses; the row, or None if it was not."""
    return await db.fetchrow(
        f"""WITH changed AS (
                UPDATE reservations SET status = $2,
                    -- an expiry ends it when it was due, however late our job or the charger noticed
                    ended_at = CASE WHEN $2 = 'expired' THEN LEAST(now(), expires_at)
                                    WHEN $2 IN ('cancelled', 'used') THEN now() END
                WHERE id = $1 AND status = ANY($3::text[]) RETURNING *)
            SELECT {_RESERVATION_COLUMNS} FROM changed r LEFT JOIN evses e ON e.id = r.evse""",
        reservation_id, status, list(only_if),
    )


async def get_reservation(db: Executor, reservation_id: int) -> Row | None:
    return await db.fetchrow(
        f"SELECT {_RESERVATION_COLUMNS} FROM reservations r LEFT JOIN evses e ON e.id = r.evse "
        "WHERE r.id = $1", reservation_id,
    )


async def reservation_by_roaming_id(db: Executor, protocol: str, session_id: str) -> Row | None:
    return await db.fetchrow(
        f"""SELECT {_RESERVATION_COLUMNS} FROM reservations r LEFT JOIN evses e ON e.id = r.evse
            WHERE r.attributes -> $1 ->> 'SessionID' = $2 AND r.status <> 'refused'
            ORDER BY r.created_at DESC LIMIT 1""",
        protocol, session_id,
    )


async def due_reservations(db: Executor) -> list[int]:
    rows = await db.fetch(
        """SELECT id FROM reservations WHERE status IN ('active', 'requested')
           AND expires_at <= now() ORDER BY id""")
    return [row["id"] for row in rows]


async def reservation_for_session(db: Executor, evse_pk: int, token_uid: str | None,
                                  reservation_id: int | None) -> int | None:
    """The active reservation a starting session uses: by its id, else the one this token (or
    a token of its group) holds on the EVSE, else on any EVSE of the charger."""
    return await db.fetchval(  # type: ignore[no-any-return]
        """SELECT r.id FROM reservations r JOIN evses e ON e.id = $1
           WHERE r.status = 'active' AND r.charge_point_id = e.charge_point_id
             AND (r.evse = $1 OR r.evse IS NULL)
             AND (r.id = $3 OR ($3 IS NULL AND (r.token_uid = $2 OR EXISTS (
                 SELECT 1 FROM tokens mine JOIN tokens held ON held.group_id = mine.group_id
                 WHERE mine.uid = $2 AND held.uid = r.token_uid AND mine.owner IS NULL
                   AND held.owner IS NULL))))
           ORDER BY r.evse IS NULL, r.id LIMIT 1""",
        evse_pk, token_uid, reservation_id,
    )


async def reservations_for_any_evse(db: Executor, charge_point_id: str) -> list[Row]:
    """The charger's open reservations that hold no named EVSE (any EVSE, or one of a type)."""
    return list(await db.fetch(
        """SELECT * FROM reservations WHERE charge_point_id = $1 AND evse IS NULL
           AND status IN ('requested', 'active') AND expires_at > now() ORDER BY id""",
        charge_point_id))


async def site_time_zone(db: Executor, charge_point_id: str) -> str | None:
    return await db.fetchval(  # type: ignore[no-any-return]
        """SELECT s.data ->> 'time_zone' FROM charge_points c JOIN sites s ON s.id = c.site_id
           WHERE c.id = $1""",
        charge_point_id,
    )


async def put_tariff(db: Executor, tariff_id: str, data: dict[str, Any] | None) -> None:
    """A new version of a tariff (None: deleted from now on)."""
    await db.execute("INSERT INTO tariff_versions (id, data) VALUES ($1, $2)", tariff_id, data)


async def tariff_at(db: Executor, tariff_id: str, at: datetime) -> dict[str, Any] | None:
    """The tariff as it was at `at` (its first version if it is younger than that)."""
    return await db.fetchval(  # type: ignore[no-any-return]
        """SELECT data FROM tariff_versions WHERE id = $1
           ORDER BY (valid_from <= $2) DESC, CASE WHEN valid_from <= $2 THEN valid_from END DESC,
                    valid_from
           LIMIT 1""",
        tariff_id, at,
    )


async def current_tariffs(db: Executor) -> list[Row]:
    """Every tariff's newest version that is not a deletion, with when it became valid."""
    return await db.fetch(
        """SELECT * FROM (SELECT DISTINCT ON (id) id, valid_from, data FROM tariff_versions
                          ORDER BY id, valid_from DESC) newest
           WHERE data IS NOT NULL ORDER BY valid_from, id"""
    )


async def site_of(db: Executor, charge_point_id: str) -> str | None:
    return await db.fetchval(  # type: ignore[no-any-return]
        "SELECT site_id FROM charge_points WHERE id = $1", charge_point_id)


async def energy_samples(db: Executor, session_id: str) -> list[Row]:
    """The session's whole-meter energy register readings with their times (Wh), in time order."""
    return await db.fetch(
        """SELECT sampled_at, value FROM meter_samples WHERE session_id = $1 AND phase IS NULL
             AND measurand = 'Energy.Active.Import.Register' ORDER BY sampled_at, id""",
        session_id,
    )


async def get_site(db: Executor, site_id: str) -> dict[str, Any] | None:
    return await db.fetchval("SELECT data FROM sites WHERE id = $1", site_id)  # type: ignore[no-any-return]


async def reservation_by_partner_ref(db: Executor, protocol: str, partner_id: int,
                                     reference: str) -> int | None:
    """An open reservation a roaming partner knows by its own id."""
    return await db.fetchval(  # type: ignore[no-any-return]
        """SELECT id FROM reservations WHERE attributes -> $1 ->> 'reservation_id' = $3
           AND (attributes -> $1 ->> 'partner')::bigint = $2 AND status IN ('active', 'requested')
           ORDER BY id DESC LIMIT 1""",
        protocol, partner_id, reference,
    )


async def sessions_of_partner(db: Executor, protocol: str, partner_id: int) -> list[Row]:
    """Sessions a roaming partner's token started (pending and failed ones aside)."""
    return await db.fetch(
        f"""SELECT {_SESSION_COLUMNS} FROM sessions s JOIN evses e ON e.id = s.evse
            WHERE (s.attributes -> $1 ->> 'partner')::bigint = $2
              AND s.status IN ('active', 'completed') AND s.started_at IS NOT NULL""",
        protocol, partner_id,
    )


async def record_session_cost(db: Executor, session_id: str, protocol: str, provider_id: str | None,
                              tariff_id: str | None, product_id: str | None, currency: str,
                              costing: dict[str, Any]) -> None:
    """A roaming session's cost as its tariff computed it (a repeat of the CDR keeps the first)."""
    await db.execute(
        """INSERT INTO session_costs (session_id, protocol, provider_id, tariff_id, product_id,
                                      currency, costing)
           VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (session_id) DO NOTHING""",
        session_id, protocol, provider_id, tariff_id, product_id, currency, costing,
    )


async def session_costs(db: Executor, session_id: str | None = None, limit: int = 50) -> list[Row]:
    return await db.fetch(
        """SELECT session_id, protocol, provider_id, tariff_id, product_id, currency, costing,
                  created_at FROM session_costs WHERE ($1::uuid IS NULL OR session_id = $1)
           ORDER BY created_at DESC LIMIT $2""",
        session_id, limit,
    )


async def pricing_sent(db: Executor) -> dict[str, dict[str, dict[str, Any]]]:
    """What Hubject will hold of our pricing once every queued push is delivered, by data set."""
    result: dict[str, dict[str, dict[str, Any]]] = {}
    for row in await db.fetch("SELECT dataset, key, record FROM oicp_pricing_sent"):
        result.setdefault(row["dataset"], {})[row["key"]] = row["record"]
    return result


PRICING_CHANNEL = "oicp_pricing"  # notified when prices must be worked out again


async def mark_pricing_due(db: Executor) -> None:
    """Prices must be worked out again once this transaction commits (see 0014, 0018)."""
    await db.execute("INSERT INTO oicp_pricing_due DEFAULT VALUES")
    await db.execute("SELECT pg_notify($1, '')", PRICING_CHANNEL)


async def take_pricing_due(db: Executor) -> bool:
    """Clears the committed marks; True if there were any. Other nodes wait on the rows until we
    commit; a mark committed meanwhile stays, for the next round."""
    return bool(await db.fetch("DELETE FROM oicp_pricing_due RETURNING id"))


async def record_pricing_sent(db: Executor, dataset: str, records: dict[str, dict[str, Any]]) -> None:
    await db.execute("DELETE FROM oicp_pricing_sent WHERE dataset = $1", dataset)
    await db.executemany(
        "INSERT INTO oicp_pricing_sent (dataset, key, record) VALUES ($1, $2, $3)",
        [(dataset, key, record) for key, record in records.items()],
    )


async def evse_statuses(db: Executor) -> list[asyncpg.Record]:
    """Every charger's live EVSEs and their statuses, for a fleet overview."""
    return list(await db.fetch(
        """SELECT charge_point_id, evse_number, evse_id, status FROM evses
           WHERE retired_at IS NULL ORDER BY charge_point_id, evse_number"""))


async def latest_energy_registers(db: Executor, session_ids: list[UUID]) -> dict[UUID, float]:
    """Each session's latest energy register reading (Wh), where it has one."""
    return {row["session_id"]: row["value"] for row in await db.fetch(
        """SELECT DISTINCT ON (session_id) session_id, value FROM meter_samples
           WHERE session_id = ANY($1::uuid[]) AND measurand = $2 AND phase IS NULL
           ORDER BY session_id, sampled_at DESC, id DESC""", session_ids, ENERGY_REGISTER)}


# --- reservations holding any EVSE, token groups ---------------------------------------------

async def open_reservations(db: Executor, charge_point_id: str) -> list[Row]:
    """The charger's reservations still holding an EVSE (named or not), with the holder's group."""
    return list(await db.fetch(
        """SELECT r.id, r.evse, r.token_uid, r.connector_type, t.group_id
           FROM reservations r LEFT JOIN tokens t ON t.uid = r.token_uid AND t.owner IS NULL
           WHERE r.charge_point_id = $1 AND r.status IN ('requested', 'active')
             AND r.expires_at > now() ORDER BY r.id""",
        charge_point_id))


async def usable_evses(db: Executor, charge_point_id: str) -> list[int]:
    """The charger's EVSEs in service without a running session, faulted or unavailable ones aside."""
    rows = await db.fetch(
        """SELECT e.id FROM evses e WHERE e.charge_point_id = $1 AND e.retired_at IS NULL
             AND e.status NOT IN ('unavailable', 'faulted')
             AND NOT EXISTS (SELECT 1 FROM sessions s WHERE s.evse = e.id AND s.status = 'active')
           ORDER BY e.evse_number""",
        charge_point_id)
    return [row["id"] for row in rows]


async def token_group(db: Executor, uid: str) -> str | None:
    """The group of our own token with this UID (2.0.1 groupIdToken, 1.6 parentIdTag)."""
    return await db.fetchval(  # type: ignore[no-any-return]
        "SELECT group_id FROM tokens WHERE uid = $1 AND owner IS NULL LIMIT 1", uid)


async def set_token_group(db: Executor, uid: str, group: str | None) -> Row | None:
    """Puts our own token with this UID in a group (None: in none); the token, or None."""
    return await db.fetchrow(
        "UPDATE tokens SET group_id = $2 WHERE uid = $1 AND owner IS NULL RETURNING *", uid, group)


async def roaming_charge_points_on_site(db: Executor, site_id: str) -> list[str]:
    """The site's chargers with an EVSE offered for roaming (an EvseID, not retired), by id."""
    rows = await db.fetch(
        """SELECT DISTINCT c.id FROM charge_points c JOIN evses e ON e.charge_point_id = c.id
           WHERE c.site_id = $1 AND e.evse_id IS NOT NULL AND e.retired_at IS NULL
           ORDER BY c.id""", site_id)
    return [row["id"] for row in rows]
