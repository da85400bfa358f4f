"""OCPP frames read and written with orjson, giving exactly what the ocpp library's json calls give."""

from __future__ import annotations

import decimal
import json
import re
import types
from typing import Any

import ocpp.messages
import orjson

# orjson reads an integer beyond 64 bits as a float (json: an int), so a schema's "integer"
# would refuse what it accepts today: a run of 19 digits anywhere (even in a string) goes to json.
# Found by turning every digit into 0 and looking for nineteen of them: 0.5 µs for a MeterValues
# frame, where a regular expression took 4.5 (more than json.loads itself).
_ZERO_DIGITS = bytes.maketrans(b"123456789", b"000000000")
_NINETEEN_DIGITS = b"0" * 19


def _long_number(frame: str | bytes) -> bool:
    raw = frame if isinstance(frame, bytes) else frame.encode("utf-8", "surrogatepass")
    return _NINETEEN_DIGITS in raw.translate(_ZERO_DIGITS)


# Where orjson's text differs from json.dumps(..., separators=(",", ":")): NaN and infinities
# (json writes NaN, orjson null), floats below 1e-4 (json 1e-05, orjson 0.00001; 1e-07 and 1e-7),
# DEL and anything beyond ASCII (json escapes them). Such a frame is written by json instead;
# a string that merely looks like one of these only costs the slower path.
_NEGATIVE_EXPONENT = re.compile(rb"\de-")


def _not_jsons_text(text: bytes) -> bool:
    """Substring checks first (a regular expression over the whole frame cost more than
    writing it); the expression only where an "e-" is there at all."""
    return (not text.isascii() or b"null" in text or b"0.0000" in text or b"\x7f" in text
            or (b"e-" in text and _NEGATIVE_EXPONENT.search(text) is not None))


_ORJSON_OPTIONS = (orjson.OPT_PASSTHROUGH_SUBCLASS | orjson.OPT_PASSTHROUGH_DATACLASS
                   | orjson.OPT_PASSTHROUGH_DATETIME)


def decode(frame: str | bytes) -> Any:
    """json.loads(frame): the same value, or the same exception. orjson refuses what json
    accepts beyond the standard (NaN, Infinity, 1e400, lone surrogates, UTF-16 bytes, a BOM in
    bytes): json then reads it, so such a frame is accepted or refused exactly as before."""
    if not _long_number(frame):
        try:
            return orjson.loads(frame)
        except orjson.JSONDecodeError:
            pass
    return json.loads(frame)


def _plain(value: Any) -> Any:
    """What json writes for the types orjson hands back: a str or int subclass (the library's
    enums) as its value, Decimal as the library's encoder does; anything else makes the whole
    frame go to json, to be written (or refused) exactly as before."""
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int):
        return int.__int__(value)
    if isinstance(value, float):
        return float.__float__(value)
    if isinstance(value, decimal.Decimal):
        return float("%.1f" % value)  # noqa: UP031 - the library's rounding, via float
    raise TypeError(type(value).__name__)


def encode(message: Any) -> str:
    """json.dumps(message, separators=(",", ":"), cls=ocpp.messages._DecimalEncoder), the
    library's frame text, byte for byte. One difference is left: an Enum that is not a str or
    int (the library has none) or a UUID is written as its value, where json raises."""
    try:
        text = orjson.dumps(message, default=_plain, option=_ORJSON_OPTIONS)
    except TypeError:  # orjson.JSONEncodeError too: a dict key not a str, an int beyond 64 bits
        text = b"\x7f"
    if not _not_jsons_text(text):
        return text.decode("ascii")
    return json.dumps(message, separators=(",", ":"), cls=ocpp.messages._DecimalEncoder)


def _loads(text: str | bytes, **options: Any) -> Any:
    return json.loads(text, **options) if options else decode(text)


def _dumps(value: Any, **options: Any) -> str:
    if options.get("cls") is ocpp.messages._DecimalEncoder and options.get(
            "separators") == (",", ":") and len(options) == 2:
        return encode(value)
    return json.dumps(value, **options)


# What ocpp.messages finds under its name `json`: its frames (unpack, to_json) through the two
# above, everything else (schemas, the Decimal round trip of three 1.6 actions) the json module's.
json_for_the_library = types.SimpleNamespace(
    loads=_loads, dumps=_dumps, JSONDecodeError=json.JSONDecodeError,
    JSONEncoder=json.JSONEncoder)


def install() -> None:
    """The library reads and writes every frame with json.loads / json.dumps by its module's
    global name `json`: a busy server's twentieth."""
    ocpp.messages.json = json_for_the_library  # type: ignore[assignment]
