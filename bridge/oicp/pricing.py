"""eRoamingDynamicPricing (v1.0): OCPI-model tariffs as Hubject pricing products and EVSE pricing, purely."""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from bridge.oicp.evse_data import changes
from csms.domain.billing.cost import in_window

OPERATION_PRODUCTS = "PushPricingProductData"
OPERATION_EVSE = "PushEVSEPricing"
ALL = "*"
DEFAULT_POWER_KW = 22.0  # a site's EVSE power unless it says otherwise (csms.domain.sites.EvseDetails)
META = "#"  # keys of a data set's state that are not records (the default price)

_DAY = 24 * 60
_WEEK = 7 * _DAY
_OCPI_DAYS = ("MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY")
_OICP_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
# What a pricing product can say about when it applies; kWh, duration, power and current cannot.
_EXPRESSIBLE = {"start_time", "end_time", "day_of_week", "start_date", "end_date"}
# Why the rest cannot: a product applies by weekday and time of day only (ProductAvailabilityTimes).
_UNEXPRESSIBLE = {"min_kwh": "the energy charged", "max_kwh": "the energy charged",
                  "min_current": "the charging current", "max_current": "the charging current",
                  "min_power": "the charging power", "max_power": "the charging power",
                  "min_duration": "the session's duration", "max_duration": "the session's duration"}
_DIMENSIONS = ("ENERGY", "TIME", "PARKING_TIME", "FLAT")
_MAX_ID = 50
# OCPI's TIME and PARKING_TIME prices are per hour: OICP's HOUR says so exactly.
TIME_UNIT = "HOUR"
# START, FIXED, MINIMUM and MAXIMUM FEE are amounts per session (OICP 2.3 AdditionalReferenceType),
# yet AdditionalReferenceUnit is mandatory and ReferenceUnitType offers only HOUR, KILOWATT_HOUR
# and MINUTE: none reads "per session". The fee's kind carries the meaning; its unit is HOUR, the
# unit Hubject's own eRoamingPushPricingProductData example gives an AdditionalReference. Never
# KILOWATT_HOUR, which an EMP reads as a price per kWh.
SESSION_FEE_UNIT = "HOUR"
SESSION_FEES = ("START FEE", "FIXED FEE", "MINIMUM FEE", "MAXIMUM FEE")


def products_path(operator_id: str) -> str:
    return f"/dynamicpricing/v10/operators/{quote(operator_id, safe='*')}/pricing-products"


def evse_pricing_path(operator_id: str) -> str:
    return f"/dynamicpricing/v10/operators/{quote(operator_id, safe='*')}/evse-pricing"


@dataclass(frozen=True)
class Products:
    """A tariff's pricing products and the week they cover (local wall time, Monday 00:00 first)."""

    records: list[dict[str, Any]]
    segments: list[tuple[int, int, str | None]]  # [start, end) minute of the week → ProductID
    notes: list[str]  # what of the tariff the products cannot express

    @property
    def ids(self) -> list[str]:
        return [record["ProductID"] for record in self.records]

    def at_minute(self, minute: int) -> str | None:
        starts = [start for start, _, _ in self.segments]
        return self.segments[bisect_right(starts, minute) - 1][2]


@dataclass(frozen=True)
class _Element:
    index: int
    restrictions: dict[str, Any]
    components: dict[str, dict[str, Any]]  # the first component of each dimension


def _minutes(clock: str) -> int:
    hour, minute = (int(x) for x in clock.split(":"))
    return hour * 60 + minute


def _applies(element: _Element, minute_of_week: int) -> bool:
    """OCPI's day_of_week and start_time/end_time, as csms.domain.billing.cost checks them."""
    r = element.restrictions
    day, now = divmod(minute_of_week, _DAY)
    if r.get("day_of_week") and _OCPI_DAYS[day] not in r["day_of_week"]:
        return False
    return in_window(now, _minutes(r["start_time"]) if r.get("start_time") else None,
                     _minutes(r["end_time"]) if r.get("end_time") else None)


