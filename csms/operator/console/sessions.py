"""The console's logins: a random id in an HttpOnly cookie, its keyed hash in console_sessions."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

import asyncpg

# The cookie that carries the session id; the API accepts it instead of the bearer header.
COOKIE = "csms_console"
# last_seen_at is written at most this often (seconds): not a database write per request.
TOUCH_EVERY = 60.0


@dataclass(frozen=True)
class Login:
    """Who a console session belongs to: a user, or (user None) whoever holds api.token."""

    user_id: int | None
    user: str | None
    role: str | None


class ConsoleSessions:
    """Opened by a login, ended by logout, by their lifetime, or after `idle` seconds unused."""

    def __init__(self, pool: asyncpg.Pool, key: str, lifetime: float, idle: float) -> None:
        self.pool = pool
        self.key = key.encode()
        self.lifetime = lifetime
        self.idle = idle  # 0: no idle limit

    def _hash(self, session_id: str) -> bytes:
        return hmac.new(self.key, session_id.encode(), hashlib.sha256).digest()

    async def open(self, user_id: int | None = None) -> str:
        """A new session's id, for the cookie (the database never sees it); user_id None: a
        login with api.token."""
        session_id = secrets.token_urlsafe(32)
        await self.sweep()
        await self.pool.execute(
            "INSERT INTO console_sessions (id_hash, expires_at, user_id) "
            "VALUES ($1, now() + make_interval(secs => $2::float8), $3)",
            self._hash(session_id), self.lifetime, user_id)
        return session_id

    async def login(self, session_id: str, touch: bool = True) -> Login | None:
        """Whose the session is, if it exists, has neither expired nor idled out, and its user
        is not disabled (with touch: it counts as used now). The role is the user's as it is
        now: a change of role applies to the sessions open."""
        if not session_id or len(session_id) > 128:
            return None
        id_hash = self._hash(session_id)
        row = await self.pool.fetchrow(
            "SELECT now() - s.last_seen_at AS unused, s.user_id, u.name, u.role "
            "FROM console_sessions s LEFT JOIN users u ON u.id = s.user_id "
            "WHERE s.id_hash = $1 AND s.expires_at > now() "
            "AND ($2::float8 = 0 OR s.last_seen_at > now() - make_interval(secs => $2::float8)) "
            "AND (s.user_id IS NULL OR u.disabled_at IS NULL)",
            id_hash, self.idle)
        if row is None:
            return None
        if touch and row["unused"].total_seconds() >= TOUCH_EVERY:
            await self.pool.execute(
                "UPDATE console_sessions SET last_seen_at = now() WHERE id_hash = $1", id_hash)
        return Login(row["user_id"], row["name"], row["role"])

    async def valid(self, session_id: str, touch: bool = True) -> bool:
        return await self.login(session_id, touch) is not None

    async def close(self, session_id: str) -> None:
        """Logout: the cookie's session ends on every node."""
        await self.pool.execute("DELETE FROM console_sessions WHERE id_hash = $1",
                                self._hash(session_id))

    async def sweep(self) -> int:
        """Removes expired and idle sessions (done at each login: only logins add rows)."""
        result = await self.pool.execute(
            "DELETE FROM console_sessions WHERE expires_at <= now() "
            "OR ($1::float8 > 0 AND last_seen_at <= now() - make_interval(secs => $1::float8))",
            self.idle)
        return int(result.split()[-1])
