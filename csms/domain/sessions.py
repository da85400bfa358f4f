"""Charging sessions in domain terms: authorization, start, meter samples and end, for either OCPP version."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import structlog

from csms.config import OcppSettings
from csms.domain import charging
from csms.domain.authorization import AuthorizerChain
from csms.domain.events import (
    ChargingStarted,
    EventBus,
    MeterSampled,
    RemoteStartChanged,
    SessionEnded,
    SessionStarted,
)
from csms.domain.model import (
    Authorization,
    AuthorizationStatus,
    MeterSample,
    SessionStatus,
    StopReason,
    TokenType,
    energy_register_wh,
)
from csms.domain.reservations import SESSION_ID, end_reservation
from csms.domain.transaction_seq import SeqStep, follow
from csms.metrics import ENERGY
from csms.storage import store
from csms.storage.energy import profile_store
from csms.storage.group_commit import GroupCommit
from csms.storage.outage import outage

log = structlog.get_logger(__name__)

ACCEPTED = Authorization(AuthorizationStatus.ACCEPTED)
# Ends no charger reported: the session stops where we last knew it running.
_UNREPORTED_ENDS = frozenset({StopReason.SUPERSEDED, StopReason.CLOSED_BY_OPERATOR})


@dataclass(frozen=True)
class MeterValues:
    """One charger message's meter values, as they wait for their group commit."""

    charge_point_id: str
    evse_number: int | None
    transaction_id: str | None
    samples: tuple[MeterSample, ...]
    seq_no: int | None


@dataclass(frozen=True)
class Stopped:
    known: bool  # False: no such transaction
    seq_gap: bool = False  # its seqNo showed events of the transaction missing


@dataclass(frozen=True)
class StartOutcome:
    session_id: str
    transaction_id: str
    authorization: Authorization


def charging_started(session: asyncpg.Record, at: datetime) -> ChargingStarted:
    return ChargingStarted(str(session["id"]), session["charge_point_id"], session["evse_number"],
                           session["evse_id"], session["started_at"], at,
                           session["meter_start_wh"], dict(session["attributes"]))


def _latest_power(samples: Sequence[MeterSample]) -> float | None:
    power = [s for s in samples if s.measurand == "Power.Active.Import" and s.phase is None]
    return max(power, key=lambda s: s.sampled_at).value if power else None