def _in_force(restrictions: dict[str, Any], today: date) -> bool:
    if restrictions.get("start_date") and today < date.fromisoformat(restrictions["start_date"]):
        return False
    return not (restrictions.get("end_date") and today >= date.fromisoformat(restrictions["end_date"]))


def _clock(minute: int, end: bool = False) -> str:
    # Hubject writes the end of the day as 23:59 (its own example of a product valid all day).
    if end and minute == _DAY:
        return "23:59"
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _availability(spans: list[tuple[int, int]]) -> list[dict[str, Any]]:
    """Minutes of the week → ProductAvailabilityTimes, days with the same periods grouped."""
    per_day: list[list[tuple[int, int]]] = [[] for _ in range(7)]
    for start, end in sorted(spans):
        day, begin = divmod(start, _DAY)
        periods = per_day[day]
        if periods and periods[-1][1] == begin:  # adjacent segments of one product
            periods[-1] = (periods[-1][0], end - day * _DAY)
        else:
            periods.append((begin, end - day * _DAY))
    days = [tuple(periods) for periods in per_day]
    groups: list[tuple[str, tuple[tuple[int, int], ...]]] = []
    remaining = list(range(7))
    if len(set(days)) == 1:
        groups.append(("Everyday", days[0]))
        remaining = []
    if remaining and len(set(days[:5])) == 1 and days[0]:
        groups.append(("Workdays", days[0]))
        remaining = [5, 6]
    weekend = bool(remaining) and days[5] == days[6] and bool(days[5])
    groups += [(_OICP_DAYS[day], days[day]) for day in remaining if not (weekend and day >= 5)]
    if weekend:
        groups.append(("Weekend", days[5]))
    return [{"Periods": [{"begin": _clock(begin), "end": _clock(end, True)} for begin, end in periods],
             "on": on} for on, periods in groups if periods]


def _reference(kind: str, unit: str, price: float) -> dict[str, Any]:
    return {"AdditionalReference": kind, "AdditionalReferenceUnit": unit,
            "PricePerAdditionalReferenceUnit": price}


def _record(product_id: str, tariff: dict[str, Any], picks: dict[str, dict[str, Any]],
            spans: list[tuple[int, int]], max_power_kw: float, notes: list[str]) -> dict[str, Any]:
    """One product: the main price per kWh (else per hour), the rest as additional references.
    Prices are without VAT, as Hubject asks."""
    energy, time, parking, flat = (picks.get(d) for d in _DIMENSIONS)
    if energy is not None:
        unit, price = "KILOWATT_HOUR", float(energy["price"])
        if time is not None:
            # No AdditionalReference prices charging time (PARKING FEE is parking).
            notes.append(f"{product_id}: its TIME price ({time['price']}/h) is left out: a product "
                         "has one main price and no fee per charging time; EMPs see the kWh price only")
    elif time is not None:
        unit, price = TIME_UNIT, float(time["price"])
    else:
        unit, price = SESSION_FEE_UNIT, 0.0  # FIXED FEE or parking only: no main price
    references = []
    if flat is not None:
        # FIXED FEE: the session's only price (the spec wants the base price zero then).
        references.append(_reference("START FEE" if energy or time else "FIXED FEE", SESSION_FEE_UNIT,
                                     float(flat["price"])))
    if parking is not None:
        references.append(_reference("PARKING FEE", TIME_UNIT, float(parking["price"])))
    for key, kind in (("min_price", "MINIMUM FEE"), ("max_price", "MAXIMUM FEE")):
        if tariff.get(key):
            references.append(_reference(kind, SESSION_FEE_UNIT, float(tariff[key]["excl_vat"])))
    for component in (energy, time, parking):
        if component is not None and int(component.get("step_size") or 0) > 1:
            notes.append(f"{product_id}: {component['type']} is billed in steps of "
                         f"{component['step_size']}, which a product cannot say")
    whole_week = sum(end - start for start, end in spans) == _WEEK
    record: dict[str, Any] = {
        "ProductID": product_id,
        "ReferenceUnit": unit,
        "ProductPriceCurrency": tariff["currency"],
        "PricePerReferenceUnit": price,
        "MaximumProductChargingPower": max_power_kw,
        "IsValid24hours": whole_week,
        "ProductAvailabilityTimes": (
            [{"Periods": [{"begin": "00:00", "end": "23:59"}], "on": "Everyday"}] if whole_week
            else _availability(spans)),
    }
    if references:
        record["AdditionalReferences"] = references
    return record


