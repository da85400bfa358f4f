"""Who may charge: the local token table, with room for further authorizers (e.g. a roaming partner)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

import asyncpg

from csms import store
from csms.domain import Authorization, AuthorizationStatus


class Authorizer(Protocol):
    """Answers for a token, or returns None when it does not know it (the next one is asked)."""

    async def authorize(self, token_uid: str, charge_point_id: str,
                        evse_id: str | None) -> Authorization | None: ...


class LocalAuthorizer:
    """Tokens registered with us (admin API, CLI) or pushed by a roaming partner that owns them."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def authorize(self, token_uid: str, charge_point_id: str,
                        evse_id: str | None) -> Authorization | None:
        token = await store.get_token(self._pool, token_uid)
        if token is None or token["realtime"]:
            return None  # a token whose owner wants to be asked each time: the next authorizer
        status = status_of(token)
        if status is AuthorizationStatus.EXPIRED:
            return Authorization(status)
        return Authorization(status, dict(token["attributes"]))


def status_of(token: Mapping[str, Any]) -> AuthorizationStatus:
    """What our tokens table says of a token: its status, or expired once expires_at has passed."""
    if token["expires_at"] is not None and token["expires_at"] <= datetime.now(UTC):
        return AuthorizationStatus.EXPIRED
    return AuthorizationStatus(token["status"])


async def remote_start_refusal(db: store.Executor, token_uid: str,
                               requester: str | None = None) -> AuthorizationStatus | None:
    """Why a remote start for this token is refused (our table holds it as blocked, expired or
    invalid), or None: a token we do not know is its roaming provider's to vouch for.

    `requester` is the owner tag of a roaming partner asking (e.g. "ocpi:3"): a token it pushed
    itself is its own to authorise (OCPI 2.2.1 StartSession: the CPO SHALL NOT check it).
    """
    for token in await store.tokens_with_uid(db, token_uid):
        if requester is not None and token["owner"] == requester:
            continue
        status = status_of(token)
        if status is not AuthorizationStatus.ACCEPTED:
            return status
    return None


class AuthorizerChain:
    """Asks each authorizer in turn; a token nobody knows is invalid.

    "Invalid" from one (e.g. Hubject: no EMP knows this card) lets the next one try (an OCPI
    eMSP may); any other answer, accepted or blocked or expired, is final.
    """

    def __init__(self, *authorizers: Authorizer) -> None:
        self.authorizers = list(authorizers)

    def add(self, authorizer: Authorizer) -> None:
        self.authorizers.append(authorizer)

    async def authorize(self, token_uid: str, charge_point_id: str,
                        evse_id: str | None = None) -> Authorization:
        for authorizer in self.authorizers:
            answer = await authorizer.authorize(token_uid, charge_point_id, evse_id)
            if answer is not None and answer.status is not AuthorizationStatus.INVALID:
                return answer
        return Authorization(AuthorizationStatus.INVALID)