class SessionService:
    def __init__(self, pool: asyncpg.Pool, events: EventBus, authorizer: AuthorizerChain,
                 settings: OcppSettings) -> None:
        self.pool = pool
        self.events = events
        self.authorizer = authorizer
        self.settings = settings
        self._meter_values: GroupCommit[MeterValues, bool] = GroupCommit(
            pool, self._store_meter_values)

    def _window_start(self) -> datetime:
        return datetime.now(UTC) - timedelta(seconds=self.settings.remote_start_window)

    async def authorize(self, charge_point_id: str, token_uid: str,
                        evse_number: int | None = None,
                        token_type: TokenType | None = None) -> Authorization:
        """A token the CSMS itself just sent in a remote start is accepted without asking anyone.
        evse_number: where the token is presented, if the charger says; token_type: as it says."""
        pending = await store.pending_by_token(self.pool, charge_point_id, token_uid, None,
                                               self._window_start())
        if pending is not None:
            return await self.grouped(ACCEPTED, token_uid)
        # 1.6 and 2.0.1 Authorize name no EVSE: then known only where the charger has just one.
        answer = await self.authorizer.authorize(token_uid, charge_point_id, await store.roaming_evse_id(
            self.pool, charge_point_id, evse_number), token_type=token_type,
            evse_number=evse_number or await store.only_evse_number(self.pool, charge_point_id))
        log.info("authorize", charge_point_id=charge_point_id, token=token_uid,
                 status=answer.status)
        # Our own card's group came with the local authorizer's answer (ours answers first and
        # finally): a further lookup per Authorize would find nothing more.
        return answer

    async def grouped(self, answer: Authorization, token_uid: str | None) -> Authorization:
        """The answer with the token's group, which every answer about our own token carries
        (a charger compares it to let a token of the group stop the session: 1.6 parentIdTag,
        2.0.1 C01/C09 groupIdToken)."""
        if token_uid is None or answer.group is not None:
            return answer
        group = await store.token_group(self.pool, token_uid)
        return answer if group is None else dataclasses.replace(answer, group=group)

    # --- remote starts (called by the command service) --------------------------------------

    async def create_pending(self, charge_point_id: str, evse: asyncpg.Record, token_uid: str,
                             attributes: dict[str, Any]) -> tuple[str, int]:
        """A remote start about to be sent, on the EVSE's row: (session id, remoteStartId)."""
        async with self.pool.acquire() as conn, conn.transaction():
            session = await store.insert_session(
                conn, next_remote_start_id=True, charge_point_id=charge_point_id,
                evse=evse["id"], token_uid=token_uid, status=SessionStatus.PENDING, remote=True,
                requested_at=datetime.now(UTC), attributes=attributes,
            )
            await self._remote_start_changed(conn, session, evse)
        return str(session["id"]), int(session["remote_start_id"])

    async def fail_pending(self, session_id: str, why: str) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            session = await conn.fetchrow(
                """UPDATE sessions SET status = 'failed', stop_reason = $2, updated_at = now()
                   WHERE id = $1 AND status = 'pending' RETURNING *""",
                session_id, why,
            )
            if session is not None:
                await self._remote_start_changed(conn, session)

    async def _remote_start_changed(self, conn: asyncpg.Connection, session: asyncpg.Record,
                                    evse: asyncpg.Record | None = None) -> None:
        """Roaming partners see a remote start's session from its request on (OCPI PENDING)."""
        if evse is None:
            evse = await store.get_evse_by_pk(conn, session["evse"])
        assert evse is not None
        await self.events.publish(conn, RemoteStartChanged(
            str(session["id"]), session["charge_point_id"], evse["evse_number"], evse["evse_id"],
            session["token_uid"], session["requested_at"], str(session["status"]),
            dict(session["attributes"])))

    # --- transactions reported by chargers --------------------------------------------------

    async def start(self, charge_point_id: str, evse_number: int, connector_number: int | None,
                    token_uid: str | None, started_at: datetime, meter_start_wh: float | None,
                    transaction_id: str | None = None, remote_start_id: int | None = None,
                    seq_no: int | None = None, samples: Sequence[MeterSample] = (),
                    reservation_id: int | None = None,
                    token_type: TokenType | None = None) -> StartOutcome:
        """A transaction began on the charger. transaction_id None: issue one (OCPP 1.6)."""
        # A replay after a lost answer gets the first answer again and opens nothing.
        outcome = await self._start(charge_point_id, evse_number, connector_number, token_uid,
                                    started_at, meter_start_wh, transaction_id, remote_start_id,
                                    seq_no, samples, reservation_id, token_type)
        return dataclasses.replace(
            outcome, authorization=await self.grouped(outcome.authorization, token_uid))

    async def _start(self, charge_point_id: str, evse_number: int, connector_number: int | None,
                     token_uid: str | None, started_at: datetime, meter_start_wh: float | None,
                     transaction_id: str | None, remote_start_id: int | None,
                     seq_no: int | None, samples: Sequence[MeterSample],
                     reservation_id: int | None, token_type: TokenType | None) -> StartOutcome:
        replayed = await self._replayed(self.pool, charge_point_id, connector_number, token_uid,
                                        started_at, meter_start_wh, transaction_id)
        if replayed is not None:
            return replayed

        # Authorizers may do I/O (a roaming partner): ask them before the transaction, and
        # only for tokens that no remote start of ours explains.
        authorization: Authorization | None = None
        if token_uid is not None and not await self._remote_start_pending(
                charge_point_id, token_uid, remote_start_id):
            authorization = await self.authorizer.authorize(
                token_uid, charge_point_id,
                await store.roaming_evse_id(self.pool, charge_point_id, evse_number),
                token_type=token_type, evse_number=evse_number)

        async with self.pool.acquire() as conn, conn.transaction():
            evse = await store.ensure_evse(conn, charge_point_id, evse_number)
            await store.lock_evse(conn, evse["id"])
            # The same resend may have reached another node meanwhile.
            replayed = await self._replayed(conn, charge_point_id, connector_number, token_uid,
                                            started_at, meter_start_wh, transaction_id)
            if replayed is not None:
                return replayed
            if transaction_id is None:
                transaction_id = str(await store.next_transaction_id(conn))
            pending = None
            if remote_start_id is not None:
                pending = await store.pending_by_remote_start_id(conn, charge_point_id,
                                                                 remote_start_id)
            elif token_uid is not None:
                pending = await store.pending_by_token(conn, charge_point_id, token_uid,
                                                       evse["id"], self._window_start())
            if pending is not None:
                authorization = Authorization(AuthorizationStatus.ACCEPTED,
                                              dict(pending["attributes"]))
                token_uid = token_uid or pending["token_uid"]
            elif authorization is None and token_uid is None:
                # No token yet (2.0.1 may start on cable plug-in and authorize later).
                authorization = ACCEPTED
            elif authorization is None:  # the remote start expired while we were looking
                authorization = Authorization(AuthorizationStatus.INVALID)
            # ConcurrentTx means the token is in another transaction (OCPP 1.6 §7.2
            # AuthorizationStatus, 2.0.1 AuthorizationStatusEnumType), never "this EVSE is busy".
            if (authorization.status is AuthorizationStatus.ACCEPTED and token_uid is not None
                    and await store.active_session_with_token(conn, charge_point_id, token_uid,
                                                              evse["id"]) is not None):
                authorization = Authorization(AuthorizationStatus.CONCURRENT_TX)

            accepted = authorization.status is AuthorizationStatus.ACCEPTED
            if accepted:
                # The charger is the truth about its connectors: a session we still hold open
                # there ended without our hearing of it (a lost StopTransaction, a reset).
                stale = await store.active_session_on_evse(conn, evse["id"])
                if stale is not None:
                    await self._end(conn, stale, StopReason.SUPERSEDED, started_at)
            if meter_start_wh is None:
                meter_start_wh = energy_register_wh(list(samples))
            values: dict[str, Any] = dict(
                transaction_id=transaction_id, connector_number=connector_number,
                token_uid=token_uid, started_at=started_at, meter_start_wh=meter_start_wh,
                status=SessionStatus.ACTIVE if accepted else SessionStatus.REJECTED,
                authorization_status=authorization.status, last_seq_no=seq_no,
            )
            used = await store.reservation_for_session(conn, evse["id"], token_uid,
                                                       reservation_id) if accepted else None
            if pending is not None and accepted:
                session = await store.update_session(conn, str(pending["id"]), **values)
            else:
                if used is not None:  # the id the reservation promised (reservations.SESSION_ID)
                    values["id"] = await self._reserved_session_id(conn, used)
                session = await store.insert_session(
                    conn, charge_point_id=charge_point_id, evse=evse["id"],
                    attributes=authorization.attributes, **values,
                )
            session_id = str(session["id"])
            await store.insert_samples(conn, session_id, charge_point_id, evse["id"], list(samples))
            if pending is not None and not accepted:  # e.g. ConcurrentTx: the remote start is over
                failed = await store.update_session(
                    conn, str(pending["id"]), status=SessionStatus.FAILED,
                    stop_reason=f"transaction refused: {authorization.status}")
                await self._remote_start_changed(conn, failed)
            if accepted:
                if used is not None:
                    await end_reservation(conn, self.events, used, "used")
                await self.events.publish(conn, SessionStarted(
                    session_id, charge_point_id, evse_number, evse["evse_id"], token_uid,
                    started_at, meter_start_wh, bool(session["remote"]),
                    dict(session["attributes"]),
                ))
        log.info("session started" if accepted else "session refused",
                 charge_point_id=charge_point_id, session_id=session_id, evse=evse_number,
                 transaction_id=transaction_id, token=token_uid, status=authorization.status,
                 remote=pending is not None)
        return StartOutcome(session_id, transaction_id, authorization)

    @staticmethod
    async def _reserved_session_id(conn: asyncpg.Connection, reservation_id: int) -> uuid.UUID:
        """The reservation's promised session id, unless a session has it (a reservation of
        any EVSE used twice over), else a new one."""
        reservation = await store.get_reservation(conn, reservation_id)
        promised = (reservation["attributes"] if reservation else {}).get(SESSION_ID)
        if promised and await store.get_session(conn, promised) is None:
            return uuid.UUID(promised)
        return uuid.uuid4()

    @staticmethod
    async def _replayed(db: store.Executor, charge_point_id: str, connector_number: int | None,
                        token_uid: str | None, started_at: datetime,
                        meter_start_wh: float | None,
                        transaction_id: str | None) -> StartOutcome | None:
        """The first answer to a transaction start we already stored: 2.0.1 names its
        transaction; a 1.6 resend is the same connector, idTag, timestamp and meterStart."""
        if transaction_id is not None:
            known = await store.session_by_transaction(db, charge_point_id, transaction_id)
        else:
            known = await store.session_by_start(db, charge_point_id, connector_number,
                                                 token_uid, started_at, meter_start_wh)
        if known is None:
            return None
        log.info("transaction start repeated", charge_point_id=charge_point_id,
                 session_id=str(known["id"]), transaction_id=known["transaction_id"])
        status = AuthorizationStatus(known["authorization_status"] or "accepted")
        return StartOutcome(str(known["id"]), known["transaction_id"], Authorization(status))

    async def _remote_start_pending(self, charge_point_id: str, token_uid: str,
                                    remote_start_id: int | None) -> bool:
        if remote_start_id is not None and await store.pending_by_remote_start_id(
                self.pool, charge_point_id, remote_start_id) is not None:
            return True
        return await store.pending_by_token(self.pool, charge_point_id, token_uid, None,
                                            self._window_start()) is not None

    async def known(self, charge_point_id: str, transaction_id: str) -> bool:
        return await store.session_by_transaction(self.pool, charge_point_id,
                                                  transaction_id) is not None

    async def attach_token(self, charge_point_id: str, transaction_id: str, token_uid: str,
                           token_type: TokenType | None = None) -> Authorization:
        """A token presented during a transaction that started without one (2.0.1)."""
        session = await store.session_by_transaction(self.pool, charge_point_id, transaction_id)
        if session is None or session["token_uid"] == token_uid:
            return await self.grouped(ACCEPTED, token_uid)
        if session["token_uid"] is not None:
            # e.g. another card to stop
            return await self.authorize(charge_point_id, token_uid, token_type=token_type)
        answer = await self.authorize(charge_point_id, token_uid, session["evse_number"],
                                      token_type)
        await store.update_session(self.pool, str(session["id"]), token_uid=token_uid,
                                   authorization_status=answer.status)
        return answer

    def _check_seq(self, session: asyncpg.Record, seq_no: int | None,
                   last: int | None = None) -> SeqStep:
        """The session's seqNo after this event (`last`: as already seen in this batch)."""
        step = follow(session["last_seq_no"] if last is None else last, seq_no)
        if step.missing is not None:
            log.warning("transaction event seqNo gap", charge_point_id=session["charge_point_id"],
                        session_id=str(session["id"]), transaction_id=session["transaction_id"],
                        expected=step.missing[0], got=step.missing[1] + 1)
        elif step.reset:
            log.info("transaction event seqNo reset", charge_point_id=session["charge_point_id"],
                     session_id=str(session["id"]), transaction_id=session["transaction_id"])
        return step

    async def meter(self, charge_point_id: str, evse_number: int | None,
                    transaction_id: str | None, samples: Sequence[MeterSample],
                    seq_no: int | None = None) -> bool:
        """Stored with other chargers' meter values in one transaction (see GroupCommit);
        True when its seqNo shows events of the transaction missing."""
        return bool(await self._meter_values.submit(
            MeterValues(charge_point_id, evse_number, transaction_id, tuple(samples), seq_no)))

    async def _store_meter_values(self, conn: asyncpg.Connection,
                                  batch: list[MeterValues]) -> list[bool]:
        """A few statements for the whole batch, whatever its size."""
        # Each lookup only when the batch needs it: 1.6 meter values often name no transaction.
        transactions = sorted({(m.charge_point_id, m.transaction_id) for m in batch
                               if m.transaction_id is not None})
        sessions = await store.sessions_by_transactions(conn, transactions) if transactions else {}
        unmatched = sorted({(m.charge_point_id, m.evse_number) for m in batch if m.evse_number
                            and (m.charge_point_id, m.transaction_id or "") not in sessions})
        evses = await store.evse_ids(conn, unmatched) if unmatched else {}
        seq_nos: dict[str, int] = {}
        gaps: list[bool] = []
        not_charging: list[tuple[asyncpg.Record, MeterValues]] = []
        rows: list[store.SampleRow] = []
        sampled: list[MeterSampled] = []
        for m in batch:
            session = sessions.get((m.charge_point_id, m.transaction_id or ""))
            evse_number = m.evse_number
            gaps.append(False)
            if m.transaction_id is not None and session is None:
                log.warning("meter values for an unknown transaction",
                            charge_point_id=m.charge_point_id, transaction_id=m.transaction_id)
            if session is not None:
                evse_pk: int | None = session["evse"]
                evse_number = session["evse_number"]
                key = str(session["id"])
                session_id: str | None = key
                if m.seq_no is not None:
                    step = self._check_seq(session, m.seq_no, seq_nos.get(key))
                    seq_nos[key] = m.seq_no if step.last is None else step.last
                    gaps[-1] = step.missing is not None
                if session["status"] == SessionStatus.ACTIVE and session["charging_started_at"] is None:
                    not_charging.append((session, m))
            else:
                session_id = None
                evse_pk = None
                if evse_number:
                    evse_pk = evses.get((m.charge_point_id, evse_number))
                    if evse_pk is None:  # an EVSE the charger reports but nobody registered
                        evse_pk = (await store.ensure_evse(conn, m.charge_point_id,
                                                           evse_number))["id"]
                        evses[(m.charge_point_id, evse_number)] = evse_pk
            rows.extend((session_id, m.charge_point_id, evse_pk, sample) for sample in m.samples)
            if m.samples:
                sampled.append(MeterSampled(
                    session_id, m.charge_point_id, evse_number,
                    max(s.sampled_at for s in m.samples), energy_register_wh(list(m.samples)),
                    _latest_power(m.samples),
                    dict(session["attributes"]) if session is not None else {},
                ))
        if seq_nos:
            await store.set_last_seq_nos(conn, seq_nos)
        await store.insert_sample_rows(conn, rows)
        if not_charging:
            await self._charging_starts(conn, not_charging)
        for event in sampled:
            await self.events.publish(conn, event)
        return gaps

    async def _charging_starts(self, conn: asyncpg.Connection,
                               batch: list[tuple[asyncpg.Record, MeterValues]]) -> None:
        """Sessions whose meter rose above its start began to charge: stored once, announced.
        (Their end follows from the stored samples when they end: no write per meter value.)"""
        # Without a meter start (2.0.1 may send none), the session's first reading is the level.
        unknown = sorted({str(s["id"]) for s, _ in batch if s["meter_start_wh"] is None})
        levels = await store.first_energy_readings(conn, unknown) if unknown else {}
        starts: dict[str, tuple[asyncpg.Record, datetime]] = {}
        for session, m in batch:
            key = str(session["id"])
            level = session["meter_start_wh"] if key not in levels else levels[key]
            at = charging.first_increase(m.samples, level)
            if at is not None and (key not in starts or at < starts[key][1]):
                starts[key] = (session, at)
        for key, (session, at) in sorted(starts.items()):
            if await store.set_charging_started(conn, key, at):
                await self.events.publish(conn, charging_started(session, at))

    async def stop(self, charge_point_id: str, transaction_id: str, stopped_at: datetime,
                   meter_stop_wh: float | None, reason: StopReason, token_uid: str | None = None,
                   samples: Sequence[MeterSample] = (), seq_no: int | None = None) -> Stopped:
        """The transaction ended (known False: no such transaction)."""
        async with self.pool.acquire() as conn, conn.transaction():
            session = await store.session_by_transaction(conn, charge_point_id, transaction_id)
            if session is None:
                return Stopped(known=False)
            if session["stopped_at"] is not None:  # a replay (or we closed it first): done
                log.info("session end repeated", charge_point_id=charge_point_id,
                         session_id=str(session["id"]))
                return Stopped(known=True)
            step = self._check_seq(session, seq_no)
            await store.insert_samples(conn, str(session["id"]), charge_point_id,
                                       session["evse"], list(samples))
            if meter_stop_wh is None:
                meter_stop_wh = energy_register_wh(list(samples))
            await self._end(conn, session, reason, stopped_at, meter_stop_wh,
                            token_uid=token_uid, last_seq_no=step.last)
        return Stopped(known=True, seq_gap=step.missing is not None)

    async def close(self, session_id: str) -> tuple[asyncpg.Record | None, bool]:
        """An operator ends a session the charger never will (replaced, memory wiped): the
        session (None: unknown) and whether this closed it (False: it was not active)."""
        async with self.pool.acquire() as conn, conn.transaction():
            session = await store.get_session(conn, session_id, lock=True)
            if session is None or session["status"] != SessionStatus.ACTIVE:
                return session, False
            return await self._end(conn, session, StopReason.CLOSED_BY_OPERATOR,
                                   datetime.now(UTC)), True

    async def _end(self, conn: asyncpg.Connection, session: asyncpg.Record, reason: StopReason,
                   at: datetime, meter_stop_wh: float | None = None,
                   token_uid: str | None = None,
                   last_seq_no: int | None = None) -> asyncpg.Record:
        """End a session: with the charger's own meter value, else at its last known one (and
        then when that was read); an active session's end is published, so CDRs go out."""
        session_id = str(session["id"])
        if meter_stop_wh is None:
            last = await store.last_energy_reading(conn, session_id)
            unreported = reason in _UNREPORTED_ENDS
            if last is not None:
                meter_stop_wh = last["value"]
                if unreported:
                    at = last["sampled_at"]  # when we last knew it was running
            elif unreported:
                meter_stop_wh = session["meter_start_wh"]
        if session["started_at"] is not None:
            at = max(at, session["started_at"])
        was_active = session["status"] == SessionStatus.ACTIVE
        ended = await store.update_session(
            conn, session_id, stopped_at=at, meter_stop_wh=meter_stop_wh,
            stop_reason=reason,
            last_seq_no=session["last_seq_no"] if last_seq_no is None else last_seq_no,
            token_uid=session["token_uid"] or token_uid,
            status=SessionStatus.COMPLETED if was_active else session["status"],
        )
        if was_active:
            # Its Tx profiles ended with it on the charger: our record follows.
            await profile_store.transaction_ended(conn, ended["charge_point_id"],
                                                  ended["evse_number"])
            await self.events.publish(conn, SessionEnded(
                session_id, ended["charge_point_id"], ended["evse_number"], ended["evse_id"],
                ended["token_uid"], ended["started_at"], at, ended["meter_start_wh"],
                meter_stop_wh, reason, dict(ended["attributes"]),
            ))
            if meter_stop_wh is not None and ended["meter_start_wh"] is not None:
                ENERGY.inc(max(0.0, meter_stop_wh - ended["meter_start_wh"]))
        log.info("session ended", charge_point_id=ended["charge_point_id"], session_id=session_id,
                 transaction_id=ended["transaction_id"], reason=reason,
                 meter_stop_wh=meter_stop_wh)
        return ended

    async def expire_pending(self) -> int:
        """Remote starts the charger did not take up within the window are over."""
        async with self.pool.acquire() as conn, conn.transaction():
            expired = await store.expire_pending(conn, self._window_start())
            for session in expired:
                await self._remote_start_changed(conn, session)
        if expired:
            log.info("remote starts expired", count=len(expired))
        return len(expired)

    async def expire_forever(self, interval: float = 5.0) -> None:
        while True:
            try:
                await self.expire_pending()
            except (OSError, asyncpg.PostgresError) as exc:
                if not outage.noted(exc):
                    log.error("remote start expiry failed", error=repr(exc))
            await asyncio.sleep(interval)
