"""Users, API tokens and the audit log in PostgreSQL (migration 0036)."""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

NAME = re.compile(r"[A-Za-z0-9._@-]{1,64}")
MIN_PASSWORD, MAX_PASSWORD = 12, 1024
# What a token starts with: secret scanners (and people) recognise one in a log or a paste.
TOKEN_PREFIX = "csms_"
# last_used_at is written at most this often (seconds): not a database write per request.
TOUCH_EVERY = 60.0
ROLE_ORDER = ("viewer", "operator", "admin")  # as csms/operator/http/team/access.py Role


class UserError(ValueError):
    """A request about users or tokens that cannot be done as asked: the message says why."""


def check_name(name: str) -> str:
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise UserError("a user name is 1 to 64 letters, digits or . _ @ -")
    return name


def check_password(password: str) -> str:
    if not isinstance(password, str) or not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise UserError(f"a password is {MIN_PASSWORD} to {MAX_PASSWORD} characters")
    return password


def token_hash(token: str) -> bytes:
    """An API token is 256 random bits: guessing it from its SHA-256 is as hopeless as guessing
    it, so a slow hash (needed for passwords people choose) would only slow every request."""
    return hashlib.sha256(token.encode()).digest()


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


USER_COLUMNS = "id, name, role, created_at, disabled_at, password_changed_at"


async def add_user(pool: asyncpg.Pool, name: str, role: str, password_hash: str) -> asyncpg.Record:
    try:
        return await pool.fetchrow(
            f"INSERT INTO users (name, role, password_hash) VALUES ($1, $2, $3) "
            f"RETURNING {USER_COLUMNS}", check_name(name), role, password_hash)
    except asyncpg.UniqueViolationError:
        raise UserError(f"a user {name!r} exists already") from None


async def list_users(pool: asyncpg.Pool) -> list[asyncpg.Record]:
    return list(await pool.fetch(f"SELECT {USER_COLUMNS} FROM users ORDER BY name"))


async def get_user(pool: asyncpg.Pool, name: str) -> asyncpg.Record | None:
    return await pool.fetchrow("SELECT * FROM users WHERE name = $1", name)


async def _update(pool: asyncpg.Pool, name: str, assignment: str, *values: Any,
                  end_sessions: bool = False) -> asyncpg.Record:
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(f"UPDATE users SET {assignment} WHERE name = $1 "
                                  f"RETURNING {USER_COLUMNS}", name, *values)
        if row is None:
            raise UserError(f"no user {name!r}")
        if end_sessions:  # a changed password or a disabled user: every login of theirs ends
            await conn.execute("DELETE FROM console_sessions WHERE user_id = $1", row["id"])
        return row


async def set_role(pool: asyncpg.Pool, name: str, role: str) -> asyncpg.Record:
    return await _update(pool, name, "role = $2", role)


async def set_disabled(pool: asyncpg.Pool, name: str, disabled: bool) -> asyncpg.Record:
    if disabled:
        return await _update(pool, name, "disabled_at = coalesce(disabled_at, now())",
                             end_sessions=True)
    return await _update(pool, name, "disabled_at = NULL")


async def set_password(pool: asyncpg.Pool, name: str, password_hash: str) -> asyncpg.Record:
    return await _update(pool, name, "password_hash = $2, password_changed_at = now()",
                         password_hash, end_sessions=True)


# --- API tokens ----------------------------------------------------------------------------------

TOKEN_COLUMNS = ("t.id, t.name, u.name AS user, t.role, t.prefix, t.created_by, t.created_at, "
                 "t.expires_at, t.revoked_at, t.last_used_at")


async def add_token(pool: asyncpg.Pool, name: str, role: str, user: str | None,
                    expires_at: datetime | None, created_by: str) -> tuple[str, asyncpg.Record]:
    """The new token (shown once: only its hash is kept) and its row."""
    if not isinstance(name, str) or not 1 <= len(name) <= 64 or not name.isprintable():
        raise UserError("a token's name is 1 to 64 printable characters")
    user_id = None
    if user is not None:
        owner = await get_user(pool, user)
        if owner is None:
            raise UserError(f"no user {user!r}")
        user_id = owner["id"]
    token = new_token()
    row = await pool.fetchrow(
        f"WITH t AS (INSERT INTO api_tokens (name, user_id, role, token_hash, prefix, "
        f"created_by, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *) "
        f"SELECT {TOKEN_COLUMNS} FROM t LEFT JOIN users u ON u.id = t.user_id",
        name, user_id, role, token_hash(token), token[:len(TOKEN_PREFIX) + 6], created_by,
        expires_at)
    return token, row


async def list_tokens(pool: asyncpg.Pool) -> list[asyncpg.Record]:
    return list(await pool.fetch(f"SELECT {TOKEN_COLUMNS} FROM api_tokens t "
                                 f"LEFT JOIN users u ON u.id = t.user_id ORDER BY t.id"))


