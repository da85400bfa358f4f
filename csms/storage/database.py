"""PostgreSQL: the connection pool, the embedded server, and versioned migrations."""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import asyncpg
import structlog

from csms.config import DatabaseSettings, masked
from csms.storage.outage import outage

log = structlog.get_logger(__name__)

# Serialises migrations when several processes start at once.
_MIGRATION_LOCK = 0x637_3D5


class DatabaseUnavailable(Exception):
    """No database to work with: unreachable, refusing us, or (for a management command) none yet."""


def embedded_url(data_dir: str | Path) -> str:
    """Start (or reuse) a private PostgreSQL under data_dir and return its URL."""
    import pgserver  # imported lazily: only needed without a configured URL

    path = Path(data_dir).resolve()
    try:
        path.mkdir(parents=True, exist_ok=True)
        # cleanup_mode=None keeps the server running for other processes (CLI, tests) sharing it.
        server = pgserver.get_server(path, cleanup_mode=None)
        url: str = server.get_uri()
    except Exception as exc:  # pgserver raises what initdb/pg_ctl gave it
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DatabaseUnavailable(f"embedded PostgreSQL in {path} did not start: {reason}") from exc
    log.info("embedded postgresql running", data_dir=str(path))
    return url


def database_url(settings: DatabaseSettings, create: bool = True) -> str:
    """The configured URL, else the embedded server's; without `create`, an embedded database
    that does not exist yet is refused rather than made (and no server is started)."""
    if settings.url:
        return settings.url
    if not create and not (Path(settings.data_dir) / "PG_VERSION").exists():
        raise DatabaseUnavailable(
            f"no database in {Path(settings.data_dir).resolve()}: `csms migrate` or `csms run` "
            "creates it there; or name the one to use with database.url (CSMS_DATABASE_URL) or "
            "--config / CSMS_CONFIG")
    return embedded_url(settings.data_dir)


def _unreachable(url: str, exc: Exception) -> DatabaseUnavailable:
    reason = (exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)) or repr(exc)
    return DatabaseUnavailable(f"database {masked(url)} unreachable: {reason}")


# What asyncpg raises for a URL it cannot use or a server that is not there or turns us away.
_CONNECT_ERRORS = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, ValueError)


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    outage.reachable()  # the pool reconnects as soon as the database is back


async def _reset_connection(conn: asyncpg.Connection) -> None:
    """Instead of asyncpg's RESET ALL, UNLISTEN * … on every release, a round trip per write:
    pool connections never LISTEN, SET or hold session locks, so only a transaction left open
    (a cancelled caller) needs undoing."""
    if conn.is_in_transaction():
        await conn.execute("ROLLBACK")


async def create_pool(url: str, min_size: int = 2, max_size: int = 10) -> asyncpg.Pool:
    try:
        pool = await asyncpg.create_pool(
            url, min_size=min_size, max_size=max_size, init=_init_connection,
            reset=_reset_connection,
        )
    except _CONNECT_ERRORS as exc:
        raise _unreachable(url, exc) from exc
    assert pool is not None
    return pool


def migration_files() -> list[tuple[int, str, str]]:
    """(version, name, sql) of every migration shipped in csms/storage/migrations, in order."""
    found = []
    for entry in resources.files("csms.storage.migrations").iterdir():
        if entry.name.endswith(".sql"):
            version = int(entry.name.split("_", 1)[0])
            found.append((version, entry.name, entry.read_text()))
    return sorted(found)


async def migrate(conn: asyncpg.Connection) -> list[str]:
    """Apply the migrations not applied yet; returns the names applied."""
    applied: list[str] = []
    await conn.execute("SELECT pg_advisory_lock($1)", _MIGRATION_LOCK)
    try:
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   version integer PRIMARY KEY,
                   name text NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        done = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
        for version, name, sql in migration_files():
            if version in done:
                continue
            async with conn.transaction():
                await conn.execute(sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", version, name
                )
            log.info("migration applied", migration=name)
            applied.append(name)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", _MIGRATION_LOCK)
    return applied


async def pending_migrations(db: asyncpg.Pool | asyncpg.Connection) -> list[str]:
    """Migrations this code has that the database lacks (empty: the schema is current)."""
    done = {r["version"] for r in await db.fetch("SELECT version FROM schema_migrations")}
    return [name for version, name, _ in migration_files() if version not in done]


async def migrate_url(url: str) -> list[str]:
    try:
        conn = await asyncpg.connect(url)
    except _CONNECT_ERRORS as exc:
        raise _unreachable(url, exc) from exc
    try:
        return await migrate(conn)
    finally:
        await conn.close()


def row_dict(record: Any) -> dict[str, Any]:
    return dict(record) if record is not None else {}
