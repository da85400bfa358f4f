"""OCPI 2.1.1 Credentials, Tokens and Commands, purely: each form checked against the 2.1.1 text."""

from __future__ import annotations

from typing import Any

import pytest

from bridge.ocpi.handshake.objects import CredentialsError
from bridge.ocpi.tokens import TokenError, read_token
from bridge.ocpi.v211.commands import CommandFormError, command_221, response_211
from bridge.ocpi.v211.credentials import credentials_211, read_credentials_211
from bridge.ocpi.v211.tokens import patch_221, token_211, token_221
from bridge.ocpi.versions import dialects
from bridge.ocpi.versions.dialects import V211, V221
from simulators.partners.emsp211 import problems

TOKEN_211 = {"uid": "012345678", "type": "RFID", "auth_id": "DE8ACC12E46L89",
             "visual_number": "DF000-2001-8999", "issuer": "TheNewMotion", "valid": True,
             "whitelist": "ALWAYS", "last_updated": "2015-06-29T22:39:09Z"}  # mod_tokens 2.1.2


@pytest.mark.parametrize(("theirs", "picked"), [
    (["2.2.1", "2.1.1"], "2.2.1"), (["2.1.1", "2.2.1"], "2.2.1"), (["2.1.1"], "2.1.1"),
    (["2.0", "2.1.1"], "2.1.1"), (["2.1"], None), (["2.0"], None), ([], None), (["3.0"], None)])
def test_version_negotiation(theirs: list[str], picked: str | None) -> None:
    found = dialects.newest_common(theirs)
    assert (found.version if found else None) == picked


def test_our_credentials_each_version() -> None:
    ours = credentials_211("tok", "https://cpo.example/ocpi/versions", "DE", "ABC", "ABC Charging")
    assert problems("Credentials", ours) == []
    assert V221.credentials("t", "https://x/v", "DE", "ABC", "n")["roles"][0]["role"] == "CPO"


@pytest.mark.parametrize(("body", "why"), [
    ({"token": "t", "url": "https://e/v", "party_id": "EMS", "country_code": "NL",
      "business_details": {"name": "E"}}, None),
    ({"token": "t", "url": "https://e/v", "party_id": "EMS", "country_code": "NL"},
     "business_details"),
    ({"token": "t", "url": "https://e/v", "party_id": "EMSP", "country_code": "NL",
      "business_details": {"name": "E"}}, "party_id"),
    ({"token": "t", "url": "https://e/v", "roles": [{"role": "EMSP", "country_code": "NL",
                                                     "party_id": "EMS"}]}, "country_code"),
    ({"token": "", "url": "https://e/v"}, "token"),
    ({"token": "t", "url": "ftp://e/v"}, "url"),
    ("nonsense", "Credentials object"),
])
def test_reading_2_1_1_credentials(body: Any, why: str | None) -> None:
    if why is None:
        token, url, roles = read_credentials_211(body)
        assert (token, url) == ("t", "https://e/v")
        assert roles == [{"role": "EMSP", "country_code": "NL", "party_id": "EMS",
                          "business_details": {"name": "E"}}]
        return
    with pytest.raises(CredentialsError) as refused:
        read_credentials_211(body)
    assert why in str(refused.value) and refused.value.status_code == 2001


@pytest.mark.parametrize(("change", "why"), [
    ({}, None),
    ({"type": "OTHER"}, None),
    ({"type": "APP_USER"}, "type must be RFID or OTHER"),  # 2.2.1's, not 2.1.1's
    ({"auth_id": None}, "missing auth_id"),
    ({"whitelist": "SOMETIMES"}, "whitelist"),
    ({"valid": "yes"}, "valid"),
    ({"uid": "other"}, "must match the URL"),
])
def test_a_pushed_2_1_1_token(change: dict[str, Any], why: str | None) -> None:
    body = {k: v for k, v in {**TOKEN_211, **change}.items() if v is not None}
    if why is None:
        assert problems("Token", body) == []
        stored = read_token(token_221(body, "NL", "TNM"), "NL", "TNM", "012345678")
        assert stored["contract_id"] == "DE8ACC12E46L89"
        assert (stored["country_code"], stored["party_id"]) == ("NL", "TNM")
        assert token_211(stored) == body  # read back as it was sent
        assert problems("Token", token_211(stored)) == []
        return
    with pytest.raises(TokenError) as refused:
        read_token(token_221(body, "NL", "TNM"), "NL", "TNM", "012345678")
    assert why in str(refused.value)


