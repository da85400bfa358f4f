"""OCPI's transport rules, purely: the response envelope, status codes, tokens, times and paging."""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

VERSION = "2.2.1"

# Status codes of the response envelope.
SUCCESS = 1000
CLIENT_ERROR = 2000
INVALID_PARAMETERS = 2001
NOT_ENOUGH_INFORMATION = 2002
UNKNOWN_LOCATION = 2003
UNKNOWN_TOKEN = 2004
SERVER_ERROR = 3000
CLIENT_API_UNUSABLE = 3001
UNSUPPORTED_VERSION = 3002
NO_MATCHING_ENDPOINTS = 3003
HUB_ERROR = 4000
UNKNOWN_RECEIVER = 4001  # the OCPI-to- party is not known (at the hub; or, to us, not us)
HUB_TIMEOUT = 4002  # forwarded, but the receiver did not answer in time
HUB_NOT_CONNECTED = 4003  # the receiving party is not connected

# OCPI 2.2.1 transport_and_format "Message Routing Headers" (CiString(2) and CiString(3)).
FROM_COUNTRY, FROM_PARTY = "OCPI-from-country-code", "OCPI-from-party-id"
TO_COUNTRY, TO_PARTY = "OCPI-to-country-code", "OCPI-to-party-id"


def hub_busy(status_code: int) -> bool:
    """A hub's answer that says try again later (4002, 4003), not that the message is wrong."""
    return status_code in (HUB_TIMEOUT, HUB_NOT_CONNECTED)


def routing_headers(sender: tuple[str, str],
                    receiver: tuple[str, str] | None) -> dict[str, str]:
    """The routing headers of a request or answer from `sender` to `receiver` (None: an Open
    Routing Request, the to- headers left out)."""
    headers = {FROM_COUNTRY: sender[0], FROM_PARTY: sender[1]}
    if receiver is not None:
        headers |= {TO_COUNTRY: receiver[0], TO_PARTY: receiver[1]}
    return headers


def routing_of(headers: Any, prefix: str) -> tuple[str, str] | None:
    """The (country_code, party_id) a request's 'from' or 'to' headers name; None when both
    are absent. ValueError when only one is there or either is malformed."""
    country = headers.get(f"OCPI-{prefix}-country-code")
    party = headers.get(f"OCPI-{prefix}-party-id")
    if country is None and party is None:
        return None
    if country is None or party is None:
        raise ValueError(f"OCPI-{prefix}-country-code and OCPI-{prefix}-party-id go together")
    if not (len(country) == 2 and country.isascii() and country.isalpha()) \
            or not (len(party) == 3 and party.isascii() and party.isalnum()):
        raise ValueError(f"OCPI-{prefix}- headers must name a country code (2 letters) and a "
                         "party id (3 letters or digits)")
    return country.upper(), party.upper()


def timestamp(at: datetime | None = None) -> str:
    """OCPI times: UTC with a Z, no offset, whole seconds."""
    return (at or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_timestamp(value: str) -> datetime:
    """An OCPI DateTime (UTC; a trailing Z is optional there) → aware datetime."""
    at = datetime.fromisoformat(value.removesuffix("Z"))
    if at.tzinfo is not None and at.utcoffset():
        raise ValueError("OCPI times are UTC")
    return at.replace(tzinfo=UTC)


def envelope(data: Any = None, status_code: int = SUCCESS, message: str | None = None,
             at: datetime | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"status_code": status_code, "timestamp": timestamp(at)}
    if data is not None:
        body["data"] = data
    if message:
        body["status_message"] = message
    return body


def new_token() -> str:
    """A credentials token: 43 printable characters, unguessable."""
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def authorization_header(token: str, token_format: str) -> str:
    """What we send: `Token <base64>` as OCPI 2.2.1 wants, or the plain token for older peers."""
    if token_format == "plain":
        return f"Token {token}"
    return "Token " + base64.b64encode(token.encode()).decode()


def tokens_in_header(header: str | None) -> list[str]:
    """The candidates a caller's Authorization header may mean: base64-decoded, and as sent."""
    if not header or not header.startswith("Token "):
        return []
    raw = header[len("Token "):].strip()
    candidates = [raw]
    try:
        decoded = base64.b64decode(raw, validate=True).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return candidates
    if decoded and decoded.isprintable() and " " not in decoded:
        candidates.insert(0, decoded)
    return candidates


@dataclass(frozen=True)
class Page:
    offset: int
    limit: int
    date_from: datetime | None
    date_to: datetime | None
    after: tuple[datetime, str] | None = None  # keyset cursor: (last_updated, id) of the last row


def read_page(query: dict[str, str], max_limit: int) -> Page:
    """offset/limit/date_from/date_to from a list request; ValueError names the bad one."""
    def number(name: str, default: int) -> int:
        try:
            value = int(query.get(name, default))
        except ValueError:
            raise ValueError(f"{name} must be a whole number") from None
        if value < 0:
            raise ValueError(f"{name} must not be negative")
        return value

    def moment(name: str) -> datetime | None:
        if name not in query:
            return None
        try:
            return parse_timestamp(query[name])
        except ValueError:
            raise ValueError(f"{name} must be a UTC DateTime") from None

    after = None
    if "after" in query:
        stamp, _, key = query["after"].partition(" ")
        try:
            after = (parse_timestamp(stamp), key)
        except ValueError:
            raise ValueError("after must be a cursor from a Link header") from None
    return Page(number("offset", 0), min(number("limit", max_limit) or max_limit, max_limit),
                moment("date_from"), moment("date_to"), after)


def next_link(base_url: str, page: Page, total: int, date_to: datetime,
              last: tuple[datetime, str] | None) -> str | None:
    """The Link header to the following page, carrying the filters; None on the last page.

    Pages follow a cursor on (last_updated, id) below a date_to pinned at the first page, so
    an object changed meanwhile neither shifts the pages nor comes twice: it drops out of this
    listing, and the partner hears of it by push.
    """
    if last is None or page.offset + page.limit >= total:
        return None
    params: dict[str, str] = {"offset": str(page.offset + page.limit), "limit": str(page.limit),
                              "date_to": _cursor_time(date_to),
                              "after": f"{_cursor_time(last[0])} {last[1]}"}
    if page.date_from is not None:
        params["date_from"] = timestamp(page.date_from)
    return f'<{base_url}?{urlencode(params)}>; rel="next"'


def _cursor_time(at: datetime) -> str:
    # Microseconds kept: a cursor must not round a row onto the wrong side of itself.
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
