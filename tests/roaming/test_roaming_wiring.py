"""The operator surfaces see the bridges only through csms/app.py's wiring: the console's partners
list shows each registered OCPI party with its deliveries (the wiring hands the console its partners)."""

from __future__ import annotations

from typing import Any

from simulators.partners.emsp import SimulatedEmsp
from tests.conftest import AppFactory
from tests.operators.console.test_console import api_for  # noqa: F401  (the console tests' API client fixture)
from tests.support import ocpi_settings, parties_of


async def test_console_lists_an_ocpi_partner(make_app: AppFactory, emsp: SimulatedEmsp,
                                             api_for: Any) -> None:  # noqa: F811
    app = await make_app(ocpi=ocpi_settings())
    assert app.ocpi is not None
    partner = await app.ocpi.registrar.register_with(emsp.versions_url, emsp.token_a, "sim",
                                                     parties=parties_of(emsp))
    api = await api_for(app)

    [party] = [p for p in await api.items("/partners") if p["kind"] == "ocpi"]
    # By its business name (its credentials say it), not the name it was registered by.
    assert party["partner"] == partner.outbox_name and party["name"] == "Simulated eMSP"
    assert party["registration"] == "registered" and party["versions_url"] == emsp.versions_url
    assert set(party) >= {"last_status_push", "last_data_push", "state", "waiting"}
