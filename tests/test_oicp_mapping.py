"""OICP pure mappings and bodies, and the schema oracle the simulated Hubject validates with."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bridge.oicp.client import outcome
from bridge.oicp.evse_status import push_evse_status, status_path
from bridge.oicp.status import oicp_evse_status
from csms.domain import EvseStatus as E
from simulators.hubject import Operation, default_spec_path, load_operations

EXAMPLES = default_spec_path().parents[1] / "examples"


@pytest.fixture(scope="module")
def operations() -> list[Operation]:
    return load_operations(default_spec_path())


def validate(operations: list[Operation], path: str, body: object) -> list[str]:
    [operation] = [o for o in operations if o.pattern.match(path)]
    return [e.message for e in operation.validator.iter_errors(body)]


@pytest.mark.parametrize(("domain", "oicp"), [
    (E.AVAILABLE, "Available"), (E.RESERVED, "Reserved"), (E.PREPARING, "Occupied"),
    (E.CHARGING, "Occupied"), (E.SUSPENDED, "Occupied"), (E.FINISHING, "Occupied"),
    (E.OCCUPIED, "Occupied"), (E.UNAVAILABLE, "OutOfService"), (E.FAULTED, "OutOfService"),
    (E.UNKNOWN, "Unknown"), ("charging", "Occupied"),
])
def test_evse_status(domain: E | str, oicp: str) -> None:
    assert oicp_evse_status(domain) == oicp


def test_oracle_agrees_with_hubjects_examples(operations: list[Operation]) -> None:
    """The validator must accept every valid sample and reject every invalid one."""
    lines = (EXAMPLES / "cases.tsv").read_text().splitlines()[1:]
    assert len(lines) >= 20
    for line in lines:
        path, name, expected = line.split("\t")
        errors = validate(operations, path, json.loads((EXAMPLES / name).read_text()))
        assert (not errors) == (expected == "200"), (name, errors)


@pytest.mark.parametrize("action", ["update", "fullLoad"])
def test_push_evse_status_body_is_valid(operations: list[Operation], action: str) -> None:
    body = push_evse_status("DE*ABC", "ABC Charging", action,
                            [("DE*ABC*E0001*1", E.CHARGING), ("DE*ABC*E0001*2", E.FAULTED)])
    assert validate(operations, status_path("DE*ABC"), body) == []
    assert body["OperatorEvseStatus"]["EvseStatusRecord"] == [
        {"EvseID": "DE*ABC*E0001*1", "EvseStatus": "Occupied"},
        {"EvseID": "DE*ABC*E0001*2", "EvseStatus": "OutOfService"},
    ]
    assert status_path("DE*ABC") == "/evsepush/v21/operators/DE*ABC/status-records"


@pytest.mark.parametrize(("http", "answer", "ok", "retry"), [
    (200, {"Result": True, "StatusCode": {"Code": "000"}}, True, False),
    (200, {"Result": False, "StatusCode": {"Code": "022", "Description": "bad"}}, False, False),
    (200, {"Result": False, "StatusCode": {"Code": "017"}}, False, False),
    (200, {"Result": False, "StatusCode": {"Code": "001"}}, False, True),
    (200, {"Result": False, "StatusCode": {"Code": "320"}}, False, True),
    (503, "down", False, True),
    (429, "", False, True),
    (400, {"Result": False}, False, False),
    (200, "not json", False, False),
])
def test_acknowledgement_outcome(http: int, answer: object, ok: bool, retry: bool) -> None:
    delivery = outcome(http, answer)
    assert (delivery.ok, delivery.retry) == (ok, retry)
    assert (delivery.error is None) == ok


def test_spec_is_where_the_simulator_expects_it() -> None:
    assert Path(default_spec_path()).is_file()
