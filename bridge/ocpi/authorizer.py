"""Tokens we do not know, or whose eMSP wants to be asked: real-time authorization with the eMSPs."""

from __future__ import annotations

import aiohttp
import asyncpg
import structlog

from bridge.ocpi import tokens
from bridge.ocpi.client import OcpiClient
from bridge.ocpi.handshake import partners
from bridge.ocpi.handshake.partners import Partner
from bridge.ocpi.transport import SUCCESS
from csms.domain.model import Authorization, AuthorizationStatus
from csms.metrics import roaming_request
from csms.storage import store

log = structlog.get_logger(__name__)


class OcpiAuthorizer:
    """An Authorizer for the chain, after our own tokens."""

    def __init__(self, pool: asyncpg.Pool, client: OcpiClient) -> None:
        self.pool = pool
        self.client = client

    async def authorize(self, token_uid: str, charge_point_id: str,
                        evse_id: str | None) -> Authorization | None:
        """The parties holding the UID that want to be asked, in the partners' order (the first
        that accepts wins); a UID nobody holds goes to every partner, in the same order."""
        held = await store.tokens_held(self.pool, token_uid)
        if any(not (pushed["owner"] or "").startswith("ocpi:") for pushed in held):
            return None  # ours, or another issuer's
        if held and not any(pushed["realtime"] for pushed in held):
            return None  # pushed copies that decide by themselves (the local authorizer's)
        first: Authorization | None = None
        for pushed in (p for p in held if p["realtime"]):
            answer = await self._held(pushed, token_uid, charge_point_id)
            if answer is not None and answer.status is AuthorizationStatus.ACCEPTED:
                return answer
            first = first or answer
        if held:
            return first
        for partner in await partners.all_registered(self.pool):
            answer = await self._ask(partner, token_uid, charge_point_id)
            if answer is not None:
                return answer
        return None

    async def _held(self, pushed: asyncpg.Record, token_uid: str,
                    charge_point_id: str) -> Authorization | None:
        """Ask the partner holding this copy; its eMSP may allow the copy when it does not answer."""
        partner_id = int(pushed["owner"].removeprefix("ocpi:"))
        partner = await partners.get(self.pool, partner_id)
        answer = await self._ask(partner, token_uid, charge_point_id) if partner else None
        ocpi = pushed["attributes"]["ocpi"]
        if answer is None and ocpi.get("whitelist") == "ALLOWED":  # the eMSP allows this fallback
            return Authorization(AuthorizationStatus(pushed["status"]), tokens.session_attributes(
                partner_id, ocpi["token"], "WHITELIST"))
        return answer

    async def _ask(self, partner: Partner, token_uid: str,
                   charge_point_id: str) -> Authorization | None:
        url = partner.endpoint("tokens", "SENDER")
        if url is None or partner.status != "registered" or not partner.their_token:
            return None
        site = await store.site_of(self.pool, charge_point_id)
        body = {"location_id": site} if site else None
        with roaming_request(partner.outbox_name, "AuthorizeToken") as accepted:
            try:
                status, answer = await self.client.request(
                    "POST", f"{url}/{token_uid}/authorize?type=RFID", partner.their_token,
                    partner.token_format, body, partner.emsp_party())
            except (aiohttp.ClientError, TimeoutError) as exc:
                log.warning("ocpi authorization unanswered", partner=partner.id, error=repr(exc))
                return None
            accepted(status == 200)  # an unknown token (2004) is an answer, not an error
        if status != 200 or not isinstance(answer, dict) or answer.get("status_code") != SUCCESS:
            return None  # e.g. 2004 unknown token: not this partner's
        result = tokens.read_authorization(answer.get("data"), partner.id)
        party = result.attributes.get("ocpi", {}).get("token") if result else None
        if party is not None and not partner.acts_for(str(party["country_code"]),
                                                      str(party["party_id"])):
            log.warning("ocpi authorization for another party ignored", partner=partner.id,
                        party=f"{party['country_code']}*{party['party_id']}")
            return None
        log.info("ocpi authorization", partner=partner.id, token=token_uid,
                 status=result.status if result else None)
        return result
