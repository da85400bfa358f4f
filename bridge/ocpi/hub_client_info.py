"""HubClientInfo (OCPI 2.2.1 mod_hub_client_info): the parties a hub fronts, their status, and holding
messages for those not CONNECTED."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, TypeAlias

import asyncpg
import structlog

from bridge import outbox
from bridge.ocpi.client import OcpiClient, OcpiError
from bridge.ocpi.handshake.partners import ROLES, Partner
from bridge.ocpi.transport import parse_timestamp, timestamp

log = structlog.get_logger(__name__)

Db: TypeAlias = asyncpg.Pool | asyncpg.Connection
STATUSES = ("CONNECTED", "OFFLINE", "PLANNED", "SUSPENDED")  # ConnectionStatus
_COUNTRY = re.compile(r"[A-Za-z]{2}")
_PARTY = re.compile(r"[A-Za-z0-9]{3}")


class ClientInfoError(ValueError):
    """A ClientInfo object we cannot take (the reason, for the hub)."""


def addressee(country_code: str, party_id: str) -> str:
    """How a party is named in the outbox's addressee column (CiStrings: upper case)."""
    return f"{country_code.upper()}*{party_id.upper()}"


def read_client_info(body: Any, country_code: str, party_id: str) -> dict[str, Any]:
    """A ClientInfo object PUT to .../hubclientinfo/{country_code}/{party_id}, checked."""
    if not isinstance(body, dict):
        raise ClientInfoError("body must be a ClientInfo object")
    if not _COUNTRY.fullmatch(country_code) or not _PARTY.fullmatch(party_id):
        raise ClientInfoError("the URL must name country_code (2) and party_id (3)")
    for key, value in (("country_code", country_code), ("party_id", party_id)):
        if not isinstance(body.get(key), str) or body[key].upper() != value.upper():
            raise ClientInfoError(f"{key} must be the one in the URL ({value})")
    if body.get("role") not in ROLES:
        raise ClientInfoError(f"role must be one of {', '.join(ROLES)}")
    if body.get("status") not in STATUSES:
        raise ClientInfoError(f"status must be one of {', '.join(STATUSES)}")
    try:
        parse_timestamp(str(body.get("last_updated")))
    except ValueError:
        raise ClientInfoError("last_updated must be a UTC DateTime") from None
    return {"country_code": country_code.upper(), "party_id": party_id.upper(),
            "role": body["role"], "status": body["status"], "last_updated": body["last_updated"]}


def client_info_object(row: asyncpg.Record) -> dict[str, Any]:
    return {"country_code": row["country_code"], "party_id": row["party_id"], "role": row["role"],
            "status": row["status"], "last_updated": timestamp(row["last_updated"])}


async def receive(conn: asyncpg.Connection, partner: Partner, info: dict[str, Any],
                  pulled: bool = False) -> int:
    """Store what the hub says of one party (an older last_updated than ours changes nothing;
    a pulled one no push of the same second either); a party now CONNECTED gets what was held
    for it. Returns the messages released."""
    at: datetime = parse_timestamp(info["last_updated"])
    status = await conn.fetchval(
        """INSERT INTO ocpi_hub_clients (partner_id, country_code, party_id, role, status,
                                         last_updated)
           VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (partner_id, country_code, party_id) DO UPDATE
               SET role = EXCLUDED.role, status = EXCLUDED.status,
                   last_updated = EXCLUDED.last_updated, received_at = now()
               WHERE ocpi_hub_clients.last_updated < EXCLUDED.last_updated
                  OR (NOT $7 AND ocpi_hub_clients.last_updated = EXCLUDED.last_updated)
           RETURNING status""",
        partner.id, info["country_code"], info["party_id"], info["role"], info["status"], at,
        pulled)
    party = addressee(info["country_code"], info["party_id"])
    if status is None:
        return 0
    if status != "CONNECTED":  # what was on its way to it waits as well
        await outbox.hold(conn, partner.outbox_name, party, f"held: {party} is {status} at the hub")
        return 0
    return await outbox.release(conn, partner.outbox_name, party)


async def get(db: Db, partner_id: int, country_code: str, party_id: str) -> asyncpg.Record | None:
    return await db.fetchrow(
        """SELECT * FROM ocpi_hub_clients WHERE partner_id = $1 AND country_code = $2
             AND party_id = $3""", partner_id, country_code.upper(), party_id.upper())


