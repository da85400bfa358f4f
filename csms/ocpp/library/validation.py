"""OCPP schema validation compiled (jsonschema-rs), in the ocpp library's own validator slots."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema_rs
import ocpp.messages
from jsonschema import Draft4Validator

# The library validates every schema as draft 4, whatever its $schema says (2.0.1's say draft 6,
# under which 1.0 is an integer: compiled as such, it accepted what the library refuses).
DRAFT4 = "http://json-schema.org/draft-04/schema#"

# 1.6 schemas whose multipleOf the library checks with Decimal floats: left to its own validator.
_DECIMAL = {("1.6", "SetChargingProfile"), ("1.6", "RemoteStartTransaction"),
            ("1.6", "GetCompositeScheduleResponse")}


class CompiledValidator:
    """What the library expects of a validator (`validate`, raising jsonschema's ValidationError
    named by the failing keyword), so its mapping to OCPP error codes stays exactly as it is.
    Compiled on first use: compiling all schemas up front would add a second to every start.

    The compiled check (jsonschema-rs, in Rust: a 1.6 MeterValues in 0.5 µs, where
    fastjsonschema took 3.1 and the library's jsonschema 105) decides only that a payload
    passes. One it refuses, or cannot take (an integer beyond 64 bits), is handed to the
    library's own validator, which raises the error it would have raised (its first, in its
    order: a compiled check's first failing keyword was another for 1 refusal in 30 of a
    table of bad payloads, and so was the CALLERROR code), or accepts the payload if it would.

    Formats are not checked: the library's Draft4Validator does not check them either, and a
    timestamp without a zone is a firmware quirk to record, not a reason to refuse."""

    def __init__(self, source: Path) -> None:
        self.source = source
        self._schema: dict[str, Any] | None = None
        self._passes: Callable[[Any], bool] | None = None
        self._library: Draft4Validator | None = None

    def _load(self) -> dict[str, Any]:
        if self._schema is None:
            self._schema = json.loads(self.source.read_text(encoding="utf-8-sig"))
        return self._schema

    def validate(self, payload: Any) -> None:
        if self._passes is None:
            self._passes = jsonschema_rs.Draft4Validator(
                {**self._load(), "$schema": DRAFT4}, validate_formats=False).is_valid
        try:
            if self._passes(payload):
                return
        except (ValueError, TypeError, OverflowError):  # a value Rust cannot hold: the library's
            pass
        self.library().validate(payload)

    def library(self) -> Draft4Validator:
        """The library's own validator of this schema (as ocpp.messages.get_validator builds it)."""
        if self._library is None:
            self._library = Draft4Validator(self._load())
        return self._library


def install(versions: tuple[str, ...] = ("1.6", "2.0.1")) -> None:
    """Every request and response of the versions we speak, validated by compiled schemas: the
    library looks its validators up by name in a cache, which we fill before it does."""
    for version in versions:
        folder = Path(ocpp.messages.__file__).parent / f"v{version.replace('.', '')}" / "schemas"
        for path in folder.glob("*.json"):
            key = f"{path.stem}_{version}"
            if (version, path.stem) not in _DECIMAL and not isinstance(
                    ocpp.messages._validators.get(key), CompiledValidator):
                ocpp.messages._validators[key] = CompiledValidator(path)