def pricing_products(tariff: dict[str, Any], max_power_kw: float, today: date) -> Products:
    """A tariff's pricing products: one per combination of prices in force at some time of the
    week, chosen as OCPI chooses (per dimension, the first element whose restrictions hold).

    ProductIDs: the tariff id when one product covers it, else the id with -1, -2, … in the order
    they first apply from Monday 00:00. Elements restricted by what a product cannot express
    (kWh, duration, power, current) are left out, with a note; date restrictions are judged on
    `today`. Reservation elements price reservations, not sessions: left out, with a note.
    """
    notes: list[str] = []
    elements: list[_Element] = []
    for index, element in enumerate(tariff["elements"]):
        restrictions = {k: v for k, v in (element.get("restrictions") or {}).items() if v is not None}
        if restrictions.get("reservation"):
            notes.append(f"element {index + 1} is left out: it prices reservations "
                         f"({restrictions['reservation']}), which a pricing product cannot")
            continue
        unsupported = sorted(set(restrictions) - _EXPRESSIBLE)
        if unsupported:
            why = sorted({_UNEXPRESSIBLE.get(key, key) for key in unsupported})
            notes.append(f"element {index + 1} is left out: {', '.join(unsupported)} cannot be "
                         f"expressed in a pricing product (it has no field for {' or '.join(why)})")
            continue
        if not _in_force(restrictions, today):
            continue
        components: dict[str, dict[str, Any]] = {}
        for component in element["price_components"]:
            components.setdefault(component["type"], component)
        elements.append(_Element(index, restrictions, components))

    # The picks can change only at day starts and at the elements' start/end times.
    bounds = {day * _DAY for day in range(8)}
    for element in elements:
        for clock in ("start_time", "end_time"):
            if element.restrictions.get(clock):
                bounds.update(day * _DAY + _minutes(element.restrictions[clock]) % _DAY
                              for day in range(7))
    edges = sorted(b for b in bounds if b <= _WEEK)
    keyed: list[tuple[int, int, tuple[int | None, ...]]] = []
    for start, end in zip(edges, edges[1:], strict=False):
        key = tuple(next((e.index for e in elements if d in e.components and _applies(e, start)),
                         None) for d in _DIMENSIONS)
        keyed.append((start, end, key))

    order = list(dict.fromkeys(key for _, _, key in keyed if any(i is not None for i in key)))
    base = str(tariff["id"])
    names = {key: base[:_MAX_ID] if len(order) == 1 else f"{base[:_MAX_ID - len(str(n)) - 1]}-{n}"
             for n, key in enumerate(order, start=1)}
    by_index = {e.index: e for e in elements}
    records = []
    for key in order:
        picks = {d: by_index[i].components[d] for d, i in zip(_DIMENSIONS, key, strict=True)
                 if i is not None}
        spans = [(start, end) for start, end, k in keyed if k == key]
        records.append(_record(names[key], tariff, picks, spans, max_power_kw, notes))
    segments = [(start, end, names.get(key)) for start, end, key in keyed]
    return Products(records, segments, notes)


def product_at(tariff: dict[str, Any], at: datetime, time_zone: str) -> str | None:
    """The ProductID in force at an instant (a session's start) at a charger in `time_zone`."""
    local = at.astimezone(ZoneInfo(time_zone))
    minute = local.weekday() * _DAY + local.hour * 60 + local.minute
    return pricing_products(tariff, DEFAULT_POWER_KW, local.date()).at_minute(minute)


