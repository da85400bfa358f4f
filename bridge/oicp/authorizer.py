"""Foreign RFID cards at our chargers: asks Hubject, remembers its answer for the session that follows."""

from __future__ import annotations

from typing import Any

import aiohttp
import asyncpg
import structlog

from bridge.oicp import authorization
from bridge.oicp.client import HubjectClient
from csms.config import OicpSettings
from csms.domain.model import Authorization, AuthorizationStatus, TokenType
from csms.metrics import roaming_request
from csms.storage import store

log = structlog.get_logger(__name__)


class HubjectAuthorizer:
    """An Authorizer for the chain, after our own tokens: asked only for tokens we do not know."""

    def __init__(self, pool: asyncpg.Pool, client: HubjectClient, settings: OicpSettings) -> None:
        self.pool = pool
        self.client = client
        self.settings = settings

    async def authorize(self, token_uid: str, charge_point_id: str, evse_id: str | None, *,
                        token_type: TokenType | None = None,
                        evse_number: int | None = None) -> Authorization | None:
        identification = authorization.rfid_identification(token_uid)
        if identification is None:
            return None
        stop = await self._authorize_stop(token_uid, charge_point_id, identification)
        if stop is not None:
            return stop
        # The charger asks first (Authorize) and starts seconds later: one Hubject session for both.
        earlier = await store.unused_roaming_authorization(
            self.pool, "oicp", token_uid, charge_point_id, self.settings.authorize_reuse_window)
        if earlier is not None:
            return Authorization(AuthorizationStatus.ACCEPTED, earlier)
        body = authorization.start_body(self.settings.operator_id, identification, evse_id)
        answer, code = await self._ask(authorization.START, authorization.start_path(
            self.settings.operator_id), body, identification, evse_id)
        if answer is None:
            return await self._from_cache(token_uid, charge_point_id)
        accepted = answer.status is AuthorizationStatus.ACCEPTED
        # The newest answer about the card decides what the cache may do later: a card refused
        # since it was authorized is not let in on the older answer while Hubject is away.
        if accepted or code not in authorization.NOT_ABOUT_THE_CARD:
            await store.record_roaming_authorization(
                self.pool, "oicp", token_uid, charge_point_id, answer.attributes,
                authorized=accepted, status_code=code,
                keep=max(self.settings.authorization_cache_ttl, self.settings.authorize_reuse_window))
        return answer

    async def late_start(self, identification: dict[str, Any], evse_id: str,
                         cpo_session_id: str) -> tuple[Authorization | None, str | None]:
        """A Hubject session for a session we let charge on a cached answer, before its CDR;
        with Hubject's StatusCode."""
        body = authorization.start_body(self.settings.operator_id, identification, evse_id,
                                        cpo_session_id)
        return await self._ask(authorization.START, authorization.start_path(
            self.settings.operator_id), body, identification, evse_id)

    async def _authorize_stop(self, token_uid: str, charge_point_id: str,
                              identification: dict[str, Any]) -> Authorization | None:
        """A card presented during a roaming session: its own (e.g. a 1.6 StopTransaction's
        idTag), or another one to end it, which Hubject must allow."""
        for session in await store.active_roaming_sessions(self.pool, charge_point_id, "oicp"):
            oicp = session["attributes"]["oicp"]
            if "SessionID" not in oicp:
                continue
            if session["token_uid"] == token_uid or authorization.may_stop(oicp, identification):
                return Authorization(AuthorizationStatus.ACCEPTED)
            body = authorization.stop_body(self.settings.operator_id, oicp, identification,
                                           str(session["id"]))
            answer, _ = await self._ask(authorization.STOP, authorization.stop_path(
                self.settings.operator_id), body, identification, None)
            if answer is not None and answer.status is AuthorizationStatus.ACCEPTED:
                return Authorization(AuthorizationStatus.ACCEPTED)
        return None

    async def _ask(self, operation: str, path: str, body: dict[str, Any],
                   identification: dict[str, Any],
                   evse_id: str | None) -> tuple[Authorization | None, str | None]:
        """Hubject's answer as ours (None: no decision, see authorization.read_answer), and its
        StatusCode."""
        bound = log.bind(partner="hubject", operation=operation,
                         uid=identification["RFIDMifareFamilyIdentification"]["UID"])
        with roaming_request("hubject", operation) as accepted:
            try:
                status, answer = await self.client.post(path, body,
                                                        timeout=self.settings.authorize_timeout)
            except (aiohttp.ClientError, TimeoutError) as exc:
                bound.warning("hubject unreachable", error=repr(exc))
                return None, None
            accepted(status == 200)
        result = authorization.read_answer(answer, identification, evse_id) \
            if status == 200 else None
        code = authorization.status_code(answer)
        bound.info("hubject answered", http_status=status, code=code,
                   status=result.status if result else None,
                   oicp_session=(result.attributes.get("oicp") or {}).get("SessionID")
                   if result else None)
        return result, code

    async def _from_cache(self, token_uid: str, charge_point_id: str) -> Authorization | None:
        if self.settings.authorization_cache_ttl <= 0:
            return None
        cached = await store.cached_roaming_authorization(
            self.pool, "oicp", token_uid, self.settings.authorization_cache_ttl)
        if cached is None:
            return None
        # The earlier answer's SessionID belongs to its own session: this one gets its own
        # from Hubject once the link is back, before its CDR leaves.
        oicp = {k: v for k, v in cached["oicp"].items()
                if k in ("Identification", "ProviderID", "AuthorizationStopIdentifications")}
        log.warning("hubject unreachable: cached authorization", partner="hubject",
                    charge_point_id=charge_point_id, token=token_uid)
        return Authorization(AuthorizationStatus.ACCEPTED, {"oicp": {**oicp, "Cached": True}})
