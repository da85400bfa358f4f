"""Group commit on a real database: batches form under load, a bad item fails alone, acks follow commits."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from csms.storage.database import create_pool
from csms.storage.group_commit import GroupCommit


@pytest.fixture
async def pool(db_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(db_url, 1, 3)
    await pool.execute("CREATE TABLE written (n int PRIMARY KEY CHECK (n >= 0))")
    yield pool
    await pool.close()


async def test_concurrent_writes_share_commits_and_a_bad_one_fails_alone(
        pool: asyncpg.Pool) -> None:
    batches: list[list[int]] = []

    async def write(conn: asyncpg.Connection, items: list[int]) -> None:
        batches.append(items)
        await conn.execute("INSERT INTO written SELECT unnest($1::int[])", items)

    commits = GroupCommit(pool, write)
    results = await asyncio.gather(*(commits.submit(n) for n in [*range(100), -1]),
                                   return_exceptions=True)
    assert [r for r in results if r is not None] == [results[-1]]
    assert isinstance(results[-1], asyncpg.CheckViolationError)  # the bad one, and only it
    assert await pool.fetchval("SELECT array_agg(n ORDER BY n) FROM written") == list(range(100))
    assert len(batches[0]) == 101  # all gathered into one transaction, which failed ...
    assert len(batches) == 1 + 101  # ... so each was written again on its own


async def test_acknowledged_only_once_committed(pool: asyncpg.Pool) -> None:
    async def write(conn: asyncpg.Connection, items: list[int]) -> None:
        await conn.execute("INSERT INTO written SELECT unnest($1::int[])", items)
        await asyncio.sleep(0.05)  # committed only after this

    commits = GroupCommit(pool, write)
    for n in range(3):
        await commits.submit(n)
        # Another connection sees it the moment the caller is answered.
        assert await pool.fetchval("SELECT count(*) FROM written WHERE n = $1", n) == 1


async def test_batches_are_bounded(pool: asyncpg.Pool) -> None:
    sizes: list[int] = []

    async def write(conn: asyncpg.Connection, items: list[int]) -> None:
        sizes.append(len(items))
        await conn.execute("INSERT INTO written SELECT unnest($1::int[])", items)

    commits = GroupCommit(pool, write, max_batch=30)
    await asyncio.gather(*(commits.submit(n) for n in range(100)))
    assert sizes == [30, 30, 30, 10]
