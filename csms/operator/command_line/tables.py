"""Listings on the command line: a table with a header row, or with --json the same fields as JSON."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TextIO
from uuid import UUID

Column = tuple[str, str]  # (header, field): the table's header and the JSON object's key


def add_json_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", dest="as_json",
                        help="a JSON list of objects with the table's fields, for scripts")


def plain(value: Any) -> Any:
    """The value as JSON holds it: times in RFC 3339, ids and exact numbers as text and numbers."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def cell(value: Any) -> str:
    """One table cell on one line: '-' for nothing, times to the second."""
    if value is None or value == "":
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list | tuple):
        return " ".join(cell(v) for v in value) or "-"
    if isinstance(value, Mapping):
        return json.dumps(plain(value), sort_keys=True, ensure_ascii=False)
    return " ".join(str(value).split())


def show(rows: Iterable[Mapping[str, Any]], columns: Sequence[Column], as_json: bool,
         out: TextIO | None = None) -> None:
    """Print rows as an aligned table with headers, or as JSON (a list of objects)."""
    out = out or sys.stdout
    picked = [{field: row.get(field) for _, field in columns} for row in rows]
    if as_json:
        print(json.dumps([plain(row) for row in picked], ensure_ascii=False), file=out)
        return
    lines = [[header for header, _ in columns]]
    lines += [[cell(row[field]) for _, field in columns] for row in picked]
    widths = [max(len(line[i]) for line in lines) for i in range(len(columns))]
    for line in lines:
        print("  ".join(text.ljust(width) for text, width in zip(line, widths, strict=True))
              .rstrip(), file=out)


def show_record(record: Mapping[str, Any], as_json: bool, out: TextIO | None = None) -> None:
    """One object: 'field: value' lines, or a JSON object."""
    out = out or sys.stdout
    if as_json:
        print(json.dumps(plain(dict(record)), ensure_ascii=False), file=out)
        return
    width = max((len(key) for key in record), default=0)
    for key, value in record.items():
        print(f"{key + ':':{width + 1}} {cell(value)}", file=out)
