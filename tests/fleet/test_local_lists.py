"""Local authorization lists: what goes on them, and keeping each charger's copy in sync end to end."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from csms.app import App
from csms.domain.charge_points import register
from csms.domain.fleet.local_lists import (
    LocalListSupport,
    changes_between,
    chunks,
    desired_list,
    truncated,
)
from csms.ocpp.translations.local_list import entry_16, entry_201, support_16, support_201
from csms.operator.command_line.cli import main
from csms.storage import store
from simulators.chargepoint import SimulatedChargePoint
from tests.conftest import AppFactory, SimFactory
from tests.support import Api, eventually

# --- what the list holds, purely -------------------------------------------------------------


def _token(uid: str, status: str = "accepted", owner: str | None = None,
           whitelist: str | None = None, expires_at: datetime | None = None,
           group: str | None = None) -> dict[str, Any]:
    ocpi: dict[str, Any] = {"whitelist": whitelist, "object": {"group_id": group}} if owner else {}
    return {"uid": uid, "status": status, "owner": owner, "type": "RFID",
            "expires_at": expires_at, "attributes": {"ocpi": ocpi} if ocpi else {}}


EXPIRY = datetime(2099, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.mark.parametrize(("tokens", "expected"), [
    ([_token("A")], {"A": "accepted"}),
    ([_token("A", "blocked")], {"A": "blocked"}),
    ([_token("A", expires_at=datetime(2000, 1, 1, tzinfo=UTC))], {"A": "expired"}),
    # Ours wins over a partner's copy of the same UID.
    ([_token("A", "blocked"), _token("A", owner="ocpi:1")], {"A": "blocked"}),
    # Of partners' copies, the first that accepts.
    ([_token("A", "invalid", "ocpi:1"), _token("A", "accepted", "ocpi:2")], {"A": "accepted"}),
    ([_token("A", "invalid", "ocpi:1")], {"A": "invalid"}),
])
def test_one_entry_per_uid(tokens: list[dict[str, Any]], expected: dict[str, str]) -> None:
    assert {uid: e["status"] for uid, e in desired_list(tokens).items()} == expected


def test_changes_remove_first_then_add_and_change() -> None:
    held = {"A": {"status": "accepted"}, "B": {"status": "accepted"}}
    desired = {"B": {"status": "blocked"}, "C": {"status": "accepted"}}
    assert changes_between(held, desired) == [
        ("A", None), ("B", {"status": "blocked"}), ("C", {"status": "accepted"})]
    assert changes_between(desired, desired) == []


@pytest.mark.parametrize(("count", "size", "expected"), [
    (5, 2, [2, 2, 1]), (4, 2, [2, 2]), (3, None, [3]), (0, 2, [0]), (0, None, [0])])
def test_chunks(count: int, size: int | None, expected: list[int]) -> None:
    items: list[tuple[str, Any]] = [(str(n), None) for n in range(count)]
    assert [len(chunk) for chunk in chunks(items, size)] == expected


def test_truncated_keeps_accepted_first() -> None:
    desired = {"A": {"status": "blocked"}, "B": {"status": "accepted"}, "C": {"status": "accepted"}}
    assert list(truncated(desired, 2)) == ["B", "C"]
    assert truncated(desired, None) == desired


ENTRY = {"status": "accepted", "type": "RFID", "expires_at": EXPIRY.isoformat(), "group": "G1"}


@pytest.mark.parametrize(("entry", "v16", "v201"), [
    (ENTRY,
     {"id_tag": "U", "id_tag_info": {"status": "Accepted", "expiry_date": "2099-01-02T03:04:05Z",
                                     "parent_id_tag": "G1"}},
     {"id_token": {"id_token": "U", "type": "ISO14443"},
      "id_token_info": {"status": "Accepted", "cache_expiry_date_time": "2099-01-02T03:04:05Z",
                        "group_id_token": {"id_token": "G1", "type": "Central"}}}),
    ({"status": "blocked", "type": "RFID", "expires_at": None, "group": None},
     {"id_tag": "U", "id_tag_info": {"status": "Blocked"}},
     {"id_token": {"id_token": "U", "type": "ISO14443"}, "id_token_info": {"status": "Blocked"}}),
    (None, {"id_tag": "U"}, {"id_token": {"id_token": "U", "type": "ISO14443"}}),
])
def test_entries_on_the_wire(entry: dict[str, Any] | None, v16: dict[str, Any],
                             v201: dict[str, Any]) -> None:
    assert entry_16("U", entry) == v16
    assert entry_201("U", entry) == v201


def _key(key: str, value: str) -> dict[str, Any]:
    return {"key": key, "readonly": True, "value": value}


def _variable(name: str, value: str, status: str = "Accepted") -> dict[str, Any]:
    component, _, variable = name.rpartition(".")
    return {"component": {"name": component}, "variable": {"name": variable},
            "attribute_status": status, "attribute_value": value}


@pytest.mark.parametrize(("keys", "expected"), [
    ([_key("LocalAuthListEnabled", "true"), _key("LocalAuthListMaxLength", "200"),
      _key("SendLocalListMaxLength", "20"),
      _key("SupportedFeatureProfiles", "Core,LocalAuthListManagement")],
     LocalListSupport(True, 200, 20)),
    ([_key("LocalAuthListEnabled", "false")], LocalListSupport(False)),
    ([_key("LocalAuthListEnabled", "true"), _key("SupportedFeatureProfiles", "Core")],
     LocalListSupport(False)),
    ([], LocalListSupport(False)),
])
def test_support_16(keys: list[dict[str, Any]], expected: LocalListSupport) -> None:
    assert support_16(keys) == expected


@pytest.mark.parametrize(("results", "expected"), [
    ([_variable("LocalAuthListCtrlr.Enabled", "true"),
      _variable("LocalAuthListCtrlr.ItemsPerMessage", "10")], LocalListSupport(True, None, 10)),
    ([_variable("LocalAuthListCtrlr.Enabled", "true"),
      _variable("LocalAuthListCtrlr.Available", "false")], LocalListSupport(False)),
    ([_variable("LocalAuthListCtrlr.Enabled", "", "UnknownVariable")], LocalListSupport(False)),
])
def test_support_201(results: list[dict[str, Any]], expected: LocalListSupport) -> None:
    assert support_201(results) == expected


# --- end to end ------------------------------------------------------------------------------


@pytest.fixture
async def app(make_app: AppFactory) -> App:
    return await make_app(local_lists=True, meter_value_interval=0, local_list_retry=0.5)


@pytest.fixture
async def api(app: App) -> AsyncIterator[Api]:
    client = Api(f"http://127.0.0.1:{app.api.port}/api/v1")
    yield client
    await client.http.close()


async def _roaming(app: App, uid: str, whitelist: str, party: str = "ABC") -> None:
    token = {"country_code": "DE", "party_id": party, "uid": uid, "whitelist": whitelist,
             "valid": True}
    await store.upsert_owned_token(app.pool, "DE", party, uid, "RFID", "accepted", "ocpi:1",
                                   whitelist in ("ALLOWED", "NEVER"),
                                   {"ocpi": {"partner": 1, "whitelist": whitelist,
                                             "object": token}})


def _list_calls(sim: SimulatedChargePoint) -> list[dict[str, Any]]:
    return [payload for action, payload in sim.calls if action == "SendLocalList"]


def _update_types(sim: SimulatedChargePoint) -> list[str]:
    return [call["updateType"] for call in _list_calls(sim)]


async def _started(app: App, sims: SimFactory, **options: Any) -> SimulatedChargePoint:
    await register(app.pool, "CP1", None, {1: None}, security_profile=0)
    sim = sims(app, **options)
    await sim.start()
    return sim


async def test_list_kept_in_sync(app: App, api: Api, sims: SimFactory) -> None:
    await store.upsert_token(app.pool, "OWN1")
    await store.upsert_token(app.pool, "OWN2", status="blocked")
    await _roaming(app, "ROAM1", "ALWAYS")
    await _roaming(app, "ROAM2", "ALLOWED_OFFLINE")
    await _roaming(app, "ROAM3", "NEVER")
    await _roaming(app, "ROAM4", "ALLOWED")
    sim = await _started(app, sims)

    # Full on first connect: ours (blocked ones too) and the roaming tokens allowed offline.
    async def listed() -> Any:
        return set(sim.local_list) == {"OWN1", "OWN2", "ROAM1", "ROAM2"} and sim.local_list
    held = await eventually(listed)
    assert held["OWN2"]["status"] == "Blocked" and held["ROAM1"]["status"] == "Accepted"
    assert _update_types(sim)[0] == "Full"

    async def synced() -> Any:
        shown = await api.get("/charge-points/CP1/local-list")
        return shown["state"] == "synced" and shown["version"] == sim.local_list_version \
            and shown
    shown = await eventually(synced)
    assert shown["entries"] == 4 and shown["supported"] is True

    # A token change anywhere: a differential update, raising the version.
    version = sim.local_list_version
    status, _ = await api.post("/tokens", {"uid": "NEW1"})
    assert status == 201
    await eventually(lambda: _true("NEW1" in sim.local_list))
    assert _update_types(sim)[-1] == "Differential" and sim.local_list_version == version + 1
    assert len(_list_calls(sim)[-1]["localAuthorizationList"]) == 1
    await api.post("/tokens/OWN1/block")
    await eventually(lambda: _true(sim.local_list["OWN1"]["status"] == "Blocked"))
    assert _update_types(sim)[-1] == "Differential"

    # The charger's list changed behind our back (another version): a full list on reconnect.
    sim.local_list, sim.local_list_version = {}, 99
    sent = len(_list_calls(sim))
    await sim.drop_connection()
    await eventually(lambda: _true(len(sim.local_list) == 5 and sim.local_list_version > 99))
    assert _update_types(sim)[sent:] == ["Full"]


async def _true(value: bool) -> bool:
    return value


async def test_version_mismatch_answered_with_a_full_list(app: App, api: Api,
                                                         sims: SimFactory) -> None:
    await store.upsert_token(app.pool, "OWN1")
    sim = await _started(app, sims)
    await eventually(lambda: _true("OWN1" in sim.local_list))
    sim.local_list_answers.append("VersionMismatch")
    await store.upsert_token(app.pool, "OWN2")
    await eventually(lambda: _true(set(sim.local_list) == {"OWN1", "OWN2"}))
    assert _update_types(sim)[-2:] == ["Differential", "Full"]


async def test_failed_update_is_retried(app: App, api: Api, sims: SimFactory) -> None:
    sim = await _started(app, sims)

    async def state() -> str:
        return str((await api.get("/charge-points/CP1/local-list"))["state"])
    await eventually(lambda: _equal(state(), "synced"))
    sim.local_list_answers.append("Failed")
    await store.upsert_token(app.pool, "LATE")
    await eventually(lambda: _true("LATE" in sim.local_list))  # local_list_retry later
    assert _update_types(sim)[-2:] == ["Differential", "Differential"]
    await eventually(lambda: _equal(state(), "synced"))


async def _equal(value: Any, expected: Any) -> bool:
    return bool(await value == expected)


async def test_split_by_what_the_charger_takes(app: App, sims: SimFactory) -> None:
    for n in range(5):
        await store.upsert_token(app.pool, f"T{n}")
    sim = await _started(app, sims, local_list_per_message=2)
    await eventually(lambda: _true(len(sim.local_list) == 5))
    assert _update_types(sim) == ["Full", "Differential", "Differential"]
    assert [len(c["localAuthorizationList"]) for c in _list_calls(sim)] == [2, 2, 1]


async def test_forced_full_sync_and_cli(app: App, api: Api, sims: SimFactory, db_url: str,
                                        capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    await store.upsert_token(app.pool, "OWN1")
    sim = await _started(app, sims)
    await eventually(lambda: _true("OWN1" in sim.local_list))
    sent = len(_list_calls(sim))
    status, shown = await api.post("/charge-points/CP1/local-list/sync")
    assert status == 202 and shown["full_requested"] is True
    await eventually(lambda: _true(_update_types(sim)[sent:] == ["Full"]))

    async def done() -> bool:
        return not (await api.get("/charge-points/CP1/local-list"))["full_requested"]
    await eventually(done)
    status, _ = await api.post("/charge-points/NOPE/local-list/sync")
    assert status == 404

    # The CLI asks the same of whichever node holds the charger.
    monkeypatch.setenv("CSMS_DATABASE_URL", db_url)
    monkeypatch.setenv("CSMS_LOG_LEVEL", "warning")
    sent = len(_list_calls(sim))
    assert await asyncio.to_thread(main, ["local-list", "sync", "CP1"]) == 0
    assert "full local list requested" in capsys.readouterr().out
    await eventually(lambda: _true(_update_types(sim)[sent:] == ["Full"]))
    await eventually(done)
    assert await asyncio.to_thread(main, ["local-list", "show", "CP1"]) == 0
    assert "synced" in capsys.readouterr().out
    assert await asyncio.to_thread(main, ["local-list", "show", "NOPE"]) == 1
    assert capsys.readouterr().err.strip() == "no charge point NOPE"


async def test_charger_without_a_list(app: App, api: Api, sims: SimFactory) -> None:
    await store.upsert_token(app.pool, "OWN1")
    sim = await _started(app, sims, local_list=False)

    async def unsupported() -> bool:
        return (await api.get("/charge-points/CP1/local-list"))["state"] == "unsupported"
    await eventually(unsupported)
    assert _list_calls(sim) == []


async def test_roaming_driver_charges_offline(app: App, sims: SimFactory) -> None:
    await _roaming(app, "ROAMOK", "ALWAYS")
    await _roaming(app, "ROAMNO", "NEVER")
    sim = await _started(app, sims)
    await eventually(lambda: _true("ROAMOK" in sim.local_list))
    assert "ROAMNO" not in sim.local_list

    sim.network.clear()  # the charger's uplink is down
    await sim.drop_connection()
    await eventually(lambda: _true(not sim.connected.is_set()))
    with pytest.raises(RuntimeError, match="not accepted"):
        await sim.start_local_session(1, "ROAMNO")
    await sim.start_local_session(1, "ROAMOK")
    sim.network.set()

    async def session() -> Any:
        rows = await app.pool.fetch("SELECT token_uid FROM sessions WHERE charge_point_id = 'CP1'")
        return [row["token_uid"] for row in rows]
    assert await eventually(session) == ["ROAMOK"]


async def test_the_node_holding_the_charger_sends(make_app: AppFactory, sims: SimFactory) -> None:
    """Tokens changed and a full list asked through node a; the charger is held by node b."""
    options = {"local_lists": True, "meter_value_interval": 0}
    a = await make_app(node_id="a", **options)
    b = await make_app(node_id="b", **options)
    api = Api(f"http://127.0.0.1:{a.api.port}/api/v1")
    try:
        await register(a.pool, "CP1", None, {1: None}, security_profile=0)
        sim = sims(b)
        await sim.start()
        await eventually(lambda: _true(_update_types(sim) == ["Full"]))
        status, _ = await api.post("/tokens", {"uid": "VIA-A"})
        assert status == 201
        await eventually(lambda: _true("VIA-A" in sim.local_list))
        status, _ = await api.post("/charge-points/CP1/local-list/sync")
        assert status == 202
        await eventually(lambda: _true(_update_types(sim) == ["Full", "Differential", "Full"]))
        assert "CP1" not in a.connections
    finally:
        await api.http.close()
