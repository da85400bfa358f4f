"""EVSE data to Hubject: records from sites, insert/update/delete as EVSEs change, full loads."""

from __future__ import annotations

import tomllib
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from bridge.oicp import evse_data
from csms.domain.charge_points import assign_sites, register, retire
from csms.domain.sites import Site, SiteError, parse_site, parse_sites
from simulators.partners.hubject import SimulatedHubject, load_operations
from tests.conftest import AppFactory
from tests.oicp.test_oicp_roaming import _async, _no_pending
from tests.support import ROOT, eventually, oicp_settings

DATA = "eRoamingPushEvseData_V2.3"
DEMO_SITES = ROOT / "simulators" / "demo" / "sites.toml"
WINTER = datetime(2026, 1, 15, 12, tzinfo=UTC)
SUMMER = datetime(2026, 7, 15, 12, tzinfo=UTC)


def demo_site(**changes: Any) -> Site:
    [site] = parse_sites(tomllib.loads(DEMO_SITES.read_text()))
    return replace(site, **changes)


def data_validator() -> Any:
    [operation] = [op for op in load_operations() if op.operation_id == DATA]
    return operation.validator


@pytest.mark.parametrize("site", [
    demo_site(),
    demo_site(open_24_hours=False, accessibility_location="",
              opening_times=({"on": "Workdays", "begin": "07:00", "end": "22:00"},)),
    demo_site(country="AUT", latitude=-33.5, longitude=-70.25, time_zone="America/Santiago"),
])
def test_records_are_valid_for_hubject(site: Site) -> None:
    records = [evse_data.evse_data_record(site, evse_id, "CP1", WINTER)
               for evse_id in ("DE*ABC*E0001*1", "DE*ABC*E0001*2")]
    for action in ("fullLoad", "insert", "update", "delete"):
        body = evse_data.push_evse_data("DE*ABC", "ABC Charging", action, records)
        assert [e.message for e in data_validator().iter_errors(body)] == []


def test_record_content() -> None:
    ac, dc = (evse_data.evse_data_record(demo_site(), evse_id, "CP1", WINTER)
              for evse_id in ("DE*ABC*E0001*1", "DE*ABC*E0001*2"))
    assert ac["Address"] == {"Country": "DEU", "City": "Berlin", "Street": "Torgauer Strasse",
                             "PostalCode": "10829", "HouseNum": "12", "TimeZone": "UTC+01:00"}
    assert ac["GeoCoordinates"] == {"DecimalDegree": {"Latitude": "52.480495",
                                                      "Longitude": "13.356465"}}
    assert (ac["Plugs"], ac["ChargingFacilities"][0]["Power"]) == (["Type 2 Outlet"], 22)
    assert (dc["Plugs"], dc["ChargingFacilities"][0]["PowerType"]) == \
        (["CCS Combo 2 Plug (Cable Attached)"], "DC")
    assert ac["DynamicInfoAvailable"] == "true" and ac["IsHubjectCompatible"] is True
    assert ac["AccessibilityLocation"] == "ParkingLot" and "OpeningTimes" not in ac


@pytest.mark.parametrize(("zone", "at", "expected"), [
    ("Europe/Berlin", WINTER, "UTC+01:00"), ("Europe/Berlin", SUMMER, "UTC+02:00"),
    ("UTC", WINTER, "UTC+00:00"), ("America/New_York", WINTER, "UTC-05:00"),
    ("Asia/Kolkata", SUMMER, "UTC+05:30"),
])
def test_utc_offset(zone: str, at: datetime, expected: str) -> None:
    assert evse_data.utc_offset(zone, at) == expected


A, B, C = ({"EvseID": k, "v": 1} for k in "ABC")


@pytest.mark.parametrize(("sent", "wanted", "expected"), [
    ({}, {"A": A}, {"insert": [A]}),
    ({"A": A}, {"A": A}, {}),
    ({"A": A}, {"A": {**A, "v": 2}}, {"update": [{**A, "v": 2}]}),
    ({"A": A, "B": B}, {"A": A}, {"delete": [B]}),
    ({"A": A, "B": B}, {"B": {**B, "v": 2}, "C": C},
     {"insert": [C], "update": [{**B, "v": 2}], "delete": [A]}),
])
def test_changes(sent: Any, wanted: Any, expected: Any) -> None:
    assert evse_data.changes(sent, wanted) == expected


