"""OCPP schema validation compiled with fastjsonschema, in the ocpp library's own validator slots."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fastjsonschema
import ocpp.messages
from jsonschema.exceptions import ValidationError

# 1.6 schemas whose multipleOf the library checks with Decimal floats: left to its own validator.
_DECIMAL = {("1.6", "SetChargingProfile"), ("1.6", "RemoteStartTransaction"),
            ("1.6", "GetCompositeScheduleResponse")}


class CompiledValidator:
    """What the library expects of a validator (`validate`, raising jsonschema's ValidationError
    named by the failing keyword), so its mapping to OCPP error codes stays exactly as it is.
    Compiled on first use: compiling all schemas up front would add a second to every start.

    Formats are not checked: the library's Draft4Validator does not check them either, and a
    timestamp without a zone is a firmware quirk to record, not a reason to refuse."""

    def __init__(self, source: Path) -> None:
        self.source = source
        self._check: Callable[[Any], Any] | None = None

    def validate(self, payload: Any) -> None:
        if self._check is None:
            schema = json.loads(self.source.read_text(encoding="utf-8-sig"))
            self._check = fastjsonschema.compile(schema, use_formats=False)
        try:
            self._check(payload)
        except fastjsonschema.JsonSchemaValueException as error:
            raise ValidationError(error.message, validator=error.rule) from None


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
