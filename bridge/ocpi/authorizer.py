"""Tokens we do not know, or whose eMSP wants to be asked: real-time authorization with the eMSPs."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp
import asyncpg
import structlog

from bridge.ocpi import hub_client_info, tokens
from bridge.ocpi.client import OcpiClient
from bridge.ocpi.handshake import partners
from bridge.ocpi.handshake.partners import Partner
from bridge.ocpi.publishing.locations import evse_uid, location_references
from bridge.ocpi.transport import SUCCESS
from bridge.ocpi.versions import dialects
from csms.domain.model import Authorization, AuthorizationStatus, TokenType
from csms.metrics import roaming_request
from csms.storage import store

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class _Asked:
    """What an authorize request names: the token's type and where it is presented."""

    token_type: str  # OCPI TokenType
    where: dict[str, Any] | None  # LocationReferences, None when we do not know the site


class OcpiAuthorizer:
    """An Authorizer for the chain, after our own tokens."""

    def __init__(self, pool: asyncpg.Pool, client: OcpiClient) -> None:
        self.pool = pool
        self.client = client
        self._deviating: set[int] = set()  # partners whose answers' shape we logged once

    async def authorize(self, token_uid: str, charge_point_id: str, evse_id: str | None, *,
                        token_type: TokenType | None = None,
                        evse_number: int | None = None) -> Authorization | None:
        """The parties holding the UID that want to be asked, in the partners' order (the first
        that accepts wins); a UID nobody holds goes to every partner, in the same order."""
        held = await store.tokens_held(self.pool, token_uid)
        if any(not (pushed["owner"] or "").startswith("ocpi:") for pushed in held):
            return None  # ours, or another issuer's
        if held and not any(pushed["realtime"] for pushed in held):
            return None  # pushed copies that decide by themselves (the local authorizer's)
        site = await store.site_of(self.pool, charge_point_id)
        where = None if site is None else location_references(
            site, [] if evse_number is None else [evse_uid(charge_point_id, evse_number)])
        asked = _Asked(tokens.ocpi_token_type(token_type), where)
        first: Authorization | None = None
        for pushed in (p for p in held if p["realtime"]):
            answer = await self._held(pushed, token_uid, asked)
            if answer is not None and answer.status is AuthorizationStatus.ACCEPTED:
                return answer
            first = first or answer
        if held:
            return first
        for partner in await partners.all_registered(self.pool):
            answer = await self._ask(partner, token_uid, asked)
            if answer is not None:
                return answer
        return None

    async def _held(self, pushed: asyncpg.Record, token_uid: str,
                    asked: _Asked) -> Authorization | None:
        """Ask the partner holding this copy; its eMSP may allow the copy when it does not answer."""
        partner_id = int(pushed["owner"].removeprefix("ocpi:"))
        partner = await partners.get(self.pool, partner_id)
        ocpi = pushed["attributes"]["ocpi"]
        # The eMSP knows its token by uid and the type it pushed it with.
        asked = dataclasses.replace(asked, token_type=ocpi["token"].get("type") or asked.token_type)
        party = hub_client_info.addressee(ocpi["token"]["country_code"],
                                          ocpi["token"]["party_id"])
        # Through a hub, to the token's own party; not at all while the hub says it is not
        # connected (mod_hub_client_info: no requests can be sent then).
        reachable = partner is not None and await hub_client_info.hold_reason(
            self.pool, partner, party) is None
        answer = await self._ask(partner, token_uid, asked, party, ocpi["token"]) \
            if partner is not None and reachable else None
        if answer is None and ocpi.get("whitelist") == "ALLOWED":  # the eMSP allows this fallback
            return Authorization(AuthorizationStatus(pushed["status"]), tokens.session_attributes(
                partner_id, ocpi["token"], "WHITELIST"))
        return answer

    async def _ask(self, partner: Partner, token_uid: str, asked: _Asked,
                   addressee: str | None = None,
                   held: dict[str, Any] | None = None) -> Authorization | None:
        """Ask one partner; through a hub, the token's party (`addressee`) or, when we do not
        know whose the token is, whoever the hub finds (an Open Routing Request). `held`: the
        token as the partner pushed it, if it did (cdr_token form)."""
        url = partner.endpoint("tokens", "SENDER")
        if url is None or partner.status != "registered" or not partner.their_token:
            return None
        dialect = dialects.of(partner)
        with roaming_request(partner.outbox_name, "AuthorizeToken") as accepted:
            try:
                status, answer = await self.client.request(
                    "POST", f"{url}/{quote(token_uid, safe='')}/authorize?"
                    f"{urlencode({'type': asked.token_type})}", partner.their_token,
                    dialect.header_format(partner.token_format), asked.where,
                    (partner.route(addressee) if addressee or not partner.is_hub else None)
                    if dialect.routing_headers else None,
                    open_route=dialect.routing_headers)
            except (aiohttp.ClientError, TimeoutError) as exc:
                log.warning("ocpi authorization unanswered", partner=partner.id, error=repr(exc))
                return None
            accepted(status == 200)  # an unknown token (2004) is an answer, not an error
        if status != 200 or not isinstance(answer, dict) or answer.get("status_code") != SUCCESS:
            return None  # e.g. 2004 unknown token: not this partner's
        info, deviated = tokens.authorization_info(answer.get("data"))
        if deviated and partner.id not in self._deviating:
            self._deviating.add(partner.id)  # once per partner: its every answer looks like this
            log.warning("ocpi authorization answer not shaped as the spec says, read anyway",
                        partner=partner.id, shape=type(answer.get("data")).__name__)
        if info is not None and not dialect.authorization_names_token:
            # 2.1.1 names no token: the one asked about, of the partner's party (as pushed, if
            # it was; else its uid is all we know, and is its contract id too).
            cc, pid = partner.emsp_party() or ("", "")
            info = {**info, "token": held or {
                "country_code": cc, "party_id": pid, "uid": token_uid,
                "type": asked.token_type, "contract_id": token_uid}}
        result = tokens.read_authorization(info, partner.id)
        if result is None:  # a success we cannot read: not an allowance
            log.warning("ocpi authorization answer unreadable, not allowed", partner=partner.id,
                        token=token_uid)
            return Authorization(AuthorizationStatus.INVALID)
        party = result.attributes.get("ocpi", {}).get("token") if result else None
        if party is not None and not partner.acts_for(str(party["country_code"]),
                                                      str(party["party_id"])):
            log.warning("ocpi authorization for another party ignored", partner=partner.id,
                        party=f"{party['country_code']}*{party['party_id']}")
            return None
        log.info("ocpi authorization", partner=partner.id, token=token_uid,
                 status=result.status if result else None)
        return result
