"""What Hubject asks of us: remote start and stop, served over TLS with client certificates."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import structlog
from aiohttp import web

from csms.config import ConfigError, OicpSettings
from csms.domain.commands import CommandResult, CommandService, Outcome, finish_in_flight
from csms.domain.model import TokenType
from csms.operator.http.json_bodies import BadJson, json_body
from csms.security.tls import server_context
from csms.storage import store

log = structlog.get_logger(__name__)

BASE = "/api/oicp/charging/v21/providers/{provider}"
RESERVATION = "/api/oicp/reservation/v11/providers/{provider}"
# Hubject allows 10 s for the answer; keep a margin for the network.
ANSWER_WITHIN = 8.0

_START_CODES = {
    Outcome.ACCEPTED: "000",
    Outcome.BUSY: "602",
    Outcome.REJECTED: "602",
    Outcome.NOT_FOUND: "603",
    Outcome.OFFLINE: "501",
    Outcome.TIMEOUT: "501",
    Outcome.FAILED: "501",
    Outcome.TOKEN_REFUSED: "102",  # RFID Authentication failed – invalid UID
}
# An EvcoID our own table refuses: 200 EvcoID locked.
_EVCO_REFUSED = "200"


def server_ssl_context(settings: OicpSettings) -> ssl.SSLContext | None:
    if not settings.server_cert:
        if not settings.allow_plain_http:
            raise ConfigError("oicp.server_cert is required (or oicp.allow_plain_http for local runs)")
        return None
    if not settings.client_ca:  # mutual TLS is how Hubject authenticates: without it, anyone could
        raise ConfigError("oicp.client_ca is required with oicp.server_cert (the CA that signs "
                          "Hubject's client certificates)")
    return server_context(settings.server_cert, settings.server_key, settings.client_ca,
                          require_client=True)


def acknowledgement(result: bool, code: str, description: str = "",
                    session_ids: dict[str, str | None] | None = None) -> dict[str, Any]:
    status: dict[str, Any] = {"Code": code}
    if description:
        status["Description"] = description[:200]
    answer: dict[str, Any] = {"Result": result, "StatusCode": status}
    answer.update({k: v for k, v in (session_ids or {}).items() if v})
    return answer


def typed_token_of(identification: Any) -> tuple[str, TokenType] | None:
    """The driver's token in an OICP Identification: the EvcoID (an eMAID), or the RFID
    card's UID."""
    if not isinstance(identification, dict):
        return None
    for kind in ("RemoteIdentification", "QRCodeIdentification", "PlugAndChargeIdentification"):
        if isinstance(identification.get(kind), dict) and identification[kind].get("EvcoID"):
            return str(identification[kind]["EvcoID"]), TokenType.EMAID
    for kind in ("RFIDMifareFamilyIdentification", "RFIDIdentification"):
        if isinstance(identification.get(kind), dict) and identification[kind].get("UID"):
            return str(identification[kind]["UID"]), TokenType.RFID
    return None


class BadData(Exception):
    """The request cannot be used as sent: answered with code 022."""


