"""Who may charge: the local token table, with room for further authorizers (e.g. a roaming partner)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

import asyncpg

from csms.domain.model import Authorization, AuthorizationStatus, TokenType
from csms.storage import store


class Authorizer(Protocol):
    """Answers for a token, or returns None when it does not know it (the next one is asked).

    evse_id: the EVSE's roaming EvseID; evse_number: the charger's EVSE, when known; token_type:
    as the charger named it (2.0.1 idToken type), None when it names none (1.6)."""

    async def authorize(self, token_uid: str, charge_point_id: str, evse_id: str | None, *,
                        token_type: TokenType | None = None,
                        evse_number: int | None = None) -> Authorization | None: ...


class LocalAuthorizer:
    """Tokens registered with us (admin API, CLI) or pushed by a roaming partner that owns them.

    One UID may be held by us and by several partners' parties (OCPI keys tokens by party): ours
    answers; else the first pushed copy, in the partners' order, that accepts. A copy whose owner
    wants to be asked each time is left to the next authorizers when no copy accepts.
    """

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def authorize(self, token_uid: str, charge_point_id: str, evse_id: str | None, *,
                        token_type: TokenType | None = None,
                        evse_number: int | None = None) -> Authorization | None:
        held = await store.tokens_held(self._pool, token_uid)
        if held and held[0]["owner"] is None:
            return _answer(held[0])
        answers = [_answer(token) for token in held if not token["realtime"]]
        accepted = next((a for a in answers if a.status is AuthorizationStatus.ACCEPTED), None)
        if accepted is not None:
            return accepted
        if not answers or any(token["realtime"] for token in held):
            return None  # nobody's here, or an owner to ask: the next authorizer
        return answers[0]


def _answer(token: Mapping[str, Any]) -> Authorization:
    status = status_of(token)
    group = token.get("group_id") if token["owner"] is None else None
    if status is AuthorizationStatus.EXPIRED:
        return Authorization(status, group=group)
    return Authorization(status, dict(token["attributes"]), group)


def status_of(token: Mapping[str, Any]) -> AuthorizationStatus:
    """What our tokens table says of a token: its status, or expired once expires_at has passed."""
    if token["expires_at"] is not None and token["expires_at"] <= datetime.now(UTC):
        return AuthorizationStatus.EXPIRED
    return AuthorizationStatus(token["status"])


async def remote_start_refusal(db: store.Executor, token_uid: str,
                               requester: str | None = None) -> AuthorizationStatus | None:
    """Why a remote start for this token is refused (our table holds it as blocked, expired or
    invalid), or None: a token we do not know is its roaming provider's to vouch for.

    `requester` is the owner tag of a roaming partner asking (e.g. "ocpi:3"): only our own card
    with that UID can stop it. Its own pushed token is its to authorise (OCPI 2.2.1 StartSession:
    the CPO SHALL NOT check it), and another party's card with the same UID is another token.
    """
    for token in await store.tokens_held(db, token_uid):
        if requester is not None and token["owner"] is not None:
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

    async def authorize(self, token_uid: str, charge_point_id: str, evse_id: str | None = None, *,
                        token_type: TokenType | None = None,
                        evse_number: int | None = None) -> Authorization:
        for authorizer in self.authorizers:
            answer = await authorizer.authorize(token_uid, charge_point_id, evse_id,
                                                token_type=token_type, evse_number=evse_number)
            if answer is not None and answer.status is not AuthorizationStatus.INVALID:
                return answer
        return Authorization(AuthorizationStatus.INVALID)
