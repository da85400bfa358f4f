"""OCPI Commands from eMSPs: answered at once, carried out through the command service, result posted back."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import structlog

from bridge import egress, outbox
from bridge.ocpi import tokens
from bridge.ocpi.handshake.partners import Partner
from bridge.ocpi.transport import parse_timestamp
from bridge.ocpi.v211.commands import CommandFormError
from bridge.ocpi.versions.dialects import V221, Dialect
from csms.config import OcpiSettings
from csms.domain.commands import CommandResult, CommandService, Outcome, finish_in_flight
from csms.domain.model import parse_token_type
from csms.domain.reservations import has_evse_to_hold
from csms.storage import store

log = structlog.get_logger(__name__)

TIMEOUT = 30  # seconds we tell the eMSP to wait for the CommandResult
RESULT_ATTEMPTS = 8  # a CommandResult nobody takes is given up after this many (about 2 minutes)

# Every outcome has its CommandResultType: one missing here ended the command's task with a
# KeyError, and the eMSP never heard its result.
_RESULTS = {Outcome.ACCEPTED: "ACCEPTED", Outcome.REJECTED: "REJECTED",
            Outcome.BUSY: "EVSE_OCCUPIED", Outcome.OFFLINE: "EVSE_INOPERATIVE",
            Outcome.TIMEOUT: "TIMEOUT", Outcome.FAILED: "FAILED", Outcome.NOT_FOUND: "REJECTED",
            Outcome.TOKEN_REFUSED: "REJECTED", Outcome.NOT_SUPPORTED: "NOT_SUPPORTED",
            Outcome.INVALID: "REJECTED"}
_CHARGER_SAYS = {"Occupied": "EVSE_OCCUPIED", "Faulted": "EVSE_INOPERATIVE",
                 "Unavailable": "EVSE_INOPERATIVE"}


# What a command handler returns: the work to carry out, or why it is refused at once.
Prepared = tuple[Awaitable[CommandResult] | None, str | None]


class CommandError(ValueError):
    """A command request we cannot read (answered with 2001)."""


def command_result(result: CommandResult) -> dict[str, Any]:
    """Our command outcome as OCPI's CommandResult."""
    said = str(result.detail.get("status", ""))
    value = _CHARGER_SAYS.get(said) or _RESULTS[result.outcome]
    answer: dict[str, Any] = {"result": value}
    if not result.accepted:
        answer["message"] = [{"language": "en", "text": f"charger: {said or result.outcome}"}]
    return answer


def partner_hosts(partner: Partner) -> set[str]:
    """The hosts of the partner's own URLs: its versions URL and its modules' endpoints."""
    urls = [partner.versions_url or "", *(str(e.get("url", "")) for e in partner.endpoints
                                           if isinstance(e, dict))]
    return {host for url in urls if (host := _host(url))}


def _host(url: str) -> str | None:
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return None
    return host.rstrip(".").lower() if host else None


def allowed_hosts(setting: str) -> set[str]:
    """ocpi.response_url_hosts: comma-separated host names."""
    return {host.strip().rstrip(".").lower() for host in setting.split(",") if host.strip()}


def response_url_refusal(url: str, partner: Partner, settings: OcpiSettings) -> str | None:
    """Why we will not POST a CommandResult to this response_url; None: we will. It must be on
    a host of the partner's own endpoints (or ocpi.response_url_hosts), and, named by address, a
    public one: else any partner could have us POST, with its token, wherever it likes."""
    try:
        parts = urlsplit(url)
        _ = parts.port  # a port out of range raises here
    except ValueError:
        return "is not a URL"
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an http(s) URL"
    host = _host(url)
    if host not in partner_hosts(partner) | allowed_hosts(settings.response_url_hosts):
        return "must be on the host of one of your endpoints"
    why = None if settings.allow_private_addresses else egress.literal_refusal(parts.hostname)
    return f"is {why}" if why else None


