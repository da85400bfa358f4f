"""Every outcome of a command, as the CommandResult an eMSP receives, in both OCPI versions."""

from __future__ import annotations

import jsonschema
import pytest

from bridge.ocpi.control.commands import command_result
from bridge.ocpi.v211.commands import RESULTS
from bridge.ocpi.versions.dialects import V211
from csms.domain.commands import CommandResult, Outcome
from simulators.specs import ocpi_schema

# An outcome with the charger's own word for it where it has one (what command_result reads).
CASES = [(outcome, detail) for outcome in Outcome
         for detail in ({}, {"status": "Rejected"}, {"status": "Occupied"})]


@pytest.mark.parametrize(("outcome", "detail"), CASES)
def test_every_outcome_is_a_commandresult_of_221_and_211(outcome: Outcome,
                                                          detail: dict[str, str]) -> None:
    answer = command_result(CommandResult(outcome, detail))
    jsonschema.validate(answer, ocpi_schema("CommandResult"))
    assert V211.command_answer(answer)["result"] in set(RESULTS.values())


@pytest.mark.parametrize(("outcome", "expected"), [
    (Outcome.NOT_SUPPORTED, "NOT_SUPPORTED"), (Outcome.INVALID, "REJECTED"),
    (Outcome.OFFLINE, "EVSE_INOPERATIVE"), (Outcome.BUSY, "EVSE_OCCUPIED")])
def test_outcomes_the_charger_decides(outcome: Outcome, expected: str) -> None:
    assert command_result(CommandResult(outcome))["result"] == expected
