"""One page of a query's rows and how many rows it has in all, read in one snapshot."""

from __future__ import annotations

from typing import Any

import asyncpg


async def fetch_page(pool: asyncpg.Pool, query: str, args: tuple[Any, ...], limit: int,
                     offset: int) -> tuple[list[asyncpg.Record], int]:
    """`query` is a SELECT with its ORDER BY and no LIMIT; its parameters are `args` ($1…)."""
    n = len(args)
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read",
                                                         readonly=True):
        total = await conn.fetchval(f"SELECT count(*) FROM ({query}) matched", *args)
        rows = await conn.fetch(f"{query} LIMIT ${n + 1} OFFSET ${n + 2}", *args, limit, offset)
    return list(rows), int(total)
