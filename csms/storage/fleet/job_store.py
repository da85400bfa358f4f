"""Firmware and log jobs and their rollouts in the database."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from csms.storage.paging import fetch_page
from csms.storage.store import Executor

# States in which a job is with the charger: it holds one of its rollout's slots.
ACTIVE = ("requested", "downloading", "downloaded", "installing", "uploading")
FINAL = ("installed", "uploaded", "failed")
# One scheduler at a time in the cluster (pg_try_advisory_xact_lock key: 'jobs' in ASCII).
SCHEDULER_LOCK = 0x6A6F6273


async def insert_rollout(conn: Executor, max_concurrent: int, offline_policy: str) -> int:
    return await conn.fetchval(  # type: ignore[no-any-return]
        "INSERT INTO rollouts (max_concurrent, offline_policy) VALUES ($1, $2) RETURNING id",
        max_concurrent, offline_policy)


async def insert_jobs(conn: Executor, charge_point_ids: list[str], kind: str,
                      parameters: dict[str, Any], not_before: datetime, rollout_id: int) -> None:
    """One queued job per charger, in the order given (the rollout's order)."""
    await conn.execute(
        """INSERT INTO charger_jobs (charge_point_id, kind, state, parameters, not_before, rollout_id)
           SELECT id, $2, 'queued', $3, $4, $5 FROM unnest($1::text[]) WITH ORDINALITY AS t(id, n)
           ORDER BY n""",
        charge_point_ids, kind, parameters, not_before, rollout_id)


async def get_job(db: Executor, job_id: int) -> asyncpg.Record | None:
    return await db.fetchrow("SELECT * FROM charger_jobs WHERE id = $1", job_id)


async def list_jobs(db: Executor, charge_point_id: str | None = None, kind: str | None = None,
                    rollout_id: int | None = None, limit: int = 100) -> list[asyncpg.Record]:
    return await db.fetch(f"{_JOBS} LIMIT $4",  # type: ignore[no-any-return]
                          charge_point_id, kind, rollout_id, limit)


_JOBS = """SELECT * FROM charger_jobs
    WHERE ($1::text IS NULL OR charge_point_id = $1) AND ($2::text IS NULL OR kind = $2)
      AND ($3::bigint IS NULL OR rollout_id = $3)
    ORDER BY id DESC"""


async def page_jobs(pool: asyncpg.Pool, charge_point_id: str | None, kind: str | None,
                    rollout_id: int | None, limit: int,
                    offset: int) -> tuple[list[asyncpg.Record], int]:
    return await fetch_page(pool, _JOBS, (charge_point_id, kind, rollout_id), limit, offset)


async def get_rollout(db: Executor, rollout_id: int) -> asyncpg.Record | None:
    return await db.fetchrow(
        """SELECT r.*, count(j.id) AS jobs,
                  count(j.id) FILTER (WHERE j.state = 'queued') AS queued,
                  count(j.id) FILTER (WHERE j.state = ANY($2::text[])) AS active,
                  count(j.id) FILTER (WHERE j.state IN ('installed', 'uploaded')) AS succeeded,
                  count(j.id) FILTER (WHERE j.state = 'failed') AS failed
           FROM rollouts r LEFT JOIN charger_jobs j ON j.rollout_id = r.id
           WHERE r.id = $1 GROUP BY r.id""",
        rollout_id, list(ACTIVE))


async def latest_open_job(db: Executor, charge_point_id: str, kind: str) -> asyncpg.Record | None:
    """A 1.6 core charger's notifications name no request: they are about its latest job."""
    return await db.fetchrow(
        """SELECT * FROM charger_jobs WHERE charge_point_id = $1 AND kind = $2
             AND state = ANY($3::text[])
           ORDER BY requested_at DESC NULLS LAST, id DESC LIMIT 1""",
        charge_point_id, kind, list(ACTIVE))


async def set_state(db: Executor, job_id: int, state: str, last_status: str | None,
                    file_name: str | None = None) -> asyncpg.Record | None:
    """Moves an unfinished job on; a finished one stays as it ended (None)."""
    return await db.fetchrow(
        """UPDATE charger_jobs SET state = $2, last_status = coalesce($3, last_status),
                  file_name = coalesce($4, file_name), updated_at = now(),
                  requested_at = CASE WHEN $2 = 'requested' THEN coalesce(requested_at, now())
                                      ELSE requested_at END,
                  finished_at = CASE WHEN $2 = ANY($5::text[]) THEN now() END
           WHERE id = $1 AND state <> ALL($5::text[]) RETURNING *""",
        job_id, state, last_status, file_name, list(FINAL))


async def fail_replaced(db: Executor, charge_point_id: str, kind: str, newer: int) -> None:
    """The charger cancelled what it was doing of this kind for the newer request."""
    await db.execute(
        """UPDATE charger_jobs SET state = 'failed', updated_at = now(), finished_at = now(),
                  last_status = 'cancelled by job ' || $3::text
           WHERE charge_point_id = $1 AND kind = $2 AND id < $3 AND state = ANY($4::text[])""",
        charge_point_id, kind, newer, list(ACTIVE))


async def fail_stalled(db: Executor, seconds: float) -> list[asyncpg.Record]:
    """Jobs the charger has said nothing about for `seconds` (after their retrieve / install
    date): failed, so that their slot in a rollout frees."""
    return await db.fetch(  # type: ignore[no-any-return]
        """UPDATE charger_jobs SET state = 'failed', updated_at = now(), finished_at = now(),
                  last_status = 'no status from the charger for ' || $1::text || ' s'
           WHERE state = ANY($2::text[])
             AND greatest(updated_at, not_before) < now() - make_interval(secs => $1)
           RETURNING *""",
        seconds, list(ACTIVE))


async def running_rollouts(conn: Executor) -> list[asyncpg.Record]:
    return await conn.fetch(  # type: ignore[no-any-return]
        """SELECT r.*, count(j.id) FILTER (WHERE j.state = ANY($1::text[])) AS active
           FROM rollouts r LEFT JOIN charger_jobs j ON j.rollout_id = r.id
           WHERE r.status = 'running' GROUP BY r.id ORDER BY r.id""",
        list(ACTIVE))


async def queued_jobs(conn: Executor, rollout_id: int, online_only: bool,
                      limit: int) -> list[asyncpg.Record]:
    """The rollout's next queued jobs in order; online_only: those whose charger a live node
    holds (a rollout of thousands waiting for a few offline chargers reads only what it starts)."""
    return await conn.fetch(  # type: ignore[no-any-return]
        """SELECT j.* FROM charger_jobs j
             JOIN charge_points cp ON cp.id = j.charge_point_id
             LEFT JOIN nodes n ON n.id = cp.node_id AND n.lease_until > now()
           WHERE j.rollout_id = $1 AND j.state = 'queued' AND (NOT $2 OR n.id IS NOT NULL)
           ORDER BY j.id LIMIT $3 FOR UPDATE OF j SKIP LOCKED""",
        rollout_id, online_only, limit)


async def finish_done_rollouts(conn: Executor) -> None:
    await conn.execute(
        """UPDATE rollouts r SET status = 'finished', finished_at = now()
           WHERE status = 'running' AND NOT EXISTS (
               SELECT 1 FROM charger_jobs j WHERE j.rollout_id = r.id
                 AND j.state <> ALL($1::text[]))""",
        list(FINAL))


async def charge_points_of_site(db: Executor, site_id: str) -> list[str]:
    rows = await db.fetch("SELECT id FROM charge_points WHERE site_id = $1 ORDER BY id", site_id)
    return [row["id"] for row in rows]


async def existing_charge_points(db: Executor, ids: list[str]) -> set[str]:
    rows = await db.fetch("SELECT id FROM charge_points WHERE id = ANY($1::text[])", ids)
    return {row["id"] for row in rows}


async def requeue(db: Executor, job_id: int) -> None:
    """A job whose charger went away as it was asked waits for its next connection."""
    await db.execute("UPDATE charger_jobs SET state = 'queued', updated_at = now() "
                     "WHERE id = $1 AND state = 'requested'", job_id)


async def set_file_name(db: Executor, job_id: int, file_name: str) -> None:
    await db.execute("UPDATE charger_jobs SET file_name = $2 WHERE id = $1", job_id, file_name)
