"""OCPI ChargingProfiles on an eMSP's own sessions: an `emsp` EVSE cap, answered at once, result posted."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import structlog

from bridge import outbox
from bridge.ocpi.control import profile_mapping as mapping
from bridge.ocpi.control.commands import CommandError, is_uuid, response_url_refusal
from bridge.ocpi.control.profile_mapping import Electrical, ProfileError
from bridge.ocpi.handshake.partners import Partner
from bridge.ocpi.transport import timestamp
from csms.config import OcpiSettings
from csms.domain.commands import CommandResult, CommandService, finish_in_flight
from csms.domain.energy.smart_charging import RateUnit, composite_from_dict
from csms.domain.events import EvseCapChanged, SessionEnded
from csms.domain.sites import EvseDetails, parse_site
from csms.storage import store
from csms.storage.energy import energy_store
from csms.storage.outage import outage

log = structlog.get_logger(__name__)

SOURCE = "emsp"  # the cap's source (ENERGY.md interface 1)
OPERATION = "POST chargingprofiles"  # the outbox's operation for the results

# ChargingProfileResponseType
ACCEPTED, REJECTED, TOO_OFTEN, UNKNOWN_SESSION = "ACCEPTED", "REJECTED", "TOO_OFTEN", \
    "UNKNOWN_SESSION"


def response(result: str, timeout: int = 0) -> dict[str, Any]:
    """The ChargingProfileResponse answered at once."""
    return {"result": result, "timeout": timeout if result == ACCEPTED else 0}


class OcpiChargingProfiles:
    """The Receiver interface of the chargingprofiles module (CPO role)."""

    def __init__(self, settings: OcpiSettings, pool: asyncpg.Pool,
                 commands: CommandService) -> None:
        self.settings = settings
        self.pool = pool
        self.commands = commands
        self._running: set[asyncio.Task[None]] = set()
        # One change of a session's cap (PUT, DELETE) and one read (GET) at a time; another
        # meanwhile is TOO_OFTEN.
        self._busy: set[tuple[str, str]] = set()
        self.lead = timedelta(seconds=settings.profile_lead)
        # What we tell the eMSP to wait for a result: a cap may lower other chargers first, each
        # given a call's time to answer (set_evse_cap waits twice that), then the result's POST.
        self.timeout = int(commands.grace * 2) + 30
        self._follower: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._follower = asyncio.get_running_loop().create_task(self._follow())

    async def finish(self) -> None:
        if self._follower is not None:
            self._follower.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._follower
        await self.settle()

    async def settle(self) -> None:
        """Requests under way carried out, their results queued."""
        await finish_in_flight(self._running, self.commands.grace)

    # --- profiles followed period by period ---------------------------------------------------

    async def _follow(self) -> None:
        """Compute the caps whose next change is due again. Checked every lead / 2 seconds (at
        most every 5), so that a lower period reaches the load manager before it begins. Every
        node does it: computing a cap again gives the same cap."""
        interval = min(5.0, self.lead.total_seconds() / 2)
        while True:
            await asyncio.sleep(interval)
            try:
                # At once: a charger slow to answer delays no other session's profile.
                done = await asyncio.gather(*(self._follow_one(row)
                                              for row in await due_caps(self.pool)),
                                            return_exceptions=True)
                for failed in (outcome for outcome in done if isinstance(outcome, Exception)):
                    log.error("ocpi charging profile not followed", error=repr(failed))
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                if not outage.noted(exc):
                    log.warning("ocpi charging profiles not followed", error=repr(exc))

    async def _follow_one(self, row: asyncpg.Record) -> None:
        detail = _detail(row)
        session_id = str(detail.get("session_id"))
        key = (session_id, "cap")
        if key in self._busy:  # the eMSP is setting or clearing it: that counts
            return
        self._busy.add(key)
        try:
            # Read again under the claim: a PUT may have replaced the profile meanwhile.
            held = await held_cap(self.pool, row["charge_point_id"], row["evse"])
            if held is None or _detail(held) != detail:
                return
            await self._follow_profile(row, detail, session_id)
        finally:
            self._busy.discard(key)

    async def _follow_profile(self, row: asyncpg.Record, detail: dict[str, Any],
                              session_id: str) -> None:
        session = await store.get_session(self.pool, session_id) if is_uuid(session_id) else None
        if session is None or session["status"] != "active":
            await self.commands.clear_evse_cap(row["charge_point_id"], row["evse"], SOURCE)
            return
        profile = mapping.read_profile(detail["profile"])
        electrical = Electrical.of(await evse_details(self.pool, session))
        try:
            cap = mapping.emsp_cap(profile, session["started_at"], datetime.now(UTC),
                                   electrical, self.lead)
        except ProfileError:  # it is over: the site's share applies again
            await self.commands.clear_evse_cap(row["charge_point_id"], row["evse"], SOURCE)
            log.info("ocpi charging profile over", session_id=session_id)
            return
        result = await self._apply(session, session_id, int(detail["partner"]), profile, cap)
        log.info("ocpi charging profile followed", session_id=session_id,
                 max_amps=str(cap.max_amps), outcome=result.outcome)

    # --- the three requests ---------------------------------------------------------------

    async def put(self, partner: Partner, session_id: str, body: Any) -> dict[str, Any]:
        """SetChargingProfile: the profile becomes the session's `emsp` cap."""
        try:
            session_id = mapping.read_session_id(session_id)
            profile, url = mapping.read_set_charging_profile(body)
        except ProfileError as exc:
            raise CommandError(str(exc)) from None
        self._check_url(url, partner)
        session = await self._session(partner, session_id)
        if session is None:
            return response(UNKNOWN_SESSION)
        electrical = Electrical.of(await evse_details(self.pool, session))
        try:
            cap = mapping.emsp_cap(profile, session["started_at"], datetime.now(UTC), electrical,
                                   self.lead)
        except ProfileError as exc:
            raise CommandError(str(exc)) from None

        async def work() -> dict[str, Any]:
            result = await self._apply(session, session_id, partner.id, profile, cap)
            if not await self._still_active(session_id):
                # It ended meanwhile, after SessionEnded cleared the caps: no cap outlives it.
                await self._clear(session, session_id)
            return mapping.set_result(result.accepted)
        log.info("ocpi charging profile", partner=partner.id, session_id=session_id,
                 max_amps=str(cap.max_amps), until=cap.until, next_change=cap.next_change)
        return self._start(partner, "cap", session_id, url, work)

    async def _apply(self, session: asyncpg.Record, session_id: str, partner_id: int,
                     profile: mapping.OcpiProfile, cap: mapping.EmspCap) -> CommandResult:
        """The cap on the session's EVSE, with what computes it again (ENERGY.md interface 2)."""
        detail = {"session_id": session_id, "partner": partner_id,
                  "profile": mapping.profile_json(profile),
                  "session_started": timestamp(session["started_at"]),
                  "next_change": timestamp(cap.next_change) if cap.next_change else None}
        return await self.commands.set_evse_cap(
            session["charge_point_id"], session["evse_number"], SOURCE, cap.max_amps,
            cap.min_amps, detail, cap.until)

    async def get(self, partner: Partner, session_id: str,
                  query: dict[str, str]) -> dict[str, Any]:
        """ActiveChargingProfile: the composite schedule the charger computes for the EVSE."""
        try:
            session_id = mapping.read_session_id(session_id)
            duration = mapping.read_duration(query.get("duration"))
            url = mapping.response_url(query.get("response_url"))
        except ProfileError as exc:
            raise CommandError(str(exc)) from None
        self._check_url(url, partner)
        session = await self._session(partner, session_id)
        if session is None:
            return response(UNKNOWN_SESSION)

        async def work() -> dict[str, Any]:
            result = await self.commands.composite_schedule(
                session["charge_point_id"], session["evse_number"], duration, RateUnit.AMPERES)
            if not result.accepted:
                return mapping.active_result(None)
            raw = result.detail.get("schedule")
            details = await evse_details(self.pool, session)
            return mapping.active_result(mapping.active_charging_profile(
                composite_from_dict(raw) if raw else None, datetime.now(UTC),
                float(details.amperage)))
        return self._start(partner, "get", session_id, url, work)

    async def delete(self, partner: Partner, session_id: str,
                     query: dict[str, str]) -> dict[str, Any]:
        """ClearProfile: the session's `emsp` cap goes, the site's share applies again."""
        try:
            session_id = mapping.read_session_id(session_id)
            url = mapping.response_url(query.get("response_url"))
        except ProfileError as exc:
            raise CommandError(str(exc)) from None
        self._check_url(url, partner)
        session = await self._session(partner, session_id)
        if session is None:
            return response(UNKNOWN_SESSION)

        async def work() -> dict[str, Any]:
            if not await self._holds_cap(session, session_id):
                return mapping.clear_result(held=False, accepted=False)
            result = await self.commands.clear_evse_cap(
                session["charge_point_id"], session["evse_number"], SOURCE)
            return mapping.clear_result(held=True, accepted=result.accepted)
        return self._start(partner, "cap", session_id, url, work)

    # --- the session ends: its cap with it ----------------------------------------------------

    async def session_ended(self, conn: asyncpg.Connection, event: SessionEnded) -> None:
        """Inside the transaction that ended the session: its eMSP's cap goes with it."""
        cap = await held_cap(conn, event.charge_point_id, event.evse_number)
        if cap is None or _detail(cap).get("session_id") != event.session_id:
            return
        await energy_store.clear_cap(conn, event.charge_point_id, event.evse_number, SOURCE)
        if self.commands.events is not None:
            await self.commands.events.publish(
                conn, EvseCapChanged(event.charge_point_id, event.evse_number, SOURCE))
        log.info("ocpi charging profile ended with its session", session_id=event.session_id)

    # --- helpers ------------------------------------------------------------------------------

    def _check_url(self, url: str, partner: Partner) -> None:
        wrong = response_url_refusal(url, partner, self.settings)
        if wrong is not None:  # refused before anything is done (OCPI 2001)
            raise CommandError(f"response_url {wrong}")

    async def _session(self, partner: Partner, session_id: str) -> asyncpg.Record | None:
        """The caller's own active session; None for any other (its existence is not told)."""
        if not is_uuid(session_id):
            return None
        session = await store.get_session(self.pool, session_id)
        if session is None or session["status"] != "active" or session["started_at"] is None:
            return None
        token = (session["attributes"].get("ocpi") or {}).get("token") or {}
        # OCPI 2.2.1 ChargingProfiles: the owner of the Token sets profiles on its sessions.
        country_code, party_id = str(token.get("country_code", "")), str(token.get("party_id", ""))
        if not partner.acts_for(country_code, party_id):
            return None
        asking = partner.asking()  # through a hub: the client party's own sessions only
        if asking is not None and asking != f"{country_code.upper()}*{party_id.upper()}":
            return None
        return session

    async def _still_active(self, session_id: str) -> bool:
        session = await store.get_session(self.pool, session_id)
        return session is not None and session["status"] == "active"

    async def _holds_cap(self, session: asyncpg.Record, session_id: str) -> bool:
        cap = await held_cap(self.pool, session["charge_point_id"], session["evse_number"])
        return cap is not None and _detail(cap).get("session_id") == session_id

    async def _clear(self, session: asyncpg.Record, session_id: str) -> None:
        if await self._holds_cap(session, session_id):
            await self.commands.clear_evse_cap(session["charge_point_id"],
                                               session["evse_number"], SOURCE)

    def _start(self, partner: Partner, kind: str, session_id: str, url: str,
               work: Callable[[], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
        key = (session_id, kind)
        if key in self._busy:
            return response(TOO_OFTEN)
        self._busy.add(key)
        task = asyncio.get_running_loop().create_task(self._carry_out(partner, key, url, work))
        self._running.add(task)
        task.add_done_callback(self._running.discard)
        return response(ACCEPTED, self.timeout)

    async def _carry_out(self, partner: Partner, key: tuple[str, str], url: str,
                         work: Callable[[], Awaitable[dict[str, Any]]]) -> None:
        try:
            answer = await work()
            async with self.pool.acquire() as conn, conn.transaction():
                await outbox.enqueue(conn, partner.outbox_name, OPERATION, f"url|{url}", answer,
                                     addressee=partner.caller)  # through a hub, to the asker
        finally:
            self._busy.discard(key)
        log.info("ocpi charging profile request done", partner=partner.id, session_id=key[0],
                 request=key[1], result=answer["result"])


async def held_cap(db: asyncpg.Pool | asyncpg.Connection, charge_point_id: str,
                   evse: int) -> asyncpg.Record | None:
    """The eMSP cap on an EVSE, expired or not (energy_store.caps_of shows unexpired ones)."""
    return await db.fetchrow(
        """SELECT charge_point_id, evse, detail, until FROM evse_caps
           WHERE charge_point_id = $1 AND evse = $2 AND source = $3""",
        charge_point_id, evse, SOURCE)


async def due_caps(db: asyncpg.Pool) -> list[asyncpg.Record]:
    """The eMSP caps whose next change has come."""
    # `#>> '{}'`: the detail as stored, an object or (set_cap before k201's fix) its JSON text.
    return list(await db.fetch(
        """SELECT charge_point_id, evse, detail FROM evse_caps WHERE source = $1
             AND ((detail #>> '{}')::jsonb ->> 'next_change')::timestamptz <= now()""",
        SOURCE))


async def evse_details(db: asyncpg.Pool | asyncpg.Connection,
                       session: asyncpg.Record) -> EvseDetails:
    """The session's EVSE as its site describes it (voltage, phases, amperage)."""
    site_id = await store.site_of(db, session["charge_point_id"])
    data = await store.get_site(db, site_id) if site_id else None
    if data is None:
        return EvseDetails()
    return parse_site(data).details(session["evse_id"] or "")


def _detail(cap: asyncpg.Record) -> dict[str, Any]:
    detail = cap["detail"]
    return detail if isinstance(detail, dict) else {}

