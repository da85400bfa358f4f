"""What Hubject asks of us: remote start and stop, served over TLS with client certificates."""

from __future__ import annotations

import asyncio
import ssl
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import structlog
from aiohttp import web

from csms import store
from csms.commands import CommandService, Outcome
from csms.config import ConfigError, OicpSettings

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
}


def server_ssl_context(settings: OicpSettings) -> ssl.SSLContext | None:
    if not settings.server_cert:
        if not settings.allow_plain_http:
            raise ConfigError("oicp.server_cert is required (or oicp.allow_plain_http for local runs)")
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(settings.server_cert, settings.server_key or None)
    if settings.client_ca:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(settings.client_ca)
    return context


def acknowledgement(result: bool, code: str, description: str = "",
                    session_ids: dict[str, str | None] | None = None) -> dict[str, Any]:
    status: dict[str, Any] = {"Code": code}
    if description:
        status["Description"] = description[:200]
    answer: dict[str, Any] = {"Result": result, "StatusCode": status}
    answer.update({k: v for k, v in (session_ids or {}).items() if v})
    return answer


def token_of(identification: Any) -> str | None:
    """The driver's token in an OICP Identification: the EvcoID, or the RFID card's UID."""
    if not isinstance(identification, dict):
        return None
    for kind in ("RemoteIdentification", "QRCodeIdentification", "PlugAndChargeIdentification"):
        if isinstance(identification.get(kind), dict) and identification[kind].get("EvcoID"):
            return str(identification[kind]["EvcoID"])
    for kind in ("RFIDMifareFamilyIdentification", "RFIDIdentification"):
        if isinstance(identification.get(kind), dict) and identification[kind].get("UID"):
            return str(identification[kind]["UID"])
    return None


class BadData(Exception):
    """The request cannot be used as sent: answered with code 022."""


