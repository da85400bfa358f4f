"""Pure parsing of OCPP 1.6 and 2.0.1 meter values into canonical domain samples."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from csms.domain.model import ENERGY_REGISTER, MeterSample

# Prefixed units scale into their base unit.
_SCALE = {"kWh": ("Wh", 1000.0), "kW": ("W", 1000.0), "kvarh": ("varh", 1000.0),
          "kvar": ("var", 1000.0), "kVA": ("VA", 1000.0)}


def parse_timestamp(value: str) -> datetime:
    """An OCPP timestamp (RFC 3339, 'Z' or offset); naive values are taken as UTC."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def format_timestamp(value: datetime) -> str:
    """UTC with a 'Z' suffix and milliseconds, as strict OCPP and OCPI peers expect."""
    utc = value if value.tzinfo is UTC else value.astimezone(UTC)
    if utc.year >= 1000:
        # isoformat's text up to its "+00:00", in a third of strftime's time (every answer has one)
        return utc.isoformat(timespec="milliseconds")[:-6] + "Z"
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def _canonical(value: float, unit: str | None) -> tuple[float, str | None]:
    if unit in _SCALE:
        base, factor = _SCALE[unit]
        return value * factor, base
    return value, unit


def samples_16(meter_value: list[dict[str, Any]]) -> list[MeterSample]:
    """OCPP 1.6 meterValue (snake_case keys as the ocpp library hands them over)."""
    samples = []
    for entry in meter_value:
        at = parse_timestamp(entry["timestamp"])
        for sv in entry.get("sampled_value", []):
            if sv.get("format") == "SignedData":
                continue  # signed blobs carry no number we can use
            try:
                raw = float(sv["value"])
            except (TypeError, ValueError):
                continue
            measurand = sv.get("measurand", ENERGY_REGISTER)
            value, unit = _canonical(raw, sv.get("unit", "Wh" if measurand.startswith("Energy") else None))
            samples.append(MeterSample(at, measurand, value, unit, sv.get("context"),
                                       sv.get("phase"), sv.get("location")))
    return samples


def samples_201(meter_value: list[dict[str, Any]]) -> list[MeterSample]:
    """OCPP 2.0.1 meterValue: numeric values, unitOfMeasure with a power-of-ten multiplier."""
    samples = []
    for entry in meter_value:
        at = parse_timestamp(entry["timestamp"])
        for sv in entry.get("sampled_value", []):
            measurand = sv.get("measurand", ENERGY_REGISTER)
            uom = sv.get("unit_of_measure") or {}
            default_unit = "Wh" if measurand.startswith("Energy") else None
            raw = float(sv["value"]) * 10 ** int(uom.get("multiplier", 0))
            value, unit = _canonical(raw, uom.get("unit", default_unit))
            samples.append(MeterSample(at, measurand, value, unit, sv.get("context"),
                                       sv.get("phase"), sv.get("location")))
    return samples