@pytest.mark.parametrize(("data", "message"), [
    ({"id": "x", "name": "n"}, "missing"),
    ({**demo_site().to_json(), "colour": "red"}, "unknown keys colour"),
    ({**demo_site().to_json(), "country": "DE"}, "alpha-3"),
    ({**demo_site().to_json(), "hotline": "030 1234"}, "hotline"),
    ({**demo_site().to_json(), "latitude": 91.0}, "latitude"),
])
def test_bad_sites_are_explained(data: dict[str, Any], message: str) -> None:
    with pytest.raises(SiteError, match=message):
        parse_site(data)


def test_stored_site_reads_back() -> None:
    site = demo_site()
    assert parse_site(site.to_json()) == site


def records(hubject: SimulatedHubject) -> list[tuple[str, list[str]]]:
    return [(r.body["ActionType"], [e["EvseID"] for e in r.body["OperatorEvseData"]["EvseDataRecord"]])
            for r in hubject.accepted(DATA)]


async def test_evse_changes_reach_hubject(make_app: AppFactory, hubject: SimulatedHubject) -> None:
    app = await make_app(oicp=oicp_settings(hubject))
    evses = {1: "DE*ABC*E0001*1", 2: "DE*ABC*E0001*2"}
    await register(app.pool, "CP1", None, evses, events=app.events,  # on no site yet: nothing
                   security_profile=0)
    site = demo_site()
    assert await assign_sites(app.pool, app.events, [site]) == []
    await register(app.pool, "CP1", None, evses, events=app.events, security_profile=0)  # unchanged: nothing
    await assign_sites(app.pool, app.events, [replace(site, hotline="+4930999999")])
    await register(app.pool, "CP1", None, {3: "DE*ABC*E0001*3"}, events=app.events, security_profile=0)
    assert await retire(app.pool, app.events, "CP1", [2]) == 1
    assert await app.oicp.push_all_evse_data() == 2  # type: ignore[union-attr]
    await eventually(lambda: _no_pending(app))

    assert records(hubject) == [
        ("insert", ["DE*ABC*E0001*1", "DE*ABC*E0001*2"]),
        ("update", ["DE*ABC*E0001*1", "DE*ABC*E0001*2"]),
        ("insert", ["DE*ABC*E0001*3"]),
        ("delete", ["DE*ABC*E0001*2"]),
        ("fullLoad", ["DE*ABC*E0001*1", "DE*ABC*E0001*3"]),
    ]
    update = hubject.accepted(DATA)[1].body["OperatorEvseData"]["EvseDataRecord"][0]
    assert update["HotlinePhoneNumber"] == "+4930999999"
    assert hubject.invalid == [] and hubject.max_in_flight == 1

    # Moved off the site: Hubject drops its EVSEs.
    await assign_sites(app.pool, app.events, [replace(site, charge_points=())])
    await eventually(lambda: _async(records(hubject)[-1:] == [
        ("delete", ["DE*ABC*E0001*1", "DE*ABC*E0001*3"])]))


async def test_pushes_wait_out_an_outage_in_order(make_app: AppFactory,
                                                  hubject: SimulatedHubject) -> None:
    app = await make_app(oicp=oicp_settings(hubject))
    await register(app.pool, "CP1", None, {1: "DE*ABC*E0001*1"}, events=app.events, security_profile=0)
    hubject.down = True
    await assign_sites(app.pool, app.events, [demo_site()])
    await assign_sites(app.pool, app.events, [demo_site(hotline="+4930999999")])
    await eventually(lambda: _async(len(hubject.received) >= 3))  # retried, refused
    assert hubject.accepted(DATA) == []
    hubject.down = False
    await eventually(lambda: _no_pending(app))
    assert records(hubject) == [("insert", ["DE*ABC*E0001*1"]), ("update", ["DE*ABC*E0001*1"])]


async def test_scheduled_full_loads(make_app: AppFactory, hubject: SimulatedHubject) -> None:
    app = await make_app(oicp=oicp_settings(hubject, full_load_interval=0.3))
    await register(app.pool, "CP1", None, {1: "DE*ABC*E0001*1"}, security_profile=0)
    await assign_sites(app.pool, app.events, [demo_site()])

    def full_loads() -> set[str]:
        return {r.operation for r in hubject.accepted() if r.body.get("ActionType") == "fullLoad"}
    assert await eventually(lambda: _async(full_loads() == {DATA, "eRoamingPushEvseStatus_V2.1"}))
    assert hubject.invalid == []
