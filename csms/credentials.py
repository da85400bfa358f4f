"""Charger passwords (OCPP security profile 1): salted scrypt hashes, never the password itself."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import secrets

_N, _R, _P = 2**14, 8, 1


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P)
    return f"scrypt${_N}${_R}${_P}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        expected = bytes.fromhex(digest)
        actual = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r),
                                p=int(p))
    except (ValueError, binascii.Error):
        return False
    return scheme == "scrypt" and hmac.compare_digest(expected, actual)


class PasswordCheck:
    """scrypt costs tens of milliseconds by design: done in a worker thread (it releases the
    GIL), so other chargers are served meanwhile, and once per charger and password, so a
    fleet reconnecting after a restart is not held up for minutes. A password that matched is
    remembered as a keyed digest (this process's random key) next to the hash it matched."""

    def __init__(self, remember: int = 100_000) -> None:
        self.remember = remember
        self._key = secrets.token_bytes(32)
        self._matched: dict[str, bytes] = {}

    def _digest(self, password: str) -> bytes:
        return hmac.digest(self._key, password.encode(), "sha256")

    async def verify(self, password: str, stored: str) -> bool:
        known = self._matched.get(stored)
        if known is not None and hmac.compare_digest(known, self._digest(password)):
            return True
        if not await asyncio.to_thread(verify_password, password, stored):
            return False
        if len(self._matched) >= self.remember:
            self._matched.clear()
        self._matched[stored] = self._digest(password)
        return True


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    """(username, password) from an HTTP Basic Authorization header, or None."""
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    username, sep, password = decoded.partition(":")
    return (username, password) if sep else None
