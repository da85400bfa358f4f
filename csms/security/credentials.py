"""Charger passwords (OCPP security profile 1): salted scrypt hashes, never the password itself."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import secrets
from concurrent.futures import ThreadPoolExecutor

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


class Busy(Exception):
    """More password checks waiting than the bound allows: the caller is asked to come back."""


class PasswordCheck:
    """scrypt costs tens of milliseconds and 16 MiB by design: done in a few worker threads of
    its own (it releases the GIL), so other chargers are served meanwhile, with a bounded queue
    (beyond it, Busy at once: a flood of attempts costs neither memory nor everyone's latency),
    and once per charger and password, so a fleet reconnecting after a restart is not held up
    for minutes. A password that matched is remembered as a keyed digest (this process's random
    key) next to the hash it matched: that charger gets in without scrypt, flood or not."""

    def __init__(self, remember: int = 100_000, max_pending: int = 64, workers: int = 2) -> None:
        self.remember = remember
        self.max_pending = max_pending
        self._key = secrets.token_bytes(32)
        self._matched: dict[str, bytes] = {}
        self._workers = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="scrypt")
        self._pending = 0

    def _digest(self, password: str) -> bytes:
        return hmac.digest(self._key, password.encode(), "sha256")

    def known(self, password: str, stored: str) -> bool:
        """The password matched this hash before: no scrypt needed."""
        known = self._matched.get(stored)
        return known is not None and hmac.compare_digest(known, self._digest(password))

    async def verify(self, password: str, stored: str) -> bool:
        """Raises Busy when max_pending checks are already waiting or running."""
        if self.known(password, stored):
            return True
        if self._pending >= self.max_pending:
            raise Busy
        self._pending += 1
        try:
            matched = await asyncio.get_running_loop().run_in_executor(
                self._workers, verify_password, password, stored)
        finally:
            self._pending -= 1
        if not matched:
            return False
        if len(self._matched) >= self.remember:
            self._matched.clear()
        self._matched[stored] = self._digest(password)
        return True

    async def hash(self, password: str) -> str:
        """A new hash of the password, made in the same threads under the same bound (Busy)."""
        if self._pending >= self.max_pending:
            raise Busy
        self._pending += 1
        try:
            return await asyncio.get_running_loop().run_in_executor(
                self._workers, hash_password, password)
        finally:
            self._pending -= 1

    def close(self) -> None:
        self._workers.shutdown(wait=False, cancel_futures=True)


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
