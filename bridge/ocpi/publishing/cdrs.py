"""The one path of every OCPI CDR we send (a session's, a credit, a corrected one), kept as queued."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
import structlog

from bridge import outbox
from bridge.ocpi import hub_client_info
from bridge.ocpi.handshake import partners
from bridge.ocpi.publishing.places import Priced, priced_place
from bridge.ocpi.transport import timestamp
from bridge.ocpi.versions import dialects
from csms.config import OcpiSettings
from csms.domain.billing.cdr_corrections import (
    CorrectionRefused,
    UnknownCdr,
    credit_cdr,
    refusal,
    reissue_id,
)
from csms.domain.billing.cost import Costing, costing
from csms.domain.billing.pricing import readings
from csms.storage import cdr_store, store

log = structlog.get_logger(__name__)

OPERATION = "POST cdrs"


async def publish(conn: asyncpg.Connection, partner: partners.Partner, body: dict[str, Any],
                  session_id: str, credit_reference_id: str | None = None,
                  reissue_of: str | None = None) -> bool:
    """Keep the CDR and queue it, in the caller's transaction, in its session's lane (after the
    session's PATCHes), for the party of its token (through a hub: held while that party is not
    CONNECTED). False: a CDR with its id was sent already, and is not sent again."""
    name = partner.outbox_name
    if not await cdr_store.add(conn, body["id"], "ocpi", name, session_id, body,
                               credit_reference_id, reissue_of):
        log.info("ocpi cdr already sent: not sent again", partner=name, cdr_id=body["id"])
        return False
    message_id = await hub_client_info.enqueue(
        conn, partner, OPERATION, "cdrs|", body,
        hub_client_info.token_party({"token": body.get("cdr_token")}),
        lane=outbox.session_lane(session_id))
    await cdr_store.carried_by(conn, body["id"], message_id)
    log.info("ocpi cdr queued", partner=name, cdr_id=body["id"], session_id=session_id,
             credit=bool(body.get("credit")), total_cost=body["total_cost"],
             kwh=body["total_energy"])
    return True


@dataclass(frozen=True)
class Costed:
    """A session costed by its tariff from its meter readings."""

    priced: Priced
    cost: Costing
    started: datetime


async def cost_session(conn: asyncpg.Connection, currency: str, session_id: str,
                       charge_point_id: str, evse_number: int, evse_id: str | None,
                       started_at: datetime | None, stopped_at: datetime,
                       meter_start_wh: float | None, meter_stop_wh: float | None) -> Costed:
    """The session's place, tariff (the one in force when it started) and cost, from what the
    domain holds now."""
    started = started_at or stopped_at
    priced = await priced_place(conn, charge_point_id, evse_number, evse_id, started, currency)
    cost = costing(priced.tariff, priced.currency, started, stopped_at,
                   await readings(conn, session_id, started, meter_start_wh, stopped_at,
                                  meter_stop_wh),
                   priced.time_zone)
    return Costed(priced, cost, started)


def session_cdr(settings: OcpiSettings, partner: partners.Partner, session_id: str,
                ocpi: dict[str, Any], costed: Costed, stopped_at: datetime, last_updated: datetime,
                cdr_id: str | None = None) -> dict[str, Any] | None:
    """The session's CDR in the partner's OCPI version; None: that version cannot say it."""
    return dialects.of(partner).forms.cdr(settings, session_id, ocpi, costed.priced,
                                          costed.started, stopped_at, costed.cost, last_updated,
                                          cdr_id)


async def correct(pool: asyncpg.Pool, settings: OcpiSettings, cdr_id: str,
                  reissue: bool) -> list[asyncpg.Record]:
    """Credit a CDR we sent (OCPI 2.2.1 mod_cdrs, Credit CDRs) and, with reissue, send the
    session's CDR again under a new id, costed afresh from what the domain holds now. Both go
    to the partner the CDR went to, in one transaction with their rows; the rows returned."""
    async with pool.acquire() as conn, conn.transaction():
        row = await cdr_store.get(conn, cdr_id, lock=True)  # one correction of it at a time
        if row is None:
            raise UnknownCdr(f"unknown CDR {cdr_id!r}")
        credited = await cdr_store.credit_of(conn, cdr_id)
        reason = refusal(row["protocol"], row["credit"], credited["id"] if credited else None)
        if reason is not None:
            raise CorrectionRefused(reason)
        partner_id = row["partner"].removeprefix("ocpi:")
        partner = await partners.get(conn, int(partner_id)) if partner_id.isdigit() else None
        if partner is None or partner.status != "registered":
            raise CorrectionRefused(f"the partner {row['partner']} it went to is not registered")
        if not dialects.of(partner).credit_cdrs:
            raise CorrectionRefused(f"OCPI {partner.version} has no credit CDRs (they came with "
                                    "2.2): correct it with the eMSP directly")
        if not partner.endpoint("cdrs", "RECEIVER"):
            raise CorrectionRefused(f"the partner {row['partner']} offers no cdrs receiver now")
        now = datetime.now(UTC)
        session_id = row["session_id"] or row["body"].get("session_id") or cdr_id
        credit = credit_cdr(row["body"], timestamp(now))
        if not await publish(conn, partner, credit, session_id, credit_reference_id=cdr_id):
            raise CorrectionRefused(f"{credit['id']} was sent already")
        made = [credit["id"]]
        if reissue:
            session = await store.get_session(conn, session_id)
            if session is None or session["stopped_at"] is None \
                    or "ocpi" not in session["attributes"]:
                raise CorrectionRefused(f"no ended OCPI session {session_id} to cost again")
            new_id = reissue_id(session_id, await cdr_store.reissues(conn, session_id) + 1)
            costed = await cost_session(conn, settings.currency, session_id,
                                        session["charge_point_id"], session["evse_number"],
                                        session["evse_id"], session["started_at"],
                                        session["stopped_at"], session["meter_start_wh"],
                                        session["meter_stop_wh"])
            body = session_cdr(settings, partner, session_id, session["attributes"]["ocpi"],
                               costed, session["stopped_at"], now, new_id)
            if body is None:
                raise CorrectionRefused(f"OCPI {partner.version} cannot say this session's CDR")
            if not await publish(conn, partner, body, session_id, reissue_of=cdr_id):
                raise CorrectionRefused(f"{new_id} was sent already")
            made.append(new_id)
        log.info("ocpi cdr corrected", cdr_id=cdr_id, sent=made)
        return [r for r in [await cdr_store.one(conn, i) for i in made] if r is not None]