def _text(body: dict[str, Any], key: str, required: bool = True) -> str | None:
    value = body.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value or len(value) > 250:
        raise BadData(f"{key} is {'missing' if value is None else 'invalid'}")
    return value


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

    async def _body(self, request: web.Request) -> dict[str, Any]:
        try:
            body = await request.json()
        except ValueError:
            raise BadData("body is not JSON") from None
        if not isinstance(body, dict):
            raise BadData("body must be a JSON object")
        return body

    async def remote_start(self, request: web.Request) -> web.Response:
        try:
            body = await self._body(request)
            session_id = _text(body, "SessionID")
            evse_id = _text(body, "EvseID")
            provider_id = _text(body, "ProviderID")
            emp_session_id = _text(body, "EMPPartnerSessionID", required=False)
            token = token_of(body.get("Identification"))
            if token is None:
                raise BadData("Identification carries no EvcoID or UID")
        except BadData as exc:
            return web.json_response(acknowledgement(False, "022", str(exc)))
        bound = log.bind(partner="hubject", operation="AuthorizeRemoteStart", oicp_session=session_id,
                         evse_id=evse_id, provider=provider_id)
        ids: dict[str, str | None] = {"SessionID": session_id, "EMPPartnerSessionID": emp_session_id}
        if provider_id != request.match_info["provider"]:
            return web.json_response(
                acknowledgement(False, "022", "ProviderID does not match the path", ids))
        assert session_id is not None and evse_id is not None
        if await store.session_by_roaming_id(self.pool, "oicp", session_id) is not None:
            return web.json_response(acknowledgement(False, "400", "SessionID already used", ids))
        target = await self.commands.resolve_evse(evse_id)
        if target is None:
            bound.info("remote start for unknown EVSE")
            return web.json_response(acknowledgement(False, "603", "Unknown EvseID", ids))
        attributes = {"oicp": {
            "SessionID": session_id, "ProviderID": provider_id, "EvseID": evse_id,
            "Identification": body["Identification"],
            **{k: body[k] for k in ("EMPPartnerSessionID", "PartnerProductID") if body.get(k)},
        }}
        # The charger may answer after Hubject's deadline: the command goes on regardless.
        result = await self._within_deadline(
            self.commands.start_session(target[0], target[1], token, attributes))
        if result is None:
            return web.json_response(acknowledgement(False, "501", "EVSE did not answer", ids))
        code = _START_CODES[result.outcome]
        bound.info("remote start", outcome=result.outcome, code=code, session_id=result.session_id)
        return web.json_response(acknowledgement(
            result.accepted, code, "" if result.accepted else f"charger: {result.outcome}",
            {**ids, "CPOPartnerSessionID": result.session_id}))

    async def remote_stop(self, request: web.Request) -> web.Response:
        try:
            body = await self._body(request)
            session_id = _text(body, "SessionID")
            evse_id = _text(body, "EvseID")
            provider_id = _text(body, "ProviderID")
        except BadData as exc:
            return web.json_response(acknowledgement(False, "022", str(exc)))
        assert session_id is not None
        ids: dict[str, str | None] = {"SessionID": session_id,
                                      "EMPPartnerSessionID": _optional(body, "EMPPartnerSessionID")}
        session = await store.session_by_roaming_id(self.pool, "oicp", session_id)
        if (session is None or session["evse_id"] != evse_id
                or session["attributes"]["oicp"].get("ProviderID") != provider_id
                or provider_id != request.match_info["provider"]):
            return web.json_response(acknowledgement(False, "400", "Session is invalid", ids))
        result = await self.commands.stop_session(str(session["id"]))
        log.info("remote stop", partner="hubject", oicp_session=session_id,
                 session_id=str(session["id"]), outcome=result.outcome)
        if result.accepted:
            return web.json_response(
                acknowledgement(True, "000", "", {**ids, "CPOPartnerSessionID": str(session["id"])}))
        code = "501" if result.outcome in (Outcome.OFFLINE, Outcome.TIMEOUT, Outcome.FAILED) else "400"
        return web.json_response(acknowledgement(False, code, f"charger: {result.outcome}", ids))

    async def reservation_start(self, request: web.Request) -> web.Response:
        try:
            body = await self._body(request)
            session_id = _text(body, "SessionID")
            evse_id = _text(body, "EvseID")
            provider_id = _text(body, "ProviderID")
            token = token_of(body.get("Identification"))
            if token is None:
                raise BadData("Identification carries no EvcoID or UID")
            minutes = body.get("Duration", self.settings.reservation_minutes)
            if not isinstance(minutes, int) or isinstance(minutes, bool) or not 0 < minutes < 100:
                raise BadData("Duration must be 1 to 99 minutes")
        except BadData as exc:
            return web.json_response(acknowledgement(False, "022", str(exc)))
        assert session_id is not None and evse_id is not None
        ids: dict[str, str | None] = {"SessionID": session_id,
                                      "EMPPartnerSessionID": _optional(body, "EMPPartnerSessionID")}
        if provider_id != request.match_info["provider"]:
            return web.json_response(
                acknowledgement(False, "022", "ProviderID does not match the path", ids))
        if await store.reservation_by_roaming_id(self.pool, "oicp", session_id) is not None:
            return web.json_response(acknowledgement(False, "400", "SessionID already used", ids))
        target = await self.commands.resolve_evse(evse_id)
        if target is None:
            return web.json_response(acknowledgement(False, "603", "Unknown EvseID", ids))
        attributes = {"oicp": {
            "SessionID": session_id, "ProviderID": provider_id, "EvseID": evse_id,
            "Identification": body["Identification"],
            **{k: body[k] for k in ("EMPPartnerSessionID", "PartnerProductID") if body.get(k)},
        }}
        expires_at = datetime.now(UTC) + timedelta(minutes=minutes)
        result = await self._within_deadline(self.commands.reserve(
            target[0], target[1], token, expires_at, attributes))
        if result is None:
            return web.json_response(acknowledgement(False, "501", "EVSE did not answer", ids))
        code = _START_CODES[result.outcome]
        log.info("remote reservation", partner="hubject", oicp_session=session_id, evse_id=evse_id,
                 outcome=result.outcome, code=code, reservation_id=result.detail.get("reservation_id"))
        return web.json_response(acknowledgement(
            result.accepted, code, "" if result.accepted else f"charger: {result.outcome}",
            {**ids, "CPOPartnerSessionID": _reservation_ref(result.detail.get("reservation_id"))}))

    async def reservation_stop(self, request: web.Request) -> web.Response:
        try:
            body = await self._body(request)
            session_id = _text(body, "SessionID")
            evse_id = _text(body, "EvseID")
            provider_id = _text(body, "ProviderID")
        except BadData as exc:
            return web.json_response(acknowledgement(False, "022", str(exc)))
        assert session_id is not None
        ids: dict[str, str | None] = {"SessionID": session_id,
                                      "EMPPartnerSessionID": _optional(body, "EMPPartnerSessionID")}
        reservation = await store.reservation_by_roaming_id(self.pool, "oicp", session_id)
        if (reservation is None or reservation["evse_id"] != evse_id
                or reservation["attributes"]["oicp"].get("ProviderID") != provider_id
                or provider_id != request.match_info["provider"]):
            return web.json_response(acknowledgement(False, "400", "Session is invalid", ids))
        result = await self._within_deadline(self.commands.cancel_reservation(reservation["id"]))
        log.info("remote reservation stop", partner="hubject", oicp_session=session_id,
                 reservation_id=reservation["id"], outcome=result.outcome if result else "timeout")
        ids["CPOPartnerSessionID"] = _reservation_ref(reservation["id"])
        if result is not None and result.accepted:
            return web.json_response(acknowledgement(True, "000", "", ids))
        return web.json_response(acknowledgement(False, "501", "charger did not cancel", ids))

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


def _optional(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    return value if isinstance(value, str) else None


def _reservation_ref(reservation_id: Any) -> str | None:
    """Our CPOPartnerSessionID for a reservation (sessions use their uuid)."""
    return f"reservation-{reservation_id}" if reservation_id is not None else None
