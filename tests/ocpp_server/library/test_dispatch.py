"""Our dispatcher against the ocpp library's: the same answers, and a handler's refusal counted as one."""

from __future__ import annotations

import dataclasses
import json
import random
from types import ModuleType
from typing import Any

import ocpp.charge_point
import ocpp.v16.call_result
import ocpp.v16.datatypes
import ocpp.v16.enums
import ocpp.v201.call_result
import ocpp.v201.datatypes
import ocpp.v201.enums
import pytest
import structlog
from prometheus_client import REGISTRY
from websockets.asyncio.client import connect

from csms.app import App
from csms.domain.charge_points import register
from csms.logs import configure_logging, current_charge_point
from csms.ocpp.library.dispatch import answer_payload
from tests.support import ws_url


def _classes(module: ModuleType) -> list[type]:
    return [c for c in vars(module).values() if isinstance(c, type) and dataclasses.is_dataclass(c)]


ANSWERS = _classes(ocpp.v16.call_result) + _classes(ocpp.v201.call_result)
DATATYPES = _classes(ocpp.v16.datatypes) + _classes(ocpp.v201.datatypes)
ENUMS = [ocpp.v16.enums.RegistrationStatus.accepted, ocpp.v201.enums.GenericStatusEnumType.rejected]


def library_payload(answer: Any) -> Any:
    """What the library's _handle_call sends for a handler's answer."""
    return ocpp.charge_point.snake_to_camel_case(
        ocpp.charge_point.remove_nones(ocpp.charge_point.serialize_as_dict(answer)))


def _value(rng: random.Random, depth: int) -> Any:
    choices: list[Any] = [None, "text", 7, 2.5, True, 0, "", rng.choice(ENUMS)]
    if depth > 0:
        choices += [
            _instance(rng.choice(DATATYPES), rng, depth - 1),
            [_value(rng, depth - 1) for _ in range(rng.randint(0, 3))],
            # keys the library spells specially (soc → SoC, ...) and plain dict keys
            {rng.choice(["state_of_charge", "soc", "ev_min_v2x_energy_request", "id_tag",
                         "plainkey", "customData"]): _value(rng, depth - 1) for _ in range(2)},
        ]
    return rng.choice(choices)


def _instance(cls: type, rng: random.Random, depth: int) -> Any:
    """Any value in any field: made without __init__, whose checks (a key's length) would refuse."""
    instance = object.__new__(cls)
    for field in dataclasses.fields(cls):
        object.__setattr__(instance, field.name, _value(rng, depth))
    return instance


@pytest.mark.parametrize("cls", ANSWERS, ids=lambda c: f"{c.__module__.split('.')[1]}.{c.__name__}")
def test_every_answer_class_is_sent_as_the_library_sends_it(cls: type) -> None:
    rng = random.Random(cls.__name__)
    for _ in range(40):
        answer = _instance(cls, rng, depth=3)
        ours, library = answer_payload(answer), library_payload(answer)
        try:
            json.dumps(library)
        except TypeError:
            # The library leaves a dataclass in a dict in a list as it is (serialize_as_dict
            # copies list items that are not dataclasses) and then cannot send the frame.
            json.dumps(ours)
            continue
        assert ours == library


def test_values_the_one_walk_does_not_take_go_the_library_way() -> None:
    answer = ocpp.v16.call_result.DataTransfer(status="Accepted", data=("a", None))  # type: ignore[arg-type]
    assert answer_payload(answer) == library_payload(answer) == {"status": "Accepted",
                                                                  "data": ("a", None)}


def test_nested_answers_are_translated_and_stripped() -> None:
    answer = ocpp.v16.call_result.StartTransaction(
        transaction_id=5, id_tag_info=ocpp.v16.datatypes.IdTagInfo(
            status=ocpp.v16.enums.AuthorizationStatus.accepted, parent_id_tag=None,
            expiry_date="2027-01-01T00:00:00Z"))
    payload = answer_payload(answer)
    assert payload == {"transactionId": 5, "idTagInfo": {"status": "Accepted",
                                                         "expiryDate": "2027-01-01T00:00:00Z"}}
    assert json.dumps(payload) == json.dumps(library_payload(answer))  # same key order too


def _count(protocol: str, action: str, result: str) -> float:
    return REGISTRY.get_sample_value("csms_ocpp_messages_total", {
        "protocol": protocol, "action": action, "result": result}) or 0.0


async def test_a_handlers_refusal_is_counted_with_its_code(app: App) -> None:
    """The library answered a handler's OCPPError itself, so the call counted as answered."""
    await register(app.pool, "CP1", None, {1: None}, security_profile=0)
    before = _count("ocpp1.6", "StatusNotification", "PropertyConstraintViolation")
    answered = _count("ocpp1.6", "StatusNotification", "answered")
    async with connect(f"{ws_url(app)}/CP1", subprotocols=["ocpp1.6"]) as ws:  # type: ignore[list-item]
        await ws.send(json.dumps([2, "x", "StatusNotification", {
            "connectorId": 10**23, "errorCode": "NoError", "status": "Available"}]))
        error = json.loads(await ws.recv())
    assert error[:3] == [4, "x", "PropertyConstraintViolation"]
    assert _count("ocpp1.6", "StatusNotification", "PropertyConstraintViolation") == before + 1
    assert _count("ocpp1.6", "StatusNotification", "answered") == answered


def test_lines_logged_while_a_call_is_handled_name_the_charger(
        capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("info", "json")
    try:
        handling = current_charge_point.set("CP9")  # as the adapter does per call
        structlog.get_logger("csms.anywhere").info("inside")
        structlog.get_logger("csms.anywhere").info("own", charge_point_id="CP1")
        current_charge_point.reset(handling)
        structlog.get_logger("csms.anywhere").info("after")
    finally:
        configure_logging("warning", "console")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()
             if line.startswith("{")]
    assert [(line["event"], line.get("charge_point_id")) for line in lines] == [
        ("inside", "CP9"), ("own", "CP1"), ("after", None)]
