"""2.0.1 RequestStartTransaction and ReserveNow carry the token's real idToken type."""

from __future__ import annotations

from typing import Any

import pytest

from bridge.oicp.inbound import typed_token_of
from csms.domain.charge_points import register
from csms.domain.model import TokenType
from csms.storage import store
from simulators.chargepoint import SimConfig
from simulators.chargepoint201 import ChargePoint201
from simulators.partners.hubject import SimulatedHubject
from tests.conftest import AppFactory
from tests.oicp.test_oicp_roaming import EVCO, cpo_url, remote_start_body
from tests.support import Api, oicp_settings, ws_url


@pytest.mark.parametrize(("identification", "expected"), [
    ({"RemoteIdentification": {"EvcoID": EVCO}}, (EVCO, TokenType.EMAID)),
    ({"PlugAndChargeIdentification": {"EvcoID": EVCO}}, (EVCO, TokenType.EMAID)),
    ({"RFIDMifareFamilyIdentification": {"UID": "04A1B2C3"}}, ("04A1B2C3", TokenType.RFID)),
    ({"RFIDIdentification": {"UID": "04A1B2C3", "RFID": "mifareCls"}},
     ("04A1B2C3", TokenType.RFID)),
    ({}, None),
    ("nonsense", None),
])
def test_oicp_identification_types(identification: Any, expected: Any) -> None:
    assert typed_token_of(identification) == expected


async def test_remote_start_and_reservation_send_the_real_type(
        make_app: AppFactory, hubject: SimulatedHubject) -> None:
    app = await make_app(oicp=oicp_settings(hubject))
    await register(app.pool, "CP1", None, {1: "DE*ABC*E0001*1", 2: "DE*ABC*E0001*2",
                                           3: "DE*ABC*E0001*3", 4: "DE*ABC*E0001*4"}, security_profile=0)
    await store.upsert_token(app.pool, "CARD")  # our own card: type RFID by default
    await store.upsert_token(app.pool, "1234", "KeyCode")
    sim = ChargePoint201(SimConfig("CP1", ws_url(app), connectors=4, meter_interval=5))
    api = Api(f"http://127.0.0.1:{app.api.port}/api/v1")
    await sim.start()
    try:
        async def start(evse: int, token: str) -> dict[str, Any]:
            status, answer = await api.post(f"/charge-points/CP1/evses/{evse}/start",
                                            {"token": token})
            assert status == 200, answer
            return (await sim.wait_for_call("RequestStartTransaction"))["idToken"]

        assert await start(1, "CARD") == {"idToken": "CARD", "type": "ISO14443"}
        assert await start(2, "MADE-UP") == {"idToken": "MADE-UP", "type": "Central"}
        answer = await hubject.remote_start(cpo_url(app), remote_start_body("DE*ABC*E0001*3"))
        assert answer["Result"] is True, answer
        assert (await sim.wait_for_call("RequestStartTransaction"))["idToken"] == \
            {"idToken": EVCO, "type": "eMAID"}

        status, answer = await api.post("/charge-points/CP1/evses/4/reserve", {"token": "1234"})
        assert status == 200, answer
        assert (await sim.wait_for_call("ReserveNow"))["idToken"] == \
            {"idToken": "1234", "type": "KeyCode"}
    finally:
        await api.http.close()
        await sim.stop()
