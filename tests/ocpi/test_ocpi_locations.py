"""OCPI Locations as a sender: pushes to the eMSP, GET of objects, and paging that holds under updates."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from bridge.ocpi.publishing.locations import EvseFacts, location_object
from bridge.ocpi.publishing.status import ocpi_evse_status
from csms.app import App
from csms.domain.charge_points import assign_sites, register
from csms.domain.model import EvseStatus
from simulators.partners.emsp import SimulatedEmsp, problems
from tests.conftest import AppFactory, SimFactory
from tests.oicp.test_oicp_evse_data import demo_site
from tests.oicp.test_oicp_roaming import _async
from tests.support import eventually, ocpi_pushes_queued, ocpi_settings, parties_of


@pytest.mark.parametrize(("field", "value"), [
    ("street", "Bürgermeister-Dr.-Hans-Müller-Straße am Rheinufer"), ("city", "C" * 60),
    ("postal_code", "12345-67890"), ("name", "N" * 300)])
def test_long_site_texts_are_cut_to_the_location_limits(field: str, value: str) -> None:
    site = replace(demo_site(), **{field: value})
    location = location_object(site, [EvseFacts("CP1-1", "DE*ABC*E0001*1", EvseStatus.AVAILABLE,
                                                False, datetime.now(UTC))],
                               "DE", "ABC", "ABC Charging", datetime.now(UTC))
    assert problems("Location", location) == []


@pytest.mark.parametrize(("status", "retired", "expected"), [
    (EvseStatus.AVAILABLE, False, "AVAILABLE"),
    (EvseStatus.PREPARING, False, "CHARGING"),
    (EvseStatus.CHARGING, False, "CHARGING"),
    (EvseStatus.SUSPENDED, False, "CHARGING"),
    (EvseStatus.OCCUPIED, False, "CHARGING"),
    (EvseStatus.FINISHING, False, "BLOCKED"),
    (EvseStatus.RESERVED, False, "RESERVED"),
    (EvseStatus.UNAVAILABLE, False, "INOPERATIVE"),
    (EvseStatus.FAULTED, False, "OUTOFORDER"),
    (EvseStatus.UNKNOWN, False, "UNKNOWN"),
    ("nonsense", False, "UNKNOWN"),
    (EvseStatus.AVAILABLE, True, "REMOVED"),
])
def test_status_mapping(status: str, retired: bool, expected: str) -> None:
    assert ocpi_evse_status(status, retired) == expected


async def registered_app(make_app: AppFactory, emsp: SimulatedEmsp) -> App:
    app = await make_app(ocpi=ocpi_settings())
    assert app.ocpi is not None
    await app.ocpi.registrar.register_with(emsp.versions_url, emsp.token_a, "sim", parties=parties_of(emsp))
    await ocpi_pushes_queued(app)  # its full push (of nothing yet): what follows is pushed once
    return app


def locations_url(app: App, *parts: str) -> str:
    return "/".join([app.settings.ocpi.public_url + "/ocpi/2.2.1/locations", *parts])


async def test_pushes_and_gets(make_app: AppFactory, emsp: SimulatedEmsp, sims: SimFactory) -> None:
    app = await registered_app(make_app, emsp)
    await register(app.pool, "CP1", None, {1: "DE*ABC*E0001*1", 2: "DE*ABC*E0001*2"},
                   events=app.events, security_profile=0)
    await assign_sites(app.pool, app.events, [demo_site()])
    [put] = await eventually(lambda: _async(emsp.of("PUT", "/locations/DE/ABC/berlin-hub")))
    assert [e["evse_id"] for e in put.body["evses"]] == ["DE*ABC*E0001*1", "DE*ABC*E0001*2"]
    assert put.headers["OCPI-to-party-id"] == "EMS" and put.headers["OCPI-from-party-id"] == "ABC"

    sim = sims(app, connectors=2)
    await sim.start()

    def patched() -> list[Any]:
        return [r.body["status"] for r in emsp.of("PATCH", "/locations/DE/ABC/berlin-hub/CP1-2")]
    await eventually(lambda: _async(patched()[-1:] == ["AVAILABLE"]))  # its report after boot
    await sim.set_status(2, "Faulted", "GroundFailure")
    await eventually(lambda: _async(patched()[-1:] == ["OUTOFORDER"]))
    assert emsp.invalid == []

    status, _, answer = await emsp.call("GET", locations_url(app, "berlin-hub"), schema="Location")
    assert (status, answer["status_code"]) == (200, 1000)
    evse = answer["data"]["evses"][1]
    assert (evse["uid"], evse["status"]) == ("CP1-2", "OUTOFORDER")
    assert evse["connectors"][0]["standard"] == "IEC_62196_T2_COMBO"
    status, _, answer = await emsp.call("GET", locations_url(app, "berlin-hub", "CP1-1"), schema="EVSE")
    assert answer["data"]["evse_id"] == "DE*ABC*E0001*1"
    status, _, answer = await emsp.call("GET", locations_url(app, "berlin-hub", "CP1-1", "1"),
                                        schema="Connector")
    assert answer["data"]["power_type"] == "AC_3_PHASE"
    for parts in (("nowhere",), ("berlin-hub", "CP9-9"), ("berlin-hub", "CP1-1", "7")):
        status, _, answer = await emsp.call("GET", locations_url(app, *parts))
        assert (status, answer["status_code"]) == (404, 2003), parts
    assert emsp.bad_answers == []


async def test_paging_250_locations_while_they_change(make_app: AppFactory,
                                                      emsp: SimulatedEmsp) -> None:
    app = await registered_app(make_app, emsp)
    sites = []
    for n in range(250):
        await register(app.pool, f"P{n:03}", None, {1: f"DE*ABC*E{n:04}*1"}, security_profile=0)
        sites.append(replace(demo_site(), id=f"site-{n:03}", charge_points=(f"P{n:03}",), evses={}))
    await assign_sites(app.pool, app.events, sites)

    url: str | None = locations_url(app) + "?limit=50"
    seen: list[str] = []
    changed: set[str] = set()
    pages = 0
    while url:
        status, headers, answer = await emsp.call("GET", url, schema="Location")
        assert (status, answer["status_code"]) == (200, 1000)
        assert int(headers["X-Limit"]) == 50 and len(answer["data"]) <= 50
        if pages == 0:
            assert headers["X-Total-Count"] == "250"
        seen += [location["id"] for location in answer["data"]]
        # Meanwhile chargers report: some of the listed, some of the not yet listed locations.
        for n in (pages * 50 + 3, 240 - pages * 7):
            await app.services.charge_points.status(f"P{n:03}", 1, 1, EvseStatus.CHARGING,
                                                    "Charging", None, datetime.now(UTC))
            changed.add(f"site-{n:03}")
        match = re.match(r"<(.+)>; rel=\"next\"", headers.get("Link", ""))
        url = match.group(1) if match else None
        pages += 1
    assert len(seen) == len(set(seen)), "a location came twice"
    missing = {s.id for s in sites} - set(seen)
    assert missing <= changed, "a location that did not change was skipped"
    assert pages >= 5 and emsp.bad_answers == []
