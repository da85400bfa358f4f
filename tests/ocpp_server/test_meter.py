"""Table-driven tests of meter value parsing, units and timestamps."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from csms.domain.model import MeterSample, energy_register_wh
from csms.ocpp.translations.meter import format_timestamp, parse_timestamp, samples_16, samples_201

T = "2026-11-23T10:00:00Z"
AT = datetime(2026, 11, 23, 10, tzinfo=UTC)


@pytest.mark.parametrize(("sampled", "expected"), [
    ({"value": "1500"}, ("Energy.Active.Import.Register", 1500.0, "Wh")),
    ({"value": "1.5", "unit": "kWh"}, ("Energy.Active.Import.Register", 1500.0, "Wh")),
    ({"value": "7.2", "measurand": "Power.Active.Import", "unit": "kW"},
     ("Power.Active.Import", 7200.0, "W")),
    ({"value": "16", "measurand": "Current.Import", "unit": "A", "phase": "L1"},
     ("Current.Import", 16.0, "A")),
    ({"value": "80", "measurand": "SoC", "unit": "Percent", "location": "EV"},
     ("SoC", 80.0, "Percent")),
])
def test_samples_16(sampled: dict[str, str], expected: tuple[str, float, str]) -> None:
    [sample] = samples_16([{"timestamp": T, "sampled_value": [sampled]}])
    assert (sample.measurand, sample.value, sample.unit) == expected
    assert sample.sampled_at == AT


def test_samples_16_keeps_context_and_skips_unusable_values() -> None:
    samples = samples_16([{"timestamp": T, "sampled_value": [
        {"value": "10", "context": "Transaction.Begin"},
        {"value": "not a number"},
        {"value": "abcd", "format": "SignedData"},
    ]}])
    assert [(s.value, s.context) for s in samples] == [(10.0, "Transaction.Begin")]


@pytest.mark.parametrize(("sampled", "expected"), [
    ({"value": 1500}, ("Energy.Active.Import.Register", 1500.0, "Wh")),
    ({"value": 1.5, "unit_of_measure": {"unit": "kWh"}}, ("Energy.Active.Import.Register", 1500.0, "Wh")),
    ({"value": 15, "unit_of_measure": {"unit": "Wh", "multiplier": 2}},
     ("Energy.Active.Import.Register", 1500.0, "Wh")),
    ({"value": 11, "measurand": "Power.Active.Import", "unit_of_measure": {"unit": "kW"}},
     ("Power.Active.Import", 11000.0, "W")),
])
def test_samples_201(sampled: dict[str, object], expected: tuple[str, float, str]) -> None:
    [sample] = samples_201([{"timestamp": T, "sampled_value": [sampled]}])
    assert (sample.measurand, sample.value, sample.unit) == expected


def test_energy_register_ignores_phases_and_takes_the_latest() -> None:
    later = datetime(2026, 11, 23, 11, tzinfo=UTC)
    samples = [
        MeterSample(AT, "Energy.Active.Import.Register", 100.0, "Wh"),
        MeterSample(later, "Energy.Active.Import.Register", 300.0, "Wh"),
        MeterSample(later, "Energy.Active.Import.Register", 999.0, "Wh", phase="L1"),
        MeterSample(later, "Power.Active.Import", 7000.0, "W"),
    ]
    assert energy_register_wh(samples) == 300.0
    assert energy_register_wh(samples[3:]) is None


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-11-23T10:00:00Z", AT),
    ("2026-11-23T11:00:00+01:00", AT),
    ("2026-11-23T10:00:00", AT),
    ("2026-11-23T10:00:00.000z", AT),
])
def test_parse_timestamp(text: str, expected: datetime) -> None:
    assert parse_timestamp(text) == expected


def test_format_timestamp_is_utc_with_z() -> None:
    assert format_timestamp(parse_timestamp("2026-11-23T11:00:00.123456+01:00")) == \
        "2026-11-23T10:00:00.123Z"


def _strftime_formatted(value: datetime) -> str:
    """format_timestamp as it was before its isoformat fast path."""
    utc = value.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


@pytest.mark.parametrize("value", [
    datetime(2026, 12, 4, 13, 45, 0, 0, UTC),
    datetime(2026, 12, 4, 13, 45, 0, 999_999, UTC),
    datetime(2026, 12, 4, 13, 45, 0, 1_000, UTC),
    datetime(2026, 12, 4, 13, 45, 0, 999, UTC),
    datetime(2026, 12, 31, 23, 30, 0, 500_000, timezone(timedelta(hours=-1))),
    datetime(2026, 1, 1, 0, 30, 0, 123_456, timezone(timedelta(hours=5, minutes=30))),
    datetime(2026, 6, 1, 12, 0, 0, 0, timezone(timedelta(0))),
    datetime(2026, 6, 1, 12, 0, 0, 42_000),  # naive: local time, as astimezone takes it
    datetime(1000, 1, 1, 0, 0, 0, 0, UTC),
    datetime(999, 12, 31, 23, 59, 59, 999_999, UTC),
    datetime(1, 1, 1, 0, 0, 0, 0, UTC),
    datetime(9999, 12, 31, 23, 59, 59, 999_999, UTC),
])
def test_format_timestamp_fast_path_is_the_same_text(value: datetime) -> None:
    assert format_timestamp(value) == _strftime_formatted(value)
