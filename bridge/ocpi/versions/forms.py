"""Each OCPI version's objects from the same domain inputs: one interface, 2.2.1's builders or 2.1.1's."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

import structlog

from bridge.ocpi import sessions
from bridge.ocpi.publishing.locations import EvseFacts, location_object
from bridge.ocpi.publishing.places import Priced
from bridge.ocpi.v211 import cdrs as cdrs_211
from bridge.ocpi.v211 import locations as locations_211
from bridge.ocpi.v211 import sessions as sessions_211
from bridge.ocpi.v211 import tariffs as tariffs_211
from bridge.ocpi.v211.inexpressible import Inexpressible, Losses, log_once
from bridge.ocpi.v211.sessions import RESERVED
from csms.config import OcpiSettings
from csms.domain.billing.cost import Costing
from csms.domain.sites import Site

log = structlog.get_logger(__name__)

__all__ = ["RESERVED", "Forms", "Forms211", "Forms221"]


class Forms(Protocol):
    """`status`: a domain SessionStatus value, or RESERVED (a reservation holds the session's
    EVSE). None: the object cannot be said in this version (and is not sent)."""

    def location(self, settings: OcpiSettings, site: Site, evses: list[EvseFacts],
                 last_updated: datetime) -> dict[str, Any]: ...

    def tariff(self, settings: OcpiSettings, tariff: dict[str, Any],
               last_updated: datetime) -> dict[str, Any] | None: ...

    def session(self, settings: OcpiSettings, session_id: str, ocpi: dict[str, Any],
                priced: Priced, started_at: datetime, kwh: float, status: str,
                last_updated: datetime,
                stopped_at: datetime | None = None) -> dict[str, Any] | None: ...

    def session_patch(self, session_id: str, kwh: float, last_updated: datetime,
                      status: str | None = None, stopped_at: datetime | None = None,
                      cost: Costing | None = None) -> dict[str, Any]: ...

    def cdr(self, settings: OcpiSettings, session_id: str, ocpi: dict[str, Any], priced: Priced,
            started_at: datetime, stopped_at: datetime, cost: Costing,
            last_updated: datetime, cdr_id: str | None = None) -> dict[str, Any] | None: ...


def _status_221(status: str) -> str:
    return "RESERVATION" if status == RESERVED else sessions.ocpi_session_status(status)


class Forms221:
    def location(self, settings: OcpiSettings, site: Site, evses: list[EvseFacts],
                 last_updated: datetime) -> dict[str, Any]:
        return location_object(site, evses, settings.country_code, settings.party_id,
                               settings.business_name, last_updated)

    def tariff(self, settings: OcpiSettings, tariff: dict[str, Any],
               last_updated: datetime) -> dict[str, Any] | None:
        return sessions.tariff_object(settings.country_code, settings.party_id, tariff,
                                      last_updated)

    def session(self, settings: OcpiSettings, session_id: str, ocpi: dict[str, Any],
                priced: Priced, started_at: datetime, kwh: float, status: str,
                last_updated: datetime,
                stopped_at: datetime | None = None) -> dict[str, Any] | None:
        return sessions.session_object(settings.country_code, settings.party_id, session_id,
                                       ocpi, priced.place, started_at, kwh, _status_221(status),
                                       priced.currency, last_updated, stopped_at)

    def session_patch(self, session_id: str, kwh: float, last_updated: datetime,
                      status: str | None = None, stopped_at: datetime | None = None,
                      cost: Costing | None = None) -> dict[str, Any]:
        return sessions.session_patch(kwh, last_updated, status and _status_221(status),
                                      stopped_at, cost)

    def cdr(self, settings: OcpiSettings, session_id: str, ocpi: dict[str, Any], priced: Priced,
            started_at: datetime, stopped_at: datetime, cost: Costing,
            last_updated: datetime, cdr_id: str | None = None) -> dict[str, Any] | None:
        return sessions.cdr_object(settings.country_code, settings.party_id, session_id, ocpi,
                                   priced.place, started_at, stopped_at, cost, priced.tariff,
                                   priced.currency, last_updated, cdr_id)


class Forms211:
    """bridge/ocpi/v211's builders; what they cannot say is logged once (inexpressible)."""

    def location(self, settings: OcpiSettings, site: Site, evses: list[EvseFacts],
                 last_updated: datetime) -> dict[str, Any]:
        losses = Losses()
        try:
            return locations_211.location_object(site, evses, settings.business_name,
                                                 last_updated, losses)
        finally:
            log_once(losses)

    def tariff(self, settings: OcpiSettings, tariff: dict[str, Any],
               last_updated: datetime) -> dict[str, Any] | None:
        losses = Losses()
        try:
            return tariffs_211.tariff_object(tariff, last_updated, losses)
        except Inexpressible:
            return None
        finally:
            log_once(losses)

    def session(self, settings: OcpiSettings, session_id: str, ocpi: dict[str, Any],
                priced: Priced, started_at: datetime, kwh: float, status: str,
                last_updated: datetime,
                stopped_at: datetime | None = None) -> dict[str, Any] | None:
        losses = Losses()
        try:
            return sessions_211.session_object(session_id, ocpi, priced, started_at, kwh, status,
                                               last_updated, stopped_at, losses=losses)
        except Inexpressible:
            return None
        finally:
            log_once(losses)

    def session_patch(self, session_id: str, kwh: float, last_updated: datetime,
                      status: str | None = None, stopped_at: datetime | None = None,
                      cost: Costing | None = None) -> dict[str, Any]:
        losses = Losses()
        try:
            return sessions_211.session_patch(session_id, kwh, last_updated, status, stopped_at,
                                              cost, losses)
        finally:
            log_once(losses)

    def cdr(self, settings: OcpiSettings, session_id: str, ocpi: dict[str, Any], priced: Priced,
            started_at: datetime, stopped_at: datetime, cost: Costing,
            last_updated: datetime, cdr_id: str | None = None) -> dict[str, Any] | None:
        losses = Losses()
        try:
            cdr = cdrs_211.cdr_object(session_id, ocpi, priced, started_at, stopped_at, cost,
                                      last_updated, losses)
            return cdr if cdr_id is None else {**cdr, "id": cdr_id}
        except Inexpressible:
            return None
        finally:
            log_once(losses)
