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

    Formats are not checked: the library's Draft4Validator does not check them either, and a
    timestamp without a zone is a firmware quirk to record, not a reason to refuse."""

    def __init__(self, schema: dict[str, Any]) -> None:
        self._check: Callable[[Any], Any] = fastjsonschema.compile(schema, use_formats=False)

    def validate(self, payload: Any) -> None:
        try:
            self._check(payload)
        except fastjsonschema.JsonSchemaValueException as error:
            raise ValidationError(error.message, validator=error.rule) from None


class CompiledCache(dict[str, Any]):
    """The library's validator cache, compiling a schema the first time the library asks for it
    (compiling all of them up front would add a second to every start)."""

    def __init__(self, sources: dict[str, Path]) -> None:
        super().__init__()
        self.sources = sources

    def __contains__(self, key: object) -> bool:
        if not super().__contains__(key) and key in self.sources:
            assert isinstance(key, str)
            schema = json.loads(self.sources[key].read_text(encoding="utf-8-sig"))
            self[key] = CompiledValidator(schema)
        return super().__contains__(key)


def install(versions: tuple[str, ...] = ("1.6", "2.0.1")) -> None:
    """Every request and response of the versions we speak, validated by compiled schemas. The
    library keeps looking validators up in its cache by name; we fill that cache."""
    if isinstance(ocpp.messages._validators, CompiledCache):
        return
    sources = {}
    for version in versions:
        folder = Path(ocpp.messages.__file__).parent / f"v{version.replace('.', '')}" / "schemas"
        for path in folder.glob("*.json"):
            if (version, path.stem) not in _DECIMAL:
                sources[f"{path.stem}_{version}"] = path
    cache = CompiledCache(sources)
    cache.update(ocpp.messages._validators)
    ocpp.messages._validators = cache