def test_a_2_1_1_token_patch() -> None:
    # mod_tokens 2.1.2's example has no last_updated: the patch is dated when we take it.
    assert patch_221({"valid": False}, "2026-01-01T00:00:00Z") == {
        "last_updated": "2026-01-01T00:00:00Z", "valid": False}
    assert patch_221({"auth_id": "X", "last_updated": "2020-01-01T00:00:00Z"}, "later") == {
        "contract_id": "X", "last_updated": "2020-01-01T00:00:00Z"}
    with pytest.raises(TokenError):
        patch_221({"type": "AD_HOC_USER"}, "now")
    # A 2.2.1 token of a type 2.1.1 lacks shows as OTHER.
    shown = token_211({**token_221(TOKEN_211, "NL", "TNM"), "type": "APP_USER"})
    assert shown["type"] == "OTHER" and problems("Token", shown) == []


@pytest.mark.parametrize(("command", "body", "expected_token"), [
    ("START_SESSION", {"response_url": "https://e/r/1", "token": TOKEN_211,
                       "location_id": "L1", "evse_uid": "CP1-1"}, True),
    ("RESERVE_NOW", {"response_url": "https://e/r/2", "token": TOKEN_211, "location_id": "L1",
                     "expiry_date": "2030-01-01T00:00:00Z", "reservation_id": 5}, True),
    ("STOP_SESSION", {"response_url": "https://e/r/3", "session_id": "s1"}, False),
    ("UNLOCK_CONNECTOR", {"response_url": "https://e/r/4", "location_id": "L1",
                          "evse_uid": "CP1-1", "connector_id": "1"}, False),
])
def test_2_1_1_commands_as_we_carry_them_out(command: str, body: dict[str, Any],
                                             expected_token: bool) -> None:
    kind = {"START_SESSION": "StartSession", "RESERVE_NOW": "ReserveNow",
            "STOP_SESSION": "StopSession", "UNLOCK_CONNECTOR": "UnlockConnector"}[command]
    assert problems(kind, body) == []  # the request is 2.1.1's
    carried = command_221(command, body, "NL", "TNM")
    if expected_token:
        assert carried["token"]["country_code"] == "NL"  # the sender's party
        assert carried["token"]["contract_id"] == TOKEN_211["auth_id"]
        assert {k: v for k, v in carried.items() if k != "token"} == \
            {k: v for k, v in body.items() if k != "token"}
    else:
        assert carried == body
    assert command in V211.commands


def test_2_1_1_command_token_unreadable() -> None:
    with pytest.raises(CommandFormError, match="auth_id"):
        command_221("START_SESSION", {"token": {"uid": "1", "type": "RFID"}}, "NL", "TNM")
    assert "CANCEL_RESERVATION" not in V211.commands  # mod_commands 4.2


@pytest.mark.parametrize(("ours", "theirs"), [
    ("ACCEPTED", "ACCEPTED"), ("REJECTED", "REJECTED"), ("NOT_SUPPORTED", "NOT_SUPPORTED"),
    ("UNKNOWN_SESSION", "UNKNOWN_SESSION"), ("TIMEOUT", "TIMEOUT"),
    ("EVSE_OCCUPIED", "REJECTED"), ("EVSE_INOPERATIVE", "REJECTED"), ("FAILED", "REJECTED"),
    ("UNKNOWN_RESERVATION", "REJECTED"), ("CANCELED_RESERVATION", "ACCEPTED"),
    ("SOMETHING_NEW", "REJECTED")])
def test_command_answers_in_2_1_1(ours: str, theirs: str) -> None:
    answer = response_211({"result": ours, "timeout": 30,
                           "message": [{"language": "en", "text": "charger: Occupied"}]})
    assert answer == {"result": theirs}
    assert problems("CommandResponse", answer) == []
