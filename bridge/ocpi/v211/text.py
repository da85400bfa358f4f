"""OCPI 2.1.1 strings: printable ASCII within a field's length (types 1.5), and DisplayText (types 1.3)."""

from __future__ import annotations

import unicodedata
from typing import Any

from bridge.ocpi.v211.inexpressible import Losses, note

# Letters NFKD does not take apart into a base letter and marks.
_LETTERS = {"ß": "ss", "Æ": "AE", "æ": "ae", "Ø": "O", "ø": "o", "Œ": "OE", "œ": "oe", "Ł": "L",
            "ł": "l", "Đ": "D", "đ": "d", "Þ": "Th", "þ": "th", "ı": "i", "–": "-", "—": "-",
            "‘": "'", "’": "'", "“": '"', "”": '"', "…": "..."}


def ascii_only(value: str) -> str:
    """The value in printable ASCII: accents dropped, what has no ASCII form '?'."""
    result = []
    for char in value:
        if " " <= char <= "~":
            result.append(char)
            continue
        if char in _LETTERS:
            result.append(_LETTERS[char])
            continue
        base = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
        if base and all(" " <= c <= "~" for c in base):
            result.append(base)
        else:
            result.append("?")
    return "".join(result)


def string(value: str, limit: int, where: str, field: str, losses: Losses | None = None) -> str:
    """A 2.1.1 string(limit): ASCII (accents dropped), cut to the limit, each change noted."""
    text = ascii_only(value)
    if text != value:
        note(losses, where, "text.ascii", f"{field}: {value!r}")
    if len(text) > limit:
        note(losses, where, "text.length", f"{field}: {len(text)} > {limit}")
        text = text[:limit].rstrip()
    return text


def display_text(item: dict[str, Any], where: str, losses: Losses | None = None) -> dict[str, Any]:
    """A DisplayText: language string(2), text string(512)."""
    return {"language": string(str(item.get("language", "")), 2, where, "language", losses),
            "text": string(str(item.get("text", "")), 512, where, "text", losses)}
