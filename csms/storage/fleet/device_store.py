"""The device model's repository: requests by requestId, variables, monitors, events, messages."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import asyncpg

from csms.storage.paging import fetch_page
from csms.storage.store import Executor, Row

if TYPE_CHECKING:  # the domain's types; the domain imports this module
    from csms.domain.fleet.device_model import Address, DisplayMessage, Event, Monitor, VariableReport

_KEY = "component, component_instance, evse_id, connector_id, variable, variable_instance"


def _key(address: Address) -> tuple[Any, ...]:
    return (address.component, address.component_instance, address.evse_id,
            address.connector_id, address.variable, address.variable_instance)


# --- requests answered in parts ------------------------------------------------------------

async def new_request(db: Executor, charge_point_id: str, kind: str) -> int:
    request_id = int(await db.fetchval("SELECT nextval('device_request_ids')"))
    await db.execute(
        "INSERT INTO device_requests (charge_point_id, request_id, kind) VALUES ($1, $2, $3)",
        charge_point_id, request_id, kind)
    return request_id


async def forget_request(db: Executor, charge_point_id: str, request_id: int) -> None:
    await db.execute("DELETE FROM device_requests WHERE charge_point_id = $1 AND request_id = $2",
                     charge_point_id, request_id)


async def refuse_request(db: Executor, charge_point_id: str, request_id: int, status: str) -> None:
    """The charger said no (or had nothing): unless its parts already came."""
    await db.execute(
        """UPDATE device_requests SET status = $3, completed_at = now()
           WHERE charge_point_id = $1 AND request_id = $2 AND status = 'requested'""",
        charge_point_id, request_id, status)


async def request_part(db: Executor, charge_point_id: str, request_id: int, kind: str,
                       last: bool, data: str = "") -> Row:
    """One part came: counted (and its data appended); the last one completes the request. A
    request we did not make (or no longer know of) is tracked from its first part."""
    return await db.fetchrow(
        """INSERT INTO device_requests AS r (charge_point_id, request_id, kind, status, parts, data,
                                             completed_at)
           VALUES ($1, $2, $3, CASE WHEN $4 THEN 'complete' ELSE 'receiving' END, 1, $5,
                   CASE WHEN $4 THEN now() END)
           ON CONFLICT (charge_point_id, request_id) DO UPDATE SET
               parts = r.parts + 1, data = r.data || EXCLUDED.data,
               status = EXCLUDED.status, completed_at = EXCLUDED.completed_at
           RETURNING kind, parts""",
        charge_point_id, request_id, kind, last, data)


async def list_requests(db: Executor, charge_point_id: str, kind: str | None,
                        limit: int) -> list[Row]:
    return await db.fetch(f"{_REQUESTS} LIMIT $3", charge_point_id, kind, limit)


_REQUESTS = """SELECT request_id, kind, status, parts, requested_at, completed_at
    FROM device_requests WHERE charge_point_id = $1 AND ($2::text IS NULL OR kind = $2)
    ORDER BY requested_at DESC, request_id DESC"""


async def page_requests(pool: asyncpg.Pool, charge_point_id: str, kind: str | None, limit: int,
                        offset: int) -> tuple[list[Row], int]:
    return await fetch_page(pool, _REQUESTS, (charge_point_id, kind), limit, offset)


async def get_request(db: Executor, charge_point_id: str, request_id: int) -> Row | None:
    return await db.fetchrow(
        """SELECT request_id, kind, status, parts, data, requested_at, completed_at
           FROM device_requests WHERE charge_point_id = $1 AND request_id = $2""",
        charge_point_id, request_id)


# --- variables -----------------------------------------------------------------------------

async def forget_variables(db: Executor, charge_point_id: str) -> None:
    await db.execute("DELETE FROM device_variables WHERE charge_point_id = $1", charge_point_id)


async def put_variables(db: Executor, charge_point_id: str,
                        reports: list[VariableReport]) -> None:
    await db.executemany(
        f"""INSERT INTO device_variables (charge_point_id, {_KEY}, attributes, characteristics)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
            ON CONFLICT (charge_point_id, {_KEY}) DO UPDATE SET
                attributes = EXCLUDED.attributes,
                characteristics = COALESCE(EXCLUDED.characteristics,
                                           device_variables.characteristics),
                updated_at = now()""",
        [(charge_point_id, *_key(r.address), [a.as_dict() for a in r.attributes],
          r.characteristics.as_dict() if r.characteristics else None) for r in reports])


async def set_attribute_value(pool: asyncpg.Pool, charge_point_id: str, address: Address,
                              attribute_type: str, value: str) -> None:
    """A value read or written: the attribute of that type takes it (added if not reported)."""
    async with pool.acquire() as conn:
        async with conn.transaction():
            attributes = await conn.fetchval(
                f"""SELECT attributes FROM device_variables
                    WHERE charge_point_id = $1 AND ({_KEY}) = ($2, $3, $4, $5, $6, $7)
                    FOR UPDATE""", charge_point_id, *_key(address))
            attributes = list(attributes or [])
            for attribute in attributes:
                if attribute.get("type") == attribute_type:
                    attribute["value"] = value
                    break
            else:
                attributes.append({"type": attribute_type, "value": value})
            await conn.execute(
                f"""INSERT INTO device_variables (charge_point_id, {_KEY}, attributes)
                    VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                    ON CONFLICT (charge_point_id, {_KEY}) DO UPDATE SET
                        attributes = EXCLUDED.attributes, updated_at = now()""",
                charge_point_id, *_key(address), attributes)


async def list_variables(db: Executor, charge_point_id: str, component: str | None,
                         variable: str | None, evse_id: int | None, limit: int) -> list[Row]:
    return await db.fetch(f"{_VARIABLES} LIMIT $5", charge_point_id, component, variable,
                          evse_id, limit)


_VARIABLES = f"""SELECT {_KEY}, attributes, characteristics, updated_at FROM device_variables
    WHERE charge_point_id = $1 AND ($2::text IS NULL OR component = $2)
      AND ($3::text IS NULL OR variable = $3) AND ($4::int IS NULL OR evse_id = $4)
    ORDER BY {_KEY}"""


async def page_variables(pool: asyncpg.Pool, charge_point_id: str, component: str | None,
                         variable: str | None, evse_id: int | None, limit: int,
                         offset: int) -> tuple[list[Row], int]:
    return await fetch_page(pool, _VARIABLES, (charge_point_id, component, variable, evse_id),
                            limit, offset)


# --- monitors ------------------------------------------------------------------------------

async def put_monitors(db: Executor, charge_point_id: str, monitors: list[Monitor]) -> None:
    await db.executemany(
        f"""INSERT INTO device_monitors (charge_point_id, monitor_id, {_KEY}, type, value,
                                         severity, transaction)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
            ON CONFLICT (charge_point_id, monitor_id) DO UPDATE SET
                component = EXCLUDED.component, component_instance = EXCLUDED.component_instance,
                evse_id = EXCLUDED.evse_id, connector_id = EXCLUDED.connector_id,
                variable = EXCLUDED.variable, variable_instance = EXCLUDED.variable_instance,
                type = EXCLUDED.type, value = EXCLUDED.value, severity = EXCLUDED.severity,
                transaction = EXCLUDED.transaction, updated_at = now()""",
        [(charge_point_id, m.monitor_id, *_key(m.address), m.type, m.value, m.severity,
          m.transaction) for m in monitors])


async def delete_monitors(db: Executor, charge_point_id: str,
                          monitor_ids: list[int] | None) -> None:
    """Those monitors of the charger; None: all of them."""
    await db.execute(
        """DELETE FROM device_monitors WHERE charge_point_id = $1
           AND ($2::bigint[] IS NULL OR monitor_id = ANY($2::bigint[]))""",
        charge_point_id, monitor_ids)


async def list_monitors(db: Executor, charge_point_id: str, component: str | None) -> list[Row]:
    return await db.fetch(
        f"""SELECT monitor_id, {_KEY}, type, value, severity, transaction, updated_at
            FROM device_monitors WHERE charge_point_id = $1
              AND ($2::text IS NULL OR component = $2)
            ORDER BY monitor_id""", charge_point_id, component)


# --- events --------------------------------------------------------------------------------

async def add_events(db: Executor, charge_point_id: str, events: list[Event]) -> None:
    await db.executemany(
        f"""INSERT INTO device_events (charge_point_id, event_id, occurred_at, trigger,
                                       notification_type, {_KEY}, actual_value, cleared, details)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)""",
        [(charge_point_id, e.event_id, e.occurred_at, e.trigger, e.notification_type,
          *_key(e.address), e.actual_value, e.cleared, e.details) for e in events])


async def list_events(db: Executor, charge_point_id: str, component: str | None,
                      limit: int) -> list[Row]:
    return await db.fetch(f"{_EVENTS} LIMIT $3", charge_point_id, component, limit)


_EVENTS = f"""SELECT event_id, occurred_at, trigger, notification_type, {_KEY}, actual_value,
           cleared, details, received_at
    FROM device_events WHERE charge_point_id = $1 AND ($2::text IS NULL OR component = $2)
    ORDER BY occurred_at DESC, id DESC"""


async def page_events(pool: asyncpg.Pool, charge_point_id: str, component: str | None,
                      limit: int, offset: int) -> tuple[list[Row], int]:
    return await fetch_page(pool, _EVENTS, (charge_point_id, component), limit, offset)


# --- display messages ----------------------------------------------------------------------

async def put_display_messages(db: Executor, charge_point_id: str,
                               messages: list[DisplayMessage]) -> None:
    await db.executemany(
        """INSERT INTO device_display_messages (charge_point_id, message_id, priority, state,
               content, format, language, evse_id, starts_at, ends_at, transaction_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
           ON CONFLICT (charge_point_id, message_id) DO UPDATE SET
               priority = EXCLUDED.priority, state = EXCLUDED.state, content = EXCLUDED.content,
               format = EXCLUDED.format, language = EXCLUDED.language,
               evse_id = EXCLUDED.evse_id, starts_at = EXCLUDED.starts_at,
               ends_at = EXCLUDED.ends_at, transaction_id = EXCLUDED.transaction_id,
               updated_at = now()""",
        [(charge_point_id, m.message_id, m.priority, m.state, m.content, m.format, m.language,
          m.evse_id, m.starts_at, m.ends_at, m.transaction_id) for m in messages])


async def delete_display_message(db: Executor, charge_point_id: str, message_id: int) -> None:
    await db.execute(
        "DELETE FROM device_display_messages WHERE charge_point_id = $1 AND message_id = $2",
        charge_point_id, message_id)


async def list_display_messages(db: Executor, charge_point_id: str) -> list[Row]:
    return await db.fetch(
        """SELECT message_id, priority, state, content, format, language, evse_id, starts_at,
                  ends_at, transaction_id, updated_at
           FROM device_display_messages WHERE charge_point_id = $1 ORDER BY message_id""",
        charge_point_id)
