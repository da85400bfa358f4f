"""OICP pure mappings and bodies, and the schema oracle the simulated Hubject validates with."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bridge.oicp import notifications
from bridge.oicp.cdr import cdr_path, charge_detail_record
from bridge.oicp.client import outcome
from bridge.oicp.evse_status import push_evse_status, status_path
from bridge.oicp.status import oicp_evse_status
from csms.domain.events import SessionEnded
from csms.domain.model import EvseStatus as E
from csms.domain.model import StopReason
from simulators.partners.hubject import Operation, load_operations
from tests.support import ROOT

# Our own sample bodies (valid and invalid), checked against Hubject's published validator setup.
EXAMPLES = ROOT / "tests" / "oicp_examples"


@pytest.fixture(scope="module")
def operations() -> list[Operation]:
    return load_operations()


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


def _ended(**overrides: object) -> SessionEnded:
    values: dict[str, Any] = dict(
        session_id="5f0e-ours", charge_point_id="CP1", evse_number=1, evse_id="DE*ABC*E0001*1",
        token_uid="DE-8EO-CAet5e4XY-3", started_at=START, stopped_at=START + timedelta(hours=1),
        meter_start_wh=1000.0, meter_stop_wh=23125.0, reason=StopReason.REMOTE,
        attributes={"oicp": OICP})
    values.update(overrides)
    return SessionEnded(**values)


START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
OICP = {"SessionID": "b2688855-7f00-0002-6d8e-48d883f6abb6", "ProviderID": "DE-8EO",
        "EMPPartnerSessionID": "emp-1", "PartnerProductID": "AC3",
        "Identification": {"RemoteIdentification": {"EvcoID": "DE-8EO-CAet5e4XY-3"}}}


@pytest.mark.parametrize(("ended", "readings", "expected"), [
    (_ended(), [1000.0, 6500.0, 12000.0, 23125.0],
     {"ConsumedEnergy": 22.125, "MeterValueStart": 1.0, "MeterValueEnd": 23.125,
      "MeterValueInBetween": {"meterValues": [6.5, 12.0]}, "SessionStart": "2026-11-23T10:00:00+01:00",
      "SessionEnd": "2026-11-23T11:00:00+01:00", "PartnerProductID": "AC3"}),
    (_ended(meter_stop_wh=None), [1000.0, 4000.0],
     {"ConsumedEnergy": 3.0, "MeterValueEnd": 4.0}),
    (_ended(meter_start_wh=None, meter_stop_wh=None), [], {"ConsumedEnergy": 0.0}),
    (_ended(attributes={"oicp": {**OICP, "Identification": {
        "RFIDMifareFamilyIdentification": {"UID": "1234ABCD"}}}}), [],
     {"Identification": {"RFIDMifareFamilyIdentification": {"UID": "1234ABCD"}}}),
])
def test_cdr(operations: list[Operation], ended: SessionEnded, readings: list[float],
             expected: dict[str, object]) -> None:
    record = charge_detail_record(ended, readings, (ended.started_at or START, ended.stopped_at),
                                  "Europe/Berlin")
    assert validate(operations, cdr_path("DE*ABC"), record) == []
    assert {k: record.get(k) for k in expected} == expected
    assert record["SessionID"] == OICP["SessionID"] and record["CPOPartnerSessionID"] == "5f0e-ours"


def test_notifications_are_valid(operations: list[Operation]) -> None:
    args = (OICP, "5f0e-ours", "DE*ABC*E0001*1", "DE*ABC")
    bodies = [
        notifications.start(*args, START, START, 1000.0, "UTC"),
        notifications.progress(*args, START, START, START + timedelta(minutes=30), 1000.0,
                               [6500.0], "UTC"),
        notifications.end(*args, START, START + timedelta(hours=1),
                          (START, START + timedelta(hours=1)), 1000.0, 23125.0, "UTC"),
        notifications.error(*args, "GroundFailure"),
        notifications.error(*args, "ConnectorLockFailure"),
    ]
    for body in bodies:
        assert validate(operations, notifications.PATH, body) == [], body
    assert bodies[1]["ChargingDuration"] == 1_800_000 and bodies[1]["ConsumedEnergyProgress"] == 5.5
    assert [b["ErrorType"] for b in bodies[3:]] == ["CriticalError", "ConnectorError"]
    assert bodies[0]["SessionStart"] == "2026-11-23T09:00:00+00:00"


def test_session_and_charging_times_apart(operations: list[Operation]) -> None:
    """OICP 2.3: SessionStart/End are the session's (swipe of RFID, cable), ChargingStart/End the
    charging process's; the Start notification names both."""
    charging = (START + timedelta(minutes=10), START + timedelta(minutes=40))
    record = charge_detail_record(_ended(), [1000.0, 23125.0], charging, "Europe/Berlin")
    assert validate(operations, cdr_path("DE*ABC"), record) == []
    assert [record[k] for k in ("SessionStart", "ChargingStart", "ChargingEnd", "SessionEnd")] == [
        "2026-11-23T10:00:00+01:00", "2026-11-23T10:10:00+01:00", "2026-11-23T10:40:00+01:00",
        "2026-11-23T11:00:00+01:00"]
    args = (OICP, "5f0e-ours", "DE*ABC*E0001*1", "DE*ABC")
    start = notifications.start(*args, START, charging[0], 1000.0, "UTC")
    progress = notifications.progress(*args, START, charging[0], charging[1], 1000.0, [6500.0],
                                      "UTC")
    end = notifications.end(*args, START, START + timedelta(hours=1), charging, 1000.0, 23125.0,
                            "UTC")
    for body in (start, progress, end):
        assert validate(operations, notifications.PATH, body) == [], body
    assert (start["SessionStart"], start["ChargingStart"]) == \
        ("2026-11-23T09:00:00+00:00", "2026-11-23T09:10:00+00:00")
    assert progress["ChargingDuration"] == 30 * 60_000  # EventOccurred - ChargingStart
    assert (end["ChargingEnd"], end["SessionEnd"]) == \
        ("2026-11-23T09:40:00+00:00", "2026-11-23T10:00:00+00:00")
