"""OCPP frames through orjson: the same values, errors, texts and CALLERRORs as the json module gave."""

from __future__ import annotations

import asyncio
import decimal
import enum
import json
import math
from typing import Any

import ocpp.messages
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ocpp.exceptions import OCPPError
from ocpp.v16.enums import RegistrationStatus
from websockets.asyncio.client import connect
from websockets.typing import Subprotocol

import csms.ocpp.adapter  # noqa: F401  (installs the frames)
from csms.app import App
from csms.ocpp.library import frames
from tests.conftest import AppFactory
from tests.support import ws_url


def _outcome(work: Any) -> tuple[str, str]:
    """A value or an exception, comparable: NaN equal to NaN, 1 not equal to 1.0 or True."""
    try:
        value = work()
    except Exception as error:  # noqa: BLE001 - the exception is what is compared
        return ("error", f"{type(error).__name__}: {error}")
    return ("value", _typed(value))


def _typed(value: Any) -> str:
    if isinstance(value, float) and math.isnan(value):
        return "float:nan"
    if isinstance(value, dict):
        return "{" + ",".join(f"{_typed(k)}:{_typed(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_typed(v) for v in value) + "]"
    return f"{type(value).__name__}:{value!r}"


FRAMES: list[str | bytes] = [
    '[2,"1","Heartbeat",{}]',
    '[2, "1", "BootNotification", {"chargePointVendor": "V", "chargePointModel": "M"}]',
    ' \n[3,"1",{"currentTime":"2026-01-01T00:00:00Z"}]\t',
    '[2,"1","StopTransaction",{"transactionId":123456789012345678901234,"meterStop":1}]',
    '[2,"1","MeterValues",{"connectorId":-9223372036854775809}]',
    '[2,"1","MeterValues",{"connectorId":18446744073709551615}]',
    '[2,"1","MeterValues",{"connectorId":18446744073709551616}]',
    '[2,"1","DataTransfer",{"vendorId":"V","data":"1234567890123456789012"}]',
    '[2,"1","MeterValues",{"value":NaN}]',
    '[2,"1","MeterValues",{"value":Infinity,"other":-Infinity}]',
    '[2,"1","MeterValues",{"value":1e400}]',
    '[2,"1","MeterValues",{"value":1e-400}]',
    '[2,"1","MeterValues",{"value":2.2250738585072011e-308,"v":0.1,"w":1E2,"x":-0}]',
    '[2,"1","DataTransfer",{"data":"\\ud800"}]',
    '[2,"1","DataTransfer",{"data":"\\u00e9\\u2028\\u0000 é \x7f"}]',
    '[2,"1","DataTransfer",{"a":1,"a":2}]',
    '\ufeff[2,"1","Heartbeat",{}]',
    '[2,"1","Heartbeat",{}',
    '[2,"1","Heartbeat",{}]]',
    '[2,"1","Heartbeat",{},]',
    "[2,'1','Heartbeat',{}]",
    '[2,"1","DataTransfer",{"data":"a\tb"}]',
    "",
    "null",
    "42",
    '"Heartbeat"',
    "[" * 3000 + "]" * 3000,
    b'[2,"1","Heartbeat",{}]',
    '[2,"1","DataTransfer",{"data":"é"}]'.encode("utf-16"),
    '[2,"1","Heartbeat",{}]'.encode("utf-8-sig"),
    b'[2,"1","DataTransfer",{"data":"\xff"}]',
]


@pytest.mark.parametrize("frame", FRAMES)
def test_a_frame_reads_as_json_reads_it(frame: str | bytes) -> None:
    assert _outcome(lambda: frames.decode(frame)) == _outcome(lambda: json.loads(frame))


class Plain(enum.Enum):
    ONE = 1


class Number(enum.IntEnum):
    THREE = 3


class Text(str, enum.Enum):  # noqa: UP042 - as the ocpp library declares its enums
    X = "x"


class Sub(str):
    pass


