"""A site's limit through the admin API and the CLI: set, shown, cleared; bad input refused whole."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import asyncpg
import pytest

from csms.app import App
from csms.domain.charge_points import assign_sites, register
from csms.domain.events import DomainEvent, SiteLimitChanged
from csms.domain.sites import Site
from csms.operator.command_line.cli import main
from csms.storage.energy import site_limit_store as limits_store
from tests.support import Api

LIMIT = "/sites/S1/limit"
ENERGY = "/charge-points/CP1/evses/1/energy"


async def _site(app: App) -> list[tuple[str, Any]]:
    """Site S1 (Berlin) with CP1's two EVSEs; what SiteLimitChanged subscribers saw, in the
    publishing transaction: the settings as that transaction holds them."""
    await register(app.pool, "CP1", None, {1: None, 2: None}, security_profile=0)
    await assign_sites(app.pool, app.events, [Site(
        id="S1", name="Depot", country="DEU", city="Berlin", street="Hauptstr.", postal_code="10115",
        house_number="1", latitude=52.5, longitude=13.4, hotline="+4930123456",
        time_zone="Europe/Berlin", charge_points=("CP1",))])
    seen: list[tuple[str, Any]] = []

    async def record(conn: asyncpg.Connection, event: DomainEvent) -> None:
        if isinstance(event, SiteLimitChanged):
            assert conn.is_in_transaction()
            seen.append((event.site_id, await limits_store.site_limits(conn, event.site_id)))

    app.events.subscribe(record)
    return seen


async def test_set_show_clear(app: App, api: Api) -> None:
    seen = await _site(app)
    status, shown = await api.request("PUT", LIMIT, json={
        "amps": [63, 63, 40], "schedule": ["Mo-Fr 08:00-18:00=32", {
            "days": "Sa,Su", "from": "22:00", "to": "06:00", "kw": 10}],
        "group_priorities": {"fleet": 5}})
    assert status == 200, shown
    assert shown["amps"] == [63, 63, 40] and shown["time_zone"] == "Europe/Berlin"
    assert [(p["days"], p["from"], p["to"], p["amps"]) for p in shown["schedule"]] == [
        ("Mo-Fr", "08:00", "18:00", [32, 32, 32]), ("Sa-Su", "22:00", "06:00", [14.4] * 3)]
    # Derived: the lowest limit at any time (10 kW: 14.4 A) over the two EVSEs.
    assert (shown["fallback_amps"], shown["fallback_is_default"]) == (7.2, True)
    assert shown["evses"] == [
        {"charge_point_id": "CP1", "evse": n, "evse_id": None, "priority": 0, "min_amps": 6,
         "max_amps": 32, "phases": [1, 2, 3]} for n in (1, 2)]
    assert await api.get(LIMIT) == shown
    # Announced in the transaction that made the change (subscribers saw it in place).
    assert [(site, limits.group_priorities) for site, limits in seen] == [("S1", {"fleet": 5})]

    status, energy = await api.request("PUT", ENERGY, json={
        "priority": 2, "min_amps": 8, "phases": [2]})
    assert status == 200, energy
    assert energy == {"site_id": "S1", "charge_point_id": "CP1", "evse": 1, "evse_id": None,
                      "priority": 2, "min_amps": 8, "max_amps": 32, "phases": [2]}
    assert len(seen) == 2
    assert (await api.get(LIMIT))["evses"][0]["phases"] == [2]
    status, answer = await api.request("DELETE", ENERGY)
    assert (status, answer) == (200, {"cleared": True})

    status, answer = await api.request("DELETE", LIMIT)
    assert (status, answer) == (200, {"cleared": True})
    status, answer = await api.request("GET", LIMIT)
    assert status == 404 and "no limit" in answer["error"]
    status, answer = await api.request("DELETE", LIMIT)
    assert (status, answer) == (200, {"cleared": False})
    assert len(seen) == 4  # the EVSE's reset and the clearing; not the clearing of nothing


BAD_LIMITS: list[tuple[Any, str]] = [
    ({"amps": -5}, "must not be negative"),
    ({"amps": 400, "kw": 250}, "not both"),
    ({"fallback_amps": 6}, "not neither"),
    ({"amps": [400, 400]}, "one number or three"),
    ({"amps": 400, "schedule": ["Mo-Fr 8-18=200"]}, "not a time"),
    ({"amps": 400, "schedule": [{"days": "Weekdays", "from": "08:00", "to": "18:00",
                                 "amps": 1}]}, "use Mo Tu We"),
    ({"amps": 400, "schedule": ["Mo-Fr 08:00-18:00=200", "We 12:00-13:00=100"]}, "overlap"),
    ({"amps": 400, "fallback_amps": 401}, "above the site's lowest limit"),
    ({"amps": 400, "group_priorities": {"fleet": 1.5}}, "whole number"),
    ({"amps": 400, "unit": "A"}, "unknown keys"),
    ([400], "must be a JSON object"),
]


async def test_bad_limit_refused_without_effect(app: App, api: Api) -> None:
    seen = await _site(app)
    status, answer = await api.request("PUT", LIMIT, json={"amps": 100})
    assert status == 200
    before = await api.get(LIMIT)
    for body, reason in BAD_LIMITS:
        status, answer = await api.request("PUT", LIMIT, json=body)
        assert status == 400, (body, answer)
        assert reason in answer["error"] and "\n" not in answer["error"], (body, answer)
    assert await api.get(LIMIT) == before
    assert len(seen) == 1


BAD_ENERGY: list[tuple[str, Any, int, str]] = [
    (ENERGY, {"phases": [1, 4]}, 400, "phases"),
    (ENERGY, {"phases": []}, 400, "phases"),
    (ENERGY, {"min_amps": 20, "max_amps": 10}, 400, "above max_amps"),
    (ENERGY, {"min_amps": 40}, 400, "above the EVSE's max_amps 32"),  # from the site's details
    (ENERGY, {"max_amps": -1}, 400, "must not be negative"),
    (ENERGY, {"priority": "high"}, 400, "priority"),
    ("/charge-points/CP1/evses/x/energy", {}, 400, "EVSE is a number"),
    ("/charge-points/CP1/evses/9/energy", {}, 404, "unknown EVSE 9"),
    ("/charge-points/CP9/evses/1/energy", {}, 404, "unknown EVSE 1 of charge point 'CP9'"),
]


async def test_bad_evse_energy_refused_without_effect(app: App, api: Api) -> None:
    seen = await _site(app)
    before = await limits_store.evse_energy(app.pool, "S1")
    for path, body, code, reason in BAD_ENERGY:
        status, answer = await api.request("PUT", path, json=body)
        assert status == code, (body, answer)
        assert reason in answer["error"] and "\n" not in answer["error"], (body, answer)
    assert await limits_store.evse_energy(app.pool, "S1") == before
    assert not await app.pool.fetchval("SELECT count(*) FROM evse_energy")
    assert not seen


async def test_unknown_site(app: App, api: Api) -> None:
    for method in ("GET", "PUT", "DELETE"):
        status, answer = await api.request(method, "/sites/NOPE/limit", json={"amps": 1})
        assert status == 404 and "unknown site 'NOPE'" in answer["error"], (method, answer)
    assert await limits_store.limited_sites(app.pool) == []


async def test_cli(app: App, monkeypatch: pytest.MonkeyPatch,
                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CSMS_DATABASE_URL", app.database_url)
    monkeypatch.setenv("CSMS_LOG_LEVEL", "warning")
    await _site(app)

    async def cli(*argv: str) -> int:
        return await asyncio.to_thread(main, ["sites", *argv])

    assert await cli("limit", "S1", "--amps", "400/400/300", "--schedule", "Mo-Fr 08:00-18:00=200",
                     "--schedule", "Sa 00:00-24:00=100kW", "--fallback", "6",
                     "--group-priority", "fleet=5") == 0
    out = capsys.readouterr().out
    assert "S1: 400/400/300 A per phase, time zone Europe/Berlin" in out
    assert "Mo-Fr 08:00-18:00: 200 A" in out and "Sa 00:00-24:00: 144.9 A (100 kW)" in out
    assert "fallback per EVSE: 6 A\n" in out and "token group fleet: priority 5" in out
    assert await cli("show-limit", "S1", "--json") == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["amps"] == [400, 400, 300] and shown["fallback_amps"] == 6
    assert shown == {**await api_view(app), "in_force": shown["in_force"]}
    assert await cli("show-limit", "S1") == 0
    assert "  now: " in capsys.readouterr().out

    for argv in [("limit", "S1", "--amps", "-5"), ("limit", "S1"),
                 ("limit", "S1", "--amps", "400", "--schedule", "Mo-Fr 08:00"),
                 ("limit", "S1", "--amps", "400", "--schedule", "Mo-Fr 08:00-18:00=200",
                  "--schedule", "Fr 17:00-20:00=100"),
                 ("limit", "S1", "--amps", "400", "--group-priority", "fleet"),
                 ("limit", "S1", "--clear", "--fallback", "6"),
                 ("limit", "S1", "--amps", "abc")]:
        assert await cli(*argv) == 2, argv
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, (argv, err)
    assert (await limits_store.site_limits(app.pool, "S1")).fallback_amps == 6  # type: ignore[union-attr]
    assert await cli("limit", "NOPE", "--amps", "1") == 1
    assert "unknown site 'NOPE'" in capsys.readouterr().err

    assert await cli("limit", "S1", "--clear") == 0
    assert "S1: limit cleared" in capsys.readouterr().out
    assert await cli("show-limit", "S1") == 0
    assert "S1: no limit" in capsys.readouterr().out


async def api_view(app: App) -> dict[str, Any]:
    from csms.domain.energy import site_limit_service

    shown = await site_limit_service.show(app.pool, "S1")
    assert shown is not None
    return shown


SITE_FILE = """
[[site]]
id = "S1"
name = "Depot"
country = "DEU"
city = "Berlin"
street = "Hauptstr."
postal_code = "10115"
house_number = "1"
latitude = 52.5
longitude = 13.4
hotline = "+4930123456"
time_zone = "Europe/Berlin"
charge_points = ["CP1"]
[site.limit]
amps = [63, 63, 40]
schedule = ["Mo-Fr 08:00-18:00=32"]
"""


async def test_sites_file(app: App, tmp_path: Any, monkeypatch: pytest.MonkeyPatch,
                          capsys: pytest.CaptureFixture[str]) -> None:
    """`csms sites load` takes an optional [site.limit]; a bad one refuses the whole file."""
    monkeypatch.setenv("CSMS_DATABASE_URL", app.database_url)
    monkeypatch.setenv("CSMS_LOG_LEVEL", "warning")
    await register(app.pool, "CP1", None, {1: None, 2: None}, security_profile=0)
    path = tmp_path / "sites.toml"
    path.write_text(SITE_FILE.replace("Mo-Fr 08:00-18:00=32", "Mo-Fr 08:00-18:00=-32"))
    assert await asyncio.to_thread(main, ["sites", "load", str(path)]) == 2
    err = capsys.readouterr().err
    assert "site 'S1' limit: period Mo-Fr 08:00-18:00 amps must not be negative" in err
    assert len(err.strip().splitlines()) == 1
    assert await limits_store.limited_sites(app.pool) == []
    path.write_text(SITE_FILE)
    assert await asyncio.to_thread(main, ["sites", "load", str(path)]) == 0
    limits = await limits_store.site_limits(app.pool, "S1")
    assert limits is not None and limits.schedule[0].start == "08:00"
    assert limits.time_zone == "Europe/Berlin" and limits.fallback_amps == 16  # 32 A / 2 EVSEs
    # Loaded again without [site.limit]: the limit set at runtime stays.
    path.write_text(SITE_FILE.split("[site.limit]")[0])
    assert await asyncio.to_thread(main, ["sites", "load", str(path)]) == 0
    assert await limits_store.limited_sites(app.pool) == ["S1"]