@dataclass(frozen=True)
class DefaultPrice:
    """PricingDefaultPrice: what a session at an EVSE with no product costs."""

    price: float
    currency: str
    unit: str

    def as_meta(self) -> dict[str, Any]:
        return {"PricingDefaultPrice": self.price, "PricingDefaultPriceCurrency": self.currency,
                "PricingDefaultReferenceUnit": self.unit}


def default_price(products: Products | None, currency: str) -> DefaultPrice:
    """The first product of the tariff every EVSE charges by; without one, free in `currency`."""
    if products is None or not products.records:
        return DefaultPrice(0.0, currency, "KILOWATT_HOUR")
    first = products.records[0]
    return DefaultPrice(first["PricePerReferenceUnit"], first["ProductPriceCurrency"],
                        first["ReferenceUnit"])


def push_pricing_products(operator_id: str, operator_name: str, provider: str, action: str,
                          default: dict[str, Any], records: list[dict[str, Any]]) -> dict[str, Any]:
    data: dict[str, Any] = {"OperatorID": operator_id}
    if operator_name:
        data["OperatorName"] = operator_name[:100]
    data |= {"ProviderID": provider, **default, "PricingProductDataRecords": records}
    return {"ActionType": action, "PricingProductData": data}


def evse_pricing_record(evse_id: str, provider: str, product_ids: list[str]) -> dict[str, Any]:
    return {"EvseID": evse_id, "ProviderID": provider, "EvseIDProductList": product_ids}


def push_evse_pricing(action: str, records: list[dict[str, Any]]) -> dict[str, Any]:
    return {"ActionType": action, "EVSEPricing": records}


def plan(sent: dict[str, dict[str, Any]], wanted: dict[str, dict[str, Any]],
         pending: bool) -> tuple[str, list[dict[str, Any]]] | None:
    """What to push so Hubject holds `wanted` when it will hold `sent`: None, or an action and
    its records. One kind of change goes as insert, update or delete; several kinds, a changed
    default price, or a push of this data set still waiting (Hubject down, say) make it a
    fullLoad of everything, which then replaces the waiting one: the newest state goes once.
    """
    diff = changes(sent, wanted)
    if not diff:
        return None
    records = {k: v for k, v in wanted.items() if not k.startswith(META)}
    meta_changed = any(k.startswith(META) for k in (sent.keys() ^ wanted.keys())) or any(
        sent[k] != wanted[k] for k in sent.keys() & wanted.keys() if k.startswith(META))
    if pending or meta_changed or len(diff) > 1:
        return "fullLoad", [records[k] for k in sorted(records)]
    [(action, changed)] = diff.items()
    return action, changed


def describe(tariff: dict[str, Any], today: date) -> list[str]:
    """What Hubject's EMPs see of a tariff, a line each product and note, for `csms tariffs list`
    (MaximumProductChargingPower aside: it follows the EVSEs)."""
    products = pricing_products(tariff, 0.0, today)
    lines = []
    for record in products.records:
        times = "always" if record["IsValid24hours"] else "; ".join(
            f"{t['on']} " + ",".join(f"{p['begin']}-{p['end']}" for p in t["Periods"])
            for t in record["ProductAvailabilityTimes"])
        extra = "".join(f", {r['AdditionalReference'].lower()} {r['PricePerAdditionalReferenceUnit']}"
                        + (" per session" if r["AdditionalReference"] in SESSION_FEES
                           else f"/{r['AdditionalReferenceUnit']}")
                        for r in record.get("AdditionalReferences", []))
        lines.append(f"product {record['ProductID']}: {record['PricePerReferenceUnit']}/"
                     f"{record['ReferenceUnit']}{extra} ({times})")
    lines += [f"note: {note}" for note in products.notes]
    return lines
