"""What OCPI 2.1.1 cannot say that our domain (and OCPI 2.2.1) can, and what the 2.1.1 builders do instead."""

from __future__ import annotations

from dataclasses import dataclass, field

import structlog

log = structlog.get_logger(__name__)

# Every gap, decided once, the same for every object so that a partner sees consistent objects.
# Left out of every object, whatever its values: nothing to note per object.
LEFT_OUT: dict[str, str] = {
    "country_code, party_id": "2.1.1 objects do not name their party: the credentials do",
    "Location.publish": "2.1.1 has no publish flag (mod_locations 3.1); we only send what we "
                        "publish anyway",
    "Location.parking_type": "said by Location.type instead (mod_locations 4.16 LocationType; "
                             "UNKNOWN when the site names no parking place)",
    "Connector.max_voltage, max_amperage": "said as voltage and amperage (mod_locations 3.3)",
    "Connector.max_electric_power": "2.1.1 has no such field (mod_locations 3.3)",
    "Connector.tariff_ids": "said as the one tariff_id (mod_locations 3.3); we price an EVSE "
                            "by one tariff anyway",
    "Session.cdr_token": "said as auth_id, the token's contract id (mod_sessions 3.1, "
                         "mod_tokens 3.2)",
    "Session.location_id, evse_uid, connector_id": "said as a whole Location with only the "
                                                   "EVSE and connector concerned "
                                                   "(mod_sessions 3.1, mod_cdrs 3.1)",
    "ChargingPeriod.tariff_id": "2.1.1 ChargingPeriod has no tariff_id (mod_cdrs 4.4); the "
                                "CDR's tariffs list names the tariff",
    "total_cost.incl_vat": "2.1.1 total_cost is one number excluding VAT (mod_sessions 3.1, "
                           "mod_cdrs 3.1); total_fixed/energy/time/parking_cost do not exist",
    "authorization_reference": "2.1.1 Sessions and CDRs have none (mod_sessions 3.1, "
                               "mod_cdrs 3.1)",
    "CDR.cdr_location": "said as a whole Location (mod_cdrs 3.1)",
    "CDR.end_date_time": "said as stop_date_time (mod_cdrs 3.1)",
}

# Depending on the values: the builders note these (a Losses the caller passes), each with where it
# happened; the caller logs them with log_once. An Inexpressible object is not sent at all.
CATALOGUE: dict[str, str] = {
    "Connector.standard": "NEMA_5_20 is not a 2.1.1 ConnectorType (mod_locations 4.4): "
                          "DOMESTIC_B (NEMA 5-15), the plug a 5-20 receptacle takes",
    "text.ascii": "2.1.1 strings are printable ASCII only (types 1.5): accents are dropped "
                  "(Köln → Koln), other characters become '?'",
    "text.length": "cut to the field's 2.1.1 maximum length (shorter than 2.2.1's for "
                   "address and city: 45)",
    "Session.status.RESERVATION": "2.1.1 has no RESERVATION (mod_sessions 4.1): a session held "
                                  "by a reservation is PENDING (not all pre-conditions are met)",
    "auth_method.COMMAND": "2.1.1 AuthMethod has no COMMAND (mod_cdrs 4.1): a remote start is "
                           "AUTH_REQUEST, the eMSP having authorized it by its START_SESSION",
    "CdrDimension.MAX_POWER": "left out: not a 2.1.1 CdrDimensionType (mod_cdrs 4.3)",
    "CdrDimension.MIN_POWER": "left out: not a 2.1.1 CdrDimensionType (mod_cdrs 4.3)",
    "Session.place": "a session or CDR on a charger with no site has no address, which a 2.1.1 "
                     "Location requires (mod_locations 3.1): it cannot be sent",
    "PriceComponent.vat": "left out: 2.1.1 prices are excluding VAT with no VAT rate "
                          "(mod_tariffs 4.2)",
    "Tariff.type": "left out: 2.1.1 tariffs have no type (mod_tariffs 3.1); every tariff is "
                   "the one that applies",
    "Tariff.min_price": "left out: 2.1.1 has no minimum price (mod_tariffs 3.1); CDRs still "
                        "carry the cost as billed",
    "Tariff.max_price": "left out: 2.1.1 has no maximum price (mod_tariffs 3.1); CDRs still "
                        "carry the cost as billed",
    "Tariff.start_date_time": "left out: 2.1.1 tariffs have no validity period (mod_tariffs 3.1)",
    "Tariff.end_date_time": "left out: 2.1.1 tariffs have no validity period (mod_tariffs 3.1)",
    "TariffRestrictions.min_current": "the element is left out: 2.1.1 restrictions have no "
                                      "current (mod_tariffs 4.5), and the element without it "
                                      "would claim its price for every current",
    "TariffRestrictions.max_current": "the element is left out: 2.1.1 restrictions have no "
                                      "current (mod_tariffs 4.5), and the element without it "
                                      "would claim its price for every current",
    "TariffRestrictions.reservation": "the element is left out: 2.1.1 prices no reservations "
                                      "(mod_tariffs 4.5)",
    "Tariff.elements": "a tariff none of whose elements 2.1.1 can say cannot be sent "
                       "(elements is + in mod_tariffs 3.1)",
}


class Inexpressible(ValueError):
    """An object OCPI 2.1.1 cannot carry at all; the message names the catalogue entry."""


@dataclass(frozen=True)
class Loss:
    where: str  # which object: "Tariff 'T1'", "Location 'S1'"
    key: str  # the CATALOGUE entry
    detail: str = ""  # the value concerned, if it helps

    def __str__(self) -> str:
        detail = f" ({self.detail})" if self.detail else ""
        return f"{self.where}: {self.key}{detail}: {CATALOGUE[self.key]}"


@dataclass
class Losses:
    """What one or more builds left out or mapped; the builders only add to it (they stay pure)."""

    items: list[Loss] = field(default_factory=list)

    def add(self, where: str, key: str, detail: str = "") -> None:
        assert key in CATALOGUE, key
        loss = Loss(where, key, detail)
        if loss not in self.items:
            self.items.append(loss)

    def keys(self) -> set[str]:
        return {loss.key for loss in self.items}


_logged: set[tuple[str, str]] = set()
_LOGGED_AT_MOST = 10_000  # distinct cases remembered; then the memory starts afresh


def log_once(losses: Losses) -> None:
    """Log each case (what, and the value concerned) the first time this process meets it, with the
    object it met first: a Location rebuilt every minute, or every session's CDR, must not log
    every time."""
    for loss in losses.items:
        case = (loss.key, loss.detail)
        if case in _logged:
            continue
        if len(_logged) >= _LOGGED_AT_MOST:
            _logged.clear()
        _logged.add(case)
        log.info("ocpi 2.1.1 cannot say", where=loss.where, what=loss.key, detail=loss.detail,
                 decision=CATALOGUE[loss.key])


def note(losses: Losses | None, where: str, key: str, detail: str = "") -> None:
    """Record a loss when a collector was given."""
    if losses is not None:
        losses.add(where, key, detail)