def _text(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise CommandError(f"{key} is missing")
    return value


class OcpiCommands:
    def __init__(self, settings: OcpiSettings, pool: asyncpg.Pool, commands: CommandService) -> None:
        self.settings = settings
        self.pool = pool
        self.commands = commands
        self._running: set[asyncio.Task[None]] = set()

    async def finish(self) -> None:
        await finish_in_flight(self._running, self.commands.grace)

    async def receive(self, partner: Partner, command: str, body: Any,
                      dialect: Dialect = V221) -> dict[str, Any]:
        """The CommandResponse, in the dialect's form; accepted commands go on in the background."""
        answer = await self._receive(partner, command, body, dialect)
        return dialect.command_answer(answer)

    async def _receive(self, partner: Partner, command: str, body: Any,
                       dialect: Dialect) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise CommandError("body must be a command object")
        if command not in dialect.commands:
            return {"result": "NOT_SUPPORTED", "timeout": 0}
        party = partner.emsp_party() or ("", "")
        try:
            body = dialect.command_in(command, body, *party)
        except CommandFormError as exc:
            raise CommandError(str(exc)) from None
        handler = {"START_SESSION": self._start, "STOP_SESSION": self._stop,
                   "UNLOCK_CONNECTOR": self._unlock, "RESERVE_NOW": self._reserve,
                   "CANCEL_RESERVATION": self._cancel}.get(command)
        if handler is None:
            return {"result": "NOT_SUPPORTED", "timeout": 0}
        response_url = _text(body, "response_url")
        wrong = response_url_refusal(response_url, partner, self.settings)
        if wrong is not None:  # refused before anything is done (OCPI 2001: invalid parameter)
            raise CommandError(f"response_url {wrong}")
        work, refusal = await handler(partner, body)
        if work is None:
            return {"result": refusal or "REJECTED", "timeout": 0}
        task = asyncio.get_running_loop().create_task(
            self._carry_out(partner, command, response_url, work, dialect))
        self._running.add(task)
        task.add_done_callback(self._running.discard)
        return {"result": "ACCEPTED", "timeout": TIMEOUT}

    async def _carry_out(self, partner: Partner, command: str, response_url: str,
                         work: Awaitable[CommandResult], dialect: Dialect) -> None:
        result = await work
        answer = dialect.command_answer(command_result(result))
        async with self.pool.acquire() as conn, conn.transaction():
            # Through a hub, to the party that asked (its answer: never held).
            await outbox.enqueue(conn, partner.outbox_name, "POST commands", f"url|{response_url}",
                                 answer, addressee=partner.caller)
        log.info("ocpi command done", partner=partner.id, command=command, result=answer["result"])

    async def _evse(self, body: dict[str, Any]) -> tuple[str, int] | None:
        """The EVSE a command names by location and EVSE uid, if both are ours and match."""
        charge_point_id, _, number = _text(body, "evse_uid").rpartition("-")
        if not number.isdigit():
            return None
        if await store.site_of(self.pool, charge_point_id) != _text(body, "location_id"):
            return None
        evse = await store.get_evse(self.pool, charge_point_id, int(number))
        return (charge_point_id, int(number)) if evse is not None else None

    @staticmethod
    def _token(partner: Partner, body: dict[str, Any]) -> dict[str, Any]:
        """The command's Token: one of the caller's own parties."""
        token = body.get("token")
        if not isinstance(token, dict) or not isinstance(token.get("uid"), str):
            raise CommandError("token must be a Token object")
        try:
            token = tokens.cdr_token(token)
        except KeyError:
            raise CommandError("token lacks country_code, party_id, uid, type or contract_id") from None
        if not partner.acts_for(str(token["country_code"]), str(token["party_id"])):
            raise CommandError(f"{token['country_code']}*{token['party_id']} is not a party of yours")
        asking = partner.asking()
        party = f"{str(token['country_code']).upper()}*{str(token['party_id']).upper()}"
        if asking is not None and party != asking:  # through a hub: its client's own tokens
            raise CommandError(f"{party} is not {asking}: a party sends its own tokens")
        return token

    async def _start(self, partner: Partner, body: dict[str, Any]) -> Prepared:
        token = self._token(partner, body)
        target = await self._evse(body)
        if target is None:
            return None, "REJECTED"
        # A token our own table refuses (a card of ours blocked, another owner's invalid): the
        # CPO rejects at once (CommandResponseType REJECTED); nothing reaches the charger.
        if await self.commands.token_refusal(token["uid"], partner.outbox_name) is not None:
            return None, "REJECTED"
        attributes = tokens.session_attributes(partner.id, token, "COMMAND",
                                               body.get("authorization_reference"))
        return self.commands.start_session(target[0], target[1], token["uid"], attributes,
                                           parse_token_type(token["type"]),
                                           partner.outbox_name), None

    async def _stop(self, partner: Partner, body: dict[str, Any]) -> Prepared:
        session_id = _text(body, "session_id")
        session = await store.get_session(self.pool, session_id) if is_uuid(session_id) else None
        if session is None or (session["attributes"].get("ocpi") or {}).get("partner") != partner.id:
            return None, "UNKNOWN_SESSION"
        return self.commands.stop_session(session_id), None

    async def _unlock(self, partner: Partner, body: dict[str, Any]) -> Prepared:
        target = await self._evse(body)
        if target is None:
            return None, "REJECTED"
        # An OCPP 1.6 unlock ends the transaction: during a session only its own eMSP may ask
        # (CommandResponseType REJECTED: "Session might not be from a customer of the eMSP").
        session = await store.active_session_at(self.pool, *target)
        if session is not None and _partner_of(session) != partner.id:
            return None, "REJECTED"
        return self.commands.unlock(*target), None

    async def _reserve(self, partner: Partner, body: dict[str, Any]) -> Prepared:
        token = self._token(partner, body)
        # No evse_uid: any EVSE of the Location (OCPI 2.2.1 ReserveNow), held by one charger.
        target = await self._evse(body) if body.get("evse_uid") \
            else await self._any_evse(_text(body, "location_id"))
        reservation_id = body.get("reservation_id")
        try:
            expires = parse_timestamp(_text(body, "expiry_date"))
        except ValueError:
            raise CommandError("expiry_date must be a UTC DateTime") from None
        if target is None or not isinstance(reservation_id, int | str) or expires <= _now():
            return None, "REJECTED"
        # As for StartSession: a token our own table refuses is rejected at once.
        if await self.commands.token_refusal(token["uid"], partner.outbox_name) is not None:
            return None, "REJECTED"
        attributes = tokens.session_attributes(partner.id, token, "COMMAND")
        attributes["ocpi"]["reservation_id"] = str(reservation_id)
        return self.commands.reserve(target[0], target[1], token["uid"], expires, attributes,
                                     parse_token_type(token["type"]),
                                     requester=partner.outbox_name), None

    async def _any_evse(self, location_id: str) -> tuple[str, None] | None:
        """The charger a reservation of any EVSE of the Location goes to: the first, by charge
        point id, of its chargers that is connected and has an EVSE to hold (csms reservations:
        one not held by a reservation, beyond those its reservations of any EVSE keep free)."""
        for charge_point_id in await store.roaming_charge_points_on_site(self.pool, location_id):
            if await self.commands.online(charge_point_id) \
                    and await has_evse_to_hold(self.pool, charge_point_id):
                return charge_point_id, None
        return None

    async def _cancel(self, partner: Partner, body: dict[str, Any]) -> Prepared:
        reservation_id = body.get("reservation_id")
        ours = await store.reservation_by_partner_ref(self.pool, "ocpi", partner.id,
                                                      str(reservation_id))
        if ours is None:
            return None, "REJECTED"
        return self.commands.cancel_reservation(ours), None


def _partner_of(session: asyncpg.Record) -> int | None:
    """The OCPI partner whose token started the session, if one did."""
    return (session["attributes"].get("ocpi") or {}).get("partner")  # type: ignore[no-any-return]


def is_uuid(value: str) -> bool:
    """A session id as we issue them (anything else names no session of ours)."""
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _now() -> datetime:
    return datetime.now(UTC)
