"""Token groups (2.0.1 groupIdToken, 1.6 parentIdTag): set through the API, carried in every
answer about a token, so a charger lets a token of the group stop another's session (2.0.1
C01/C09, 1.6 parentIdTag) or use its reservation; end to end with the simulated chargers."""

from __future__ import annotations

from typing import Any

import pytest

from csms.app import App
from csms.domain.charge_points import register
from csms.domain.model import Authorization
from csms.domain.model import AuthorizationStatus as S
from csms.ocpp.ocpp16 import _id_tag_info
from csms.ocpp.ocpp201 import _token_info
from csms.storage import store
from tests.conftest import SimFactory
from tests.support import Api, eventually


async def _grouped_tokens(app: App, api: Api) -> None:
    for token in ("A", "B", "C"):
        await store.upsert_token(app.pool, token)
    for token in ("A", "B"):
        status, row = await api.post(f"/tokens/{token}/group", {"group": "FLEET"})
        assert (status, row["group_id"]) == (200, "FLEET"), row


async def test_token_group_through_the_api(app: App, api: Api) -> None:
    await _grouped_tokens(app, api)
    assert (await api.get("/tokens/A"))["group_id"] == "FLEET"
    for bad in ({}, {"group": 5}, {"group": ""}, {"group": "x" * 37}):
        status, answer = await api.post("/tokens/A/group", bad)
        assert status == 400 and "group" in answer["error"], bad
    status, _ = await api.post("/tokens/NOPE/group", {"group": "FLEET"})
    assert status == 404
    status, row = await api.post("/tokens/A/group", {"group": None})
    assert (status, row["group_id"]) == (200, None)
    status, row = await api.post("/tokens", {"uid": "D", "group": "FLEET"})
    assert (status, row["group_id"]) == (201, "FLEET")
    status, row = await api.post("/tokens", {"uid": "D"})  # an update leaves the group be
    assert (status, row["group_id"]) == (201, "FLEET")
    status, row = await api.post("/tokens", {"uid": "D", "group": None})
    assert (status, row["group_id"]) == (201, None)
    status, _ = await api.post("/tokens", {"uid": "E", "group": ""})
    assert status == 400


async def test_a_token_of_the_group_stops_another_s_session(app: App, api: Api,
                                                            sims: SimFactory) -> None:
    await register(app.pool, "CP1", None, {1: None}, security_profile=0)
    await _grouped_tokens(app, api)
    sim = sims(app)
    await sim.start()
    await sim.start_local_session(1, "A")
    session = await eventually(lambda: store.active_session_at(app.pool, "CP1", 1))

    async def tx_group() -> Any:
        return sim.transactions[1].group
    assert await eventually(tx_group) == "FLEET"  # the start's answer named A's group

    # C belongs to no group: the charger keeps the session running.
    assert not await sim.present_token(1, "C")
    assert sim.token_groups["C"] is None and 1 in sim.transactions
    # B is of A's group: its card stops A's session.
    assert await sim.present_token(1, "B")
    assert sim.token_groups["B"] == "FLEET"

    async def completed() -> bool:
        row = await store.get_session(app.pool, str(session["id"]))
        return row is not None and row["status"] == "completed"
    await eventually(completed)


async def test_a_token_of_the_group_uses_its_reservation(app: App, api: Api,
                                                        sims: SimFactory) -> None:
    await register(app.pool, "CP1", None, {1: None}, security_profile=0)
    await _grouped_tokens(app, api)
    sim = sims(app)
    await sim.start()
    status, answer = await api.post("/charge-points/CP1/evses/1/reserve", {"token": "A"})
    assert (status, answer["outcome"]) == (200, "accepted"), answer
    reservation_id = answer["detail"]["reservation_id"]
    reserved = await sim.wait_for_call("ReserveNow")
    group = reserved.get("parentIdTag") or reserved.get("groupIdToken", {}).get("idToken")
    assert group == "FLEET", reserved

    await sim.start_local_session(1, "B")  # the charger lets B take A's reservation

    async def used() -> bool:
        row = await store.get_reservation(app.pool, reservation_id)
        return row is not None and row["status"] == "used"
    await eventually(used)


@pytest.mark.parametrize(("answer", "v16", "v201"), [
    (Authorization(S.ACCEPTED), {"status": "Accepted"}, {"status": "Accepted"}),
    (Authorization(S.ACCEPTED, group="FLEET"),
     {"status": "Accepted", "parent_id_tag": "FLEET"},
     {"status": "Accepted", "group_id_token": {"id_token": "FLEET", "type": "Central"}}),
    (Authorization(S.BLOCKED, group="FLEET"),
     {"status": "Blocked", "parent_id_tag": "FLEET"},
     {"status": "Blocked", "group_id_token": {"id_token": "FLEET", "type": "Central"}}),
])
def test_token_info_carries_the_group(answer: Authorization, v16: dict[str, Any],
                                      v201: dict[str, Any]) -> None:
    assert _id_tag_info(answer) == v16
    assert _token_info(answer) == v201