MESSAGES: list[Any] = [
    [3, "1", {"currentTime": "2026-01-01T00:00:00Z", "interval": 300,
              "status": RegistrationStatus.accepted}],
    [2, "abc", "SetChargingProfile", {"chargingProfile": {"chargingSchedule": {
        "chargingSchedulePeriod": [{"startPeriod": 0, "limit": decimal.Decimal("16.25")}]}}}],
    [Text.X, Number.THREE, Sub("s"), True, False, None],
    [4, "1", "FormationViolation", "", {}],
    [0.1, 100.0, 1e15, 1e16, 1.5e300, 5e-324, -0.0, 1e-4, 1e-5, 1.23e-7, 12345.678],
    [float("nan")], [float("inf"), float("-inf")], [decimal.Decimal("NaN")],
    [2**63, 2**64 - 1, 2**64, -(2**63) - 1, 2**70],
    {1: "int key"}, {None: 1}, {Text.X: 1},
    ["é", "\u2028", "\x7f", "\x00\x1f\n\t\"\\/", "😀", "\ud800"],
    ["null inside a string", "1e-07 in a string"],
    [Plain.ONE],  # refused by both? json refuses; orjson writes 1: see frames.encode
    [object()],
    [{"nested": [{"deep": [1, 2, {"x": Number.THREE}]}]}],
    (1, 2),
]


@pytest.mark.parametrize("message", MESSAGES, ids=range(len(MESSAGES)))
def test_a_frame_is_written_as_the_library_writes_it(message: Any) -> None:
    ours = _outcome(lambda: frames.encode(message))
    library = _outcome(lambda: json.dumps(message, separators=(",", ":"),
                                          cls=ocpp.messages._DecimalEncoder))
    if message == [Plain.ONE]:  # the one difference left (no such enum in the library)
        assert ours == ("value", "str:'[1]'") and library[0] == "error"
    else:
        assert ours == library


json_leaves = (st.none() | st.booleans() | st.integers() | st.text(max_size=12)
               | st.floats(allow_nan=True, allow_infinity=True))
json_values = st.recursive(json_leaves, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
    st.text(max_size=8), inner, max_size=4), max_leaves=16)


@settings(max_examples=400, deadline=None)
@given(value=json_values)
def test_any_value_round_trips_as_with_json(value: Any) -> None:
    written = _outcome(lambda: frames.encode(value))
    assert written == _outcome(lambda: json.dumps(value, separators=(",", ":"),
                                                  cls=ocpp.messages._DecimalEncoder))
    text = json.dumps(value)
    assert _outcome(lambda: frames.decode(text)) == _outcome(lambda: json.loads(text))


def test_the_library_reads_and_writes_frames_through_them() -> None:
    assert ocpp.messages.json is frames.json_for_the_library
    call = ocpp.messages.unpack('[2,"7","Heartbeat",{"n":123456789012345678901234}]')
    assert isinstance(call, ocpp.messages.Call) and call.payload == {"n": 123456789012345678901234}
    assert call.create_call_result({"currentTime": "x"}).to_json() == '[3,"7",{"currentTime":"x"}]'
    with pytest.raises(OCPPError) as refused:
        ocpp.messages.unpack('[2,"7","Heartbeat",{}')
    assert refused.value.code == "FormatViolation"


# Frames whose CALLERROR depends on the JSON reader: what json gave, orjson must give too.
REFUSALS = [
    # 1.6 Heartbeat.req has no properties: any key is additionalProperties (FormationViolation)
    ('[2,"n1","Heartbeat",{"x":NaN}]', "FormationViolation"),
    ('[2,"n3","StatusNotification",{"connectorId":"1","errorCode":"NoError",'
     '"status":"Available"}]', "TypeConstraintViolation"),
    ('[2,"n4","StatusNotification",{"connectorId":1e400,"errorCode":"NoError",'
     '"status":"Available"}]', "TypeConstraintViolation"),
]


@pytest.fixture
async def lenient_app(make_app: AppFactory) -> App:
    return await make_app(accept_unknown_charge_points=True, max_messages_per_second=0)


async def test_callerrors_are_those_json_gave(lenient_app: App) -> None:
    async with connect(f"{ws_url(lenient_app)}/FRAMES1",
                       subprotocols=[Subprotocol("ocpp1.6")]) as ws:
        await ws.send(json.dumps([2, "boot", "BootNotification",
                                  {"chargePointVendor": "V", "chargePointModel": "M"}]))
        assert json.loads(await asyncio.wait_for(ws.recv(), 10))[0] == 3
        for frame, code in REFUSALS:
            await ws.send(frame)
            answer = json.loads(await asyncio.wait_for(ws.recv(), 10))
            while answer[0] == 2:  # the server's own calls (configuration) are not ours to time
                await ws.send(json.dumps([3, answer[1], {"status": "Accepted"}]))
                answer = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert answer[1] == json.loads(frame)[1]
            assert (answer[2] if answer[0] == 4 else None) == code, (frame, answer)
