"""The OCPP handshake under attack: bad ids, password floods, half-open upgrades, no password."""

from __future__ import annotations

from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from csms.app import App
from csms.charge_points import register
from tests.support import ws_url


async def status_of(url: str, **headers: str) -> Any:
    """The HTTP status a handshake is refused with; None when it is accepted."""
    try:
        async with connect(url, subprotocols=["ocpp1.6"],  # type: ignore[list-item]
                           additional_headers=headers, open_timeout=60):
            return None
    except InvalidStatus as refused:
        return refused.response.status_code


@pytest.mark.parametrize("segment", ["CP1%00", "CP%FF1", "CP%0A1", "%E2%80", "CP%7F"])
async def test_undecodable_or_control_character_id_is_400(app: App, segment: str) -> None:
    await register(app.pool, "CP1", "secret-pass-1", {1: None})
    assert await status_of(f"{ws_url(app)}/{segment}") == 400