async def of_partner(db: Db, partner_id: int) -> list[asyncpg.Record]:
    return list(await db.fetch(
        """SELECT * FROM ocpi_hub_clients WHERE partner_id = $1
           ORDER BY country_code, party_id""", partner_id))


async def hold_reason(db: Db, partner: Partner, party: str | None) -> str | None:
    """Why a message for this party must wait, or None to send it. Only a party the hub says
    is not CONNECTED waits; one it said nothing of is sent (the hub knows best)."""
    if party is None or not partner.is_hub:  # only a hub reports ClientInfo: no query for peers
        return None
    country_code, _, party_id = party.partition("*")
    row = await get(db, partner.id, country_code, party_id)
    if row is None or row["status"] == "CONNECTED":
        return None
    return f"held: {party} is {row['status']} at the hub"


async def enqueue(conn: asyncpg.Connection, partner: Partner, operation: str, path: str,
                  body: dict[str, Any], party: str | None, **options: Any) -> int:
    """outbox.enqueue for a message to one party (None: the partner itself), held while the
    hub says that party is not CONNECTED."""
    return await outbox.enqueue(conn, partner.outbox_name, operation, path, body,
                                addressee=party, held=await hold_reason(conn, partner, party),
                                **options)


def token_party(ocpi: dict[str, Any]) -> str | None:
    """The party of a session's token (its attributes' `ocpi`): whom its messages are for."""
    token = ocpi.get("token") or {}
    if not token.get("country_code") or not token.get("party_id"):
        return None
    return addressee(str(token["country_code"]), str(token["party_id"]))


async def summary(db: Db) -> dict[int, tuple[int, int]]:
    """Per partner: (parties its hub reported, of them CONNECTED), for `csms ocpi partners`."""
    rows = await db.fetch(
        """SELECT partner_id, count(*) AS total, count(*) FILTER (WHERE status = 'CONNECTED')
                  AS connected
           FROM ocpi_hub_clients GROUP BY partner_id""")
    return {row["partner_id"]: (row["total"], row["connected"]) for row in rows}


async def listing(db: Db) -> dict[int, list[dict[str, Any]]]:
    """Per hub: each party it reported (party 'CC*PID', role, status, last_updated) and how many
    messages are held for it, for the operator's partners view."""
    rows = await db.fetch(
        """SELECT c.partner_id, c.country_code, c.party_id, c.role, c.status, c.last_updated,
                  (SELECT count(*) FROM outbox o
                   -- o.partner is Partner.outbox_name; o.addressee as addressee() writes it
                   WHERE o.partner = 'ocpi:' || c.partner_id AND o.held AND o.status = 'pending'
                     AND o.addressee = c.country_code || '*' || c.party_id) AS held
           FROM ocpi_hub_clients c ORDER BY c.partner_id, c.country_code, c.party_id""")
    clients: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        clients.setdefault(row["partner_id"], []).append(
            {"party": addressee(row["country_code"], row["party_id"]), "role": row["role"],
             "status": row["status"], "last_updated": row["last_updated"], "held": row["held"]})
    return clients


async def pull(pool: asyncpg.Pool, client: OcpiClient, partner: Partner) -> int | None:
    """The hub's whole list (its Sender interface; mod_hub_client_info Pull model, e.g. when
    we start), stored as if pushed; objects we cannot read are skipped. The number stored, or
    None when the hub offers no list or did not give one."""
    url = partner.endpoint("hubclientinfo", "SENDER")
    if url is None or not partner.their_token:
        return None
    try:  # no routing headers: a configuration module
        data = await client.call("GET", url, partner.their_token, partner.token_format)
    except OcpiError as exc:
        log.warning("ocpi hub client info not pulled", partner=partner.id, error=str(exc))
        return None
    infos = []
    for item in data if isinstance(data, list) else []:
        try:
            infos.append(read_client_info(item, str(item.get("country_code")),
                                          str(item.get("party_id"))))
        except (ClientInfoError, AttributeError):
            log.warning("ocpi hub client info skipped", partner=partner.id, item=str(item)[:200])
    async with pool.acquire() as conn, conn.transaction():
        for info in infos:
            await receive(conn, partner, info, pulled=True)
    log.info("ocpi hub client info pulled", partner=partner.id, parties=len(infos))
    return len(infos)