async def revoke_token(pool: asyncpg.Pool, token_id: int) -> asyncpg.Record | None:
    return await pool.fetchrow(
        f"WITH t AS (UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now()) "
        f"WHERE id = $1 RETURNING *) "
        f"SELECT {TOKEN_COLUMNS} FROM t LEFT JOIN users u ON u.id = t.user_id", token_id)


@dataclass(frozen=True)
class TokenHolder:
    id: int
    name: str  # the token's name; for a user's token, "user (token name)"
    role: str  # the token's role, never above its user's
    user_id: int | None


async def token_holder(pool: asyncpg.Pool, token: str) -> TokenHolder | None:
    """Whose valid token this is (not revoked, not expired, its user not disabled), or None."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 128:
        return None
    row = await pool.fetchrow(
        "SELECT t.id, t.name, t.role, t.user_id, u.name AS user, u.role AS user_role, "
        "(t.last_used_at IS NULL OR t.last_used_at <= now() - make_interval(secs => $2)) AS stale "
        "FROM api_tokens t "
        "LEFT JOIN users u ON u.id = t.user_id WHERE t.token_hash = $1 "
        "AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > now()) "
        "AND (t.user_id IS NULL OR u.disabled_at IS NULL)", token_hash(token), TOUCH_EVERY)
    if row is None:
        return None
    if row["stale"]:
        await pool.execute("UPDATE api_tokens SET last_used_at = now() WHERE id = $1", row["id"])
    role = row["role"]
    if row["user"] is not None:
        role = min(role, row["user_role"], key=ROLE_ORDER.index)
    name = f"{row['user']} ({row['name']})" if row["user"] is not None else row["name"]
    return TokenHolder(row["id"], name, role, row["user_id"])



# --- the audit log ---------------------------------------------------------------------------------

AUDIT_COLUMNS = ("id, at, actor, actor_kind, via, client, resource, action, target, parameters, "
                 "outcome, result")


def _storable(value: Any) -> Any:
    """Text PostgreSQL takes: a NUL and a lone surrogate (both valid in a JSON body, neither in
    text or jsonb) written as escapes, so any request's row can be kept."""
    if isinstance(value, str):
        return (value.encode("utf-8", "backslashreplace").decode("utf-8")
                .replace("\x00", "\\x00"))
    if isinstance(value, dict):
        return {_storable(str(k)): _storable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_storable(v) for v in value]
    return value


async def audit_start(pool: asyncpg.Pool, actor: str, actor_kind: str, via: str,
                      client: str | None, resource: str, action: str, target: str | None,
                      parameters: dict[str, Any]) -> int:
    """The row of a change under way (outcome null until `audit_end`): a change the process did
    not live to finish is still on record."""
    return int(await pool.fetchval(
        "INSERT INTO audit_log (actor, actor_kind, via, client, resource, action, target, "
        "parameters) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
        _storable(actor[:200]), actor_kind, via, client, _storable(resource[:200]),
        _storable(action[:300]), _storable(target[:1000]) if target else target,
        # JSON-safe (the pool's codec writes it), every string storable
        _storable(json.loads(json.dumps(parameters, default=str)))))


async def audit_end(pool: asyncpg.Pool, audit_id: int, outcome: int, result: str | None) -> None:
    await pool.execute("UPDATE audit_log SET outcome = $2, result = $3 WHERE id = $1",
                       audit_id, outcome, _storable(result[:1000]) if result else result)


async def audit(pool: asyncpg.Pool, actor: str, actor_kind: str, via: str, client: str | None,
                resource: str, action: str, target: str | None, parameters: dict[str, Any],
                outcome: int, result: str | None) -> None:
    """A row written at once, its outcome known (a refusal, a CLI command that ended)."""
    audit_id = await audit_start(pool, actor, actor_kind, via, client, resource, action, target,
                                 parameters)
    await audit_end(pool, audit_id, outcome, result)


async def list_audit(pool: asyncpg.Pool, actor: str | None, resource: str | None,
                     action: str | None, since: datetime | None, until: datetime | None,
                     limit: int, offset: int) -> tuple[list[asyncpg.Record], int]:
    """Newest first, and how many match in all. `actor` matches a user's own rows and their
    tokens' ("bob (laptop)"); `action` matches a part of it (e.g. "reset")."""
    where = ("($1::text IS NULL OR actor = $1 OR starts_with(actor, $1 || ' (')) "
             "AND ($2::text IS NULL OR resource = $2) "
             "AND ($3::text IS NULL OR strpos(action, $3) > 0) "
             "AND ($4::timestamptz IS NULL OR at >= $4) AND ($5::timestamptz IS NULL OR at < $5)")
    args = (actor, resource, action, since, until)
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read",
                                                         readonly=True):
        total = await conn.fetchval(f"SELECT count(*) FROM audit_log WHERE {where}", *args)
        rows = await conn.fetch(f"SELECT {AUDIT_COLUMNS} FROM audit_log WHERE {where} "
                                f"ORDER BY at DESC, id DESC LIMIT $6 OFFSET $7",
                                *args, limit, offset)
    return list(rows), int(total)
