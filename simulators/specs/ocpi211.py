"""OCPI 2.1.1 objects checked against the specification's own tables (its Markdown, shipped verbatim)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Any

OCPI_211 = files("simulators.specs") / "ocpi-2.1.1"
MODULES = ("types.md", "mod_locations.md", "mod_sessions.md", "mod_cdrs.md", "mod_tariffs.md")

# "### 3.1 _Location_ Object", "### 4.13 Hours *class*", "### 4.20 Status *enum*"
_HEADING = re.compile(r"^#{2,4}\s+[\d.]+\s+_?([A-Za-z0-9]+)_?\s+(Object|\*class\*|\*enum\*)\s*$")
_LINK = re.compile(r"^\[(\w+)\]\([^)]*\)(?:\((\d+)\))?$")  # [string](types.md#15-string-type)(39)
_PLAIN = re.compile(r"^(\w+)(?:\((\d+)\))?$")  # int, int(5), boolean
# "Regex: `-?[0-9]{1,2}\.[0-9]{6}`" or "Regex: [0-2][0-9]:[0-5][0-9]"
_REGEX = re.compile(r"Regex:\s*(?:`([^`]+)`|(\S+))")
# "Same syntax as start_time", "syntax as for period_begin": the other field's Regex.
_SAME_AS = re.compile(r"[Ss]yntax as (?:for )?(\w+)")
# types 1.2: ISO 8601, UTC, with or without Z; "+00:00 is not the same as UTC".
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z?")
_PRINTABLE_ASCII = re.compile(r"[ -~]*")
PRIMITIVES = ("string", "CiString", "DateTime", "number", "int", "boolean", "URL")


class Invalid(ValueError):
    """An object the 2.1.1 description refuses; the message lists every reason."""


@dataclass(frozen=True)
class Field:
    name: str
    type: str  # a primitive of PRIMITIVES, or a class or enum of the description
    cardinality: str  # 1, ?, * or +
    length: int | None  # string(n): at most n characters; int(n): at most n digits
    pattern: str | None  # the Regex: its description gives
    choice: int | None  # fields of one *Choice* group share its number: exactly one is present


@dataclass(frozen=True)
class Description:
    classes: dict[str, tuple[Field, ...]]  # objects and classes, by the name the text links them by
    enums: dict[str, frozenset[str]]

    def errors(self, name: str, value: Any, path: str = "") -> list[str]:
        """Every way `value` fails to be the description's `name` (class, enum or primitive).
        Strict: a field no table names is refused, so nothing only 2.2.1 knows slips through."""
        where = path or name
        if name in self.enums:
            return [] if value in self.enums[name] else [f"{where}: {value!r} is not a {name}"]
        if name in PRIMITIVES:
            return _primitive(name, value, None, None, where)
        if not isinstance(value, dict):
            return [f"{where}: a {name} is an object, not {type(value).__name__}"]
        fields = self.classes[name]
        known = {f.name for f in fields}
        found = [f"{where}.{key}: no such field in {name}" for key in value if key not in known]
        groups: dict[int, list[str]] = {}
        for f in fields:
            if f.choice is not None:
                groups.setdefault(f.choice, [])
                if f.name in value:
                    groups[f.choice].append(f.name)
            found += self._field(f, value, f"{where}.{f.name}")
        for group, present in groups.items():
            if len(present) != 1:
                names = [f.name for f in fields if f.choice == group]
                found.append(f"{where}: exactly one of {', '.join(names)} (Choice), "
                             f"not {present or 'none'}")
        return found

    def patch_errors(self, name: str, value: Any) -> list[str]:
        """A PATCH body of a `name` (mod_locations 2.2.3, mod_sessions 2.2.3): any of its fields,
        each as the table says; none required."""
        if not isinstance(value, dict):
            return [f"{name}: a patch is an object, not {type(value).__name__}"]
        fields = {f.name: f for f in self.classes[name]}
        found = [f"{name}.{key}: no such field in {name}" for key in value if key not in fields]
        for key in value:
            if key in fields:
                found += self._field(fields[key], value, f"{name}.{key}")
        return found

    def _field(self, f: Field, data: dict[str, Any], path: str) -> list[str]:
        if f.name not in data:
            required = f.cardinality in ("1", "+") and f.choice is None
            return [f"{path}: required ({f.cardinality})"] if required else []
        value = data[f.name]
        if f.cardinality in ("*", "+"):
            if not isinstance(value, list):
                return [f"{path}: a list ({f.cardinality}), not {type(value).__name__}"]
            if f.cardinality == "+" and not value:
                return [f"{path}: at least one (+)"]
            found: list[str] = []
            for index, item in enumerate(value):
                found += self._one(f, item, f"{path}[{index}]")
            return found
        return self._one(f, value, path)

    def _one(self, f: Field, value: Any, path: str) -> list[str]:
        if f.type in PRIMITIVES:
            return _primitive(f.type, value, f.length, f.pattern, path)
        return self.errors(f.type, value, path)

    def validate(self, name: str, value: Any) -> None:
        found = self.errors(name, value)
        if found:
            raise Invalid("; ".join(found))


def _primitive(kind: str, value: Any, length: int | None, pattern: str | None,
               path: str) -> list[str]:
    if kind == "boolean":
        return [] if isinstance(value, bool) else [f"{path}: {value!r} is not a boolean"]
    if kind == "number":
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return [] if ok else [f"{path}: {value!r} is not a number (types 1.4)"]
    if kind == "int":
        if not isinstance(value, int) or isinstance(value, bool):
            return [f"{path}: {value!r} is not an int"]
        if length is not None and len(str(abs(value))) > length:
            return [f"{path}: {value} has more than {length} digits"]
        return []
    if not isinstance(value, str):
        return [f"{path}: {value!r} is not a {kind}"]
    limit = {"DateTime": 25, "URL": 255}.get(kind, length)
    found = []
    if not _PRINTABLE_ASCII.fullmatch(value):
        found.append(f"{path}: {value!r}: only printable ASCII (types 1.1, 1.5)")
    if limit is not None and len(value) > limit:
        found.append(f"{path}: {len(value)} characters, at most {limit}")
    if kind == "DateTime" and not _DATETIME.fullmatch(value):
        found.append(f"{path}: {value!r} is not a UTC DateTime (types 1.2)")
    if pattern is not None and not re.fullmatch(pattern, value):
        found.append(f"{path}: {value!r} does not match {pattern}")
    return found


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def _type(cell: str) -> tuple[str, int | None]:
    match = _LINK.match(cell) or _PLAIN.match(cell)
    if match is None:
        raise ValueError(f"unreadable type {cell!r}")
    return match.group(1), int(match.group(2)) if match.group(2) else None


def parse(texts: dict[str, str]) -> Description:
    """The class and enum tables of the given Markdown files."""
    classes: dict[str, tuple[Field, ...]] = {}
    enums: dict[str, frozenset[str]] = {}
    for source, text in texts.items():
        lines = text.splitlines()
        for number, line in enumerate(lines):
            heading = _HEADING.match(line)
            if heading is None:
                continue
            name, kind = heading.groups()
            if name in classes or name in enums:
                raise ValueError(f"{source}: {name} described twice")
            table = _table(lines, number + 1)
            if kind == "*enum*":
                enums[name] = frozenset(_cells(row)[0] for row in table)
            else:
                classes[name] = _fields(table)
    return Description(classes, enums)


def _table(lines: list[str], start: int) -> list[str]:
    """The rows (header and rule left out) of the first table after a heading, before the next one."""
    rows: list[str] = []
    for line in lines[start:]:
        if line.startswith("#"):
            break
        if line.lstrip().startswith("|"):
            rows.append(line)
        elif rows:
            break
    return rows[2:]


def _fields(rows: list[str]) -> tuple[Field, ...]:
    fields: list[Field] = []
    choice: int | None = None
    for row in rows:
        cells = _cells(row)
        name, kind, cardinality = cells[0], cells[1], cells[2]
        if name.startswith("*Choice"):
            choice = len(fields)
            continue
        if name.startswith(">"):
            name = name.lstrip("> ").strip()
        else:
            choice = None
        type_name, length = _type(kind)
        text = "|".join(cells[3:])
        regex = _REGEX.search(text)
        pattern = (regex.group(1) or regex.group(2)) if regex else None
        if pattern is None and (same := _SAME_AS.search(text)):
            pattern = next((f.pattern for f in fields if f.name == same.group(1)), None)
        fields.append(Field(name, type_name, cardinality, length, pattern, choice))
    return tuple(fields)


@cache
def description() -> Description:
    """The 2.1.1 objects of the shipped modules (Location, EVSE, Connector, Session, CDR, Tariff …)."""
    return parse({name: (OCPI_211 / name).read_text(encoding="utf-8") for name in MODULES})


def validate(name: str, value: Any) -> None:
    """Raise Invalid unless `value` is a 2.1.1 `name` as the specification's tables describe it."""
    description().validate(name, value)


def validate_patch(name: str, value: Any) -> None:
    """Raise Invalid unless `value` is a PATCH body of a 2.1.1 `name` (see Description.patch_errors)."""
    found = description().patch_errors(name, value)
    if found:
        raise Invalid("; ".join(found))