def _storable(value: Any) -> bool:
    """JSON allows NUL and lone surrogates in strings, PostgreSQL's text and jsonb do not."""
    if isinstance(value, str):
        try:
            value.encode()
        except UnicodeEncodeError:
            return False
        return "\x00" not in value
    if isinstance(value, dict):
        return all(_storable(k) and _storable(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_storable(item) for item in value)
    return True


def _text(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value or len(value) > 250:
        raise BadData(f"{key} is {'missing' if value is None else 'invalid'}")
    return value


@dataclass(frozen=True)
class Call:
    """One request from Hubject: its body, and the ids every answer to it echoes."""

    body: dict[str, Any]
    session_id: str
    evse_id: str
    provider_id: str
    ids: dict[str, str | None]

    def attributes(self) -> dict[str, Any]:
        """What the session or reservation keeps: Hubject's ids and the driver's identification."""
        return {"oicp": {
            "SessionID": self.session_id, "ProviderID": self.provider_id, "EvseID": self.evse_id,
            "Identification": self.body["Identification"],
            **{k: self.body[k] for k in ("EMPPartnerSessionID", "PartnerProductID")
               if self.body.get(k)},
        }}


class OicpInbound:
    def __init__(self, settings: OicpSettings, pool: asyncpg.Pool,
                 commands: CommandService) -> None:
        self.settings = settings
        self.pool = pool
        self.commands = commands
        self.app = web.Application(client_max_size=64 * 1024)
        self.app.router.add_post(BASE + "/authorize-remote/start", self.remote_start)
        self.app.router.add_post(BASE + "/authorize-remote/stop", self.remote_stop)
        self.app.router.add_post(RESERVATION + "/reservation-start-request", self.reservation_start)
        self.app.router.add_post(RESERVATION + "/reservation-stop-request", self.reservation_stop)
        self._ssl = server_ssl_context(settings)
        self._runner: web.AppRunner | None = None
        self.port = 0
        self._pending: set[asyncio.Task[Any]] = set()

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.settings.listen_host, self.settings.listen_port,
                           ssl_context=self._ssl)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        log.info("oicp inbound listening", port=self.port, tls=self._ssl is not None)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        await finish_in_flight(self._pending, self.commands.grace)

    async def _parse(self, request: web.Request, starting: bool) -> Call:
        """The fields every remote start/stop and reservation request carries, checked."""
        try:
            body = await json_body(request)
        except BadJson as exc:
            raise BadData(str(exc)) from None
        if not isinstance(body, dict):
            raise BadData("body must be a JSON object")
        if not _storable(body):
            raise BadData("text must be UTF-8 without NUL characters")
        emp_session_id = body.get("EMPPartnerSessionID")
        if emp_session_id is not None:
            _text(body, "EMPPartnerSessionID")
        call = Call(body, _text(body, "SessionID"), _text(body, "EvseID"), _text(body, "ProviderID"),
                    {"SessionID": body["SessionID"], "EMPPartnerSessionID": emp_session_id})
        if starting and typed_token_of(body.get("Identification")) is None:
            raise BadData("Identification carries no EvcoID or UID")
        if call.provider_id != request.match_info["provider"]:
            raise BadData("ProviderID does not match the path")
        return call

    async def _answer(self, request: web.Request, starting: bool,
                      handle: Callable[[Call], Awaitable[dict[str, Any]]]) -> web.Response:
        try:
            call = await self._parse(request, starting)
        except BadData as exc:
            return web.json_response(acknowledgement(False, "022", str(exc)))
        return web.json_response(await handle(call))

    async def remote_start(self, request: web.Request) -> web.Response:
        return await self._answer(request, True, self._remote_start)

    async def remote_stop(self, request: web.Request) -> web.Response:
        return await self._answer(request, False, self._remote_stop)

    async def reservation_start(self, request: web.Request) -> web.Response:
        return await self._answer(request, True, self._reservation_start)

    async def reservation_stop(self, request: web.Request) -> web.Response:
        return await self._answer(request, False, self._reservation_stop)

    async def _target(self, call: Call, known: asyncpg.Record | None
                      ) -> tuple[dict[str, Any] | None, tuple[str, int] | None]:
        """A start's EVSE, or the negative answer: SessionID used before, EVSE unknown."""
        if known is not None:
            return acknowledgement(False, "400", "SessionID already used", call.ids), None
        target = await self.commands.resolve_evse(call.evse_id)
        if target is None:
            return acknowledgement(False, "603", "Unknown EvseID", call.ids), None
        return None, target

    def _started(self, call: Call, operation: str, result: CommandResult | None,
                 cpo_session_id: str | None) -> dict[str, Any]:
        if result is None:
            return acknowledgement(False, "501", "EVSE did not answer", call.ids)
        code = _start_code(call, result)
        log.info("hubject request", partner="hubject", operation=operation,
                 oicp_session=call.session_id, evse_id=call.evse_id, outcome=result.outcome,
                 code=code, cpo_session=cpo_session_id)
        said = result.detail.get("reason") if result.outcome is Outcome.TOKEN_REFUSED \
            else f"charger: {result.outcome}"
        return acknowledgement(result.accepted, code, "" if result.accepted else str(said),
                               {**call.ids, "CPOPartnerSessionID": cpo_session_id})

    def _belongs(self, call: Call, known: asyncpg.Record | None) -> bool:
        """A stop names the session (or reservation) by its SessionID, EVSE and EMP."""
        return (known is not None and known["evse_id"] == call.evse_id
                and known["attributes"]["oicp"].get("ProviderID") == call.provider_id)

    async def _remote_start(self, call: Call) -> dict[str, Any]:
        refusal, target = await self._target(
            call, await store.session_by_roaming_id(self.pool, "oicp", call.session_id))
        if target is None:
            return refusal or {}
        # The charger may answer after Hubject's deadline: the command goes on regardless.
        token, kind = typed_token_of(call.body["Identification"]) or ("", None)
        result = await self._within_deadline(self.commands.start_session(
            target[0], target[1], token, call.attributes(), kind))
        return self._started(call, "AuthorizeRemoteStart", result,
                             result.session_id if result else None)

    async def _remote_stop(self, call: Call) -> dict[str, Any]:
        session = await store.session_by_roaming_id(self.pool, "oicp", call.session_id)
        if not self._belongs(call, session):
            return acknowledgement(False, "400", "Session is invalid", call.ids)
        assert session is not None
        result = await self.commands.stop_session(str(session["id"]))
        log.info("remote stop", partner="hubject", oicp_session=call.session_id,
                 session_id=str(session["id"]), outcome=result.outcome)
        if result.accepted:
            return acknowledgement(True, "000", "",
                                   {**call.ids, "CPOPartnerSessionID": str(session["id"])})
        code = "501" if result.outcome in (Outcome.OFFLINE, Outcome.TIMEOUT, Outcome.FAILED) else "400"
        return acknowledgement(False, code, f"charger: {result.outcome}", call.ids)

    async def _reservation_start(self, call: Call) -> dict[str, Any]:
        minutes = call.body.get("Duration", self.settings.reservation_minutes)
        if not isinstance(minutes, int) or isinstance(minutes, bool) or not 0 < minutes < 100:
            return acknowledgement(False, "022", "Duration must be 1 to 99 minutes", call.ids)
        refusal, target = await self._target(
            call, await store.reservation_by_roaming_id(self.pool, "oicp", call.session_id))
        if target is None:
            return refusal or {}
        token, kind = typed_token_of(call.body["Identification"]) or ("", None)
        result = await self._within_deadline(self.commands.reserve(
            target[0], target[1], token, datetime.now(UTC) + timedelta(minutes=minutes),
            call.attributes(), kind))
        return self._started(call, "AuthorizeRemoteReservationStart", result,
                             _reservation_ref(result.detail.get("reservation_id")) if result else None)

    async def _reservation_stop(self, call: Call) -> dict[str, Any]:
        reservation = await store.reservation_by_roaming_id(self.pool, "oicp", call.session_id)
        if not self._belongs(call, reservation):
            return acknowledgement(False, "400", "Session is invalid", call.ids)
        assert reservation is not None
        result = await self._within_deadline(self.commands.cancel_reservation(reservation["id"]))
        log.info("remote reservation stop", partner="hubject", oicp_session=call.session_id,
                 reservation_id=reservation["id"], outcome=result.outcome if result else "timeout")
        ids = {**call.ids, "CPOPartnerSessionID": _reservation_ref(reservation["id"])}
        if result is not None and result.accepted:
            return acknowledgement(True, "000", "", ids)
        return acknowledgement(False, "501", "charger did not cancel", ids)

    async def _within_deadline(self, work: Any) -> Any:
        """The command's result, or None when it outlasts Hubject's deadline (it goes on)."""
        command = asyncio.get_running_loop().create_task(work)
        self._pending.add(command)
        command.add_done_callback(self._pending.discard)
        try:
            return await asyncio.wait_for(asyncio.shield(command), ANSWER_WITHIN)
        except TimeoutError:
            log.warning("charger too slow for Hubject's deadline", partner="hubject")
            return None


def _start_code(call: Call, result: CommandResult) -> str:
    if result.outcome is Outcome.TOKEN_REFUSED:
        _, kind = typed_token_of(call.body.get("Identification")) or ("", None)
        return _EVCO_REFUSED if kind is TokenType.EMAID else _START_CODES[result.outcome]
    return _START_CODES[result.outcome]


def _reservation_ref(reservation_id: Any) -> str | None:
    """Our CPOPartnerSessionID for a reservation (sessions use their uuid)."""
    return f"reservation-{reservation_id}" if reservation_id is not None else None
