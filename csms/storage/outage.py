"""The database away, as the log tells it: one line when it goes, throttled reminders, one when it is back."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable

import asyncpg
import structlog

from csms import logs

log = structlog.get_logger(__name__)

# Connection lost or refused (08xxx, ConnectionDoesNotExistError among them), the server starting
# or stopping (57P01-57P03); not a cancelled query (57014, also an OperatorInterventionError).
_AWAY = (asyncpg.PostgresConnectionError, asyncpg.CannotConnectNowError,
         asyncpg.AdminShutdownError, asyncpg.CrashShutdownError)

# How often an outage that goes on is named again (with the count of failures left out).
REMIND_EVERY = 60.0


def is_outage(exc: BaseException) -> bool:
    """Whether exc is the database going or being away, rather than a fault of ours: asyncpg's
    connection errors, and OSErrors (refused, reset, timed out) raised inside asyncpg. An
    InterfaceError counts only for a connection closed under us ("another operation is in progress" is
    a bug, "pool is closing" our own stop); an OSError elsewhere (a roaming partner, a file) is
    not the database."""
    seen: set[int] = set()
    current: BaseException | None = exc
    # Our own wrappers (`raise … from exc`) name the cause; an error raised while handling one
    # (its __context__) is a fault of its own.
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, _AWAY):
            return True
        if isinstance(current, asyncpg.InterfaceError):  # e.g. "cannot call Transaction.__aexit__
            return "connection is closed" in str(current)  # (): the underlying connection is closed"
        if isinstance(current, OSError) and _raised_in_asyncpg(current):
            return True
        current = current.__cause__
    return False


def _raised_in_asyncpg(exc: BaseException) -> bool:
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_globals.get("__name__", "").startswith("asyncpg"):
            return True
        tb = tb.tb_next
    return False


def in_words(exc: BaseException) -> str:
    """The error as an operator reads it: 'Connection refused', not a repr."""
    if isinstance(exc, asyncpg.InterfaceError) and exc.__context__ is not None \
            and is_outage(exc.__context__):  # a closed connection's aftermath: say what closed it
        return in_words(exc.__context__)
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, OSError) and exc.errno:  # asyncio's "Connect call failed (…)" says less
        return os.strerror(exc.errno)
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


class Outage:
    """Whether the database is away, as this process last saw it, and what it has said so."""

    def __init__(self, remind_every: float = REMIND_EVERY,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.remind_every = remind_every
        self.clock = clock
        self.since: float | None = None  # when the outage began; None: the database answers
        self._said_at = 0.0
        self._left_out = 0

    def noted(self, exc: BaseException) -> bool:
        """True: exc is the database away, and the log says so (once a period, not per error);
        the caller says no more. False: not an outage, the caller logs it as it would."""
        if not is_outage(exc):
            return False
        now = self.clock()
        if self.since is None:
            self.since, self._said_at, self._left_out = now, now, 0
            self._say("database unreachable", error=in_words(exc))
        elif now - self._said_at >= self.remind_every:
            self._say("database still unreachable", error=in_words(exc),
                      seconds=round(now - self.since), failures=self._left_out + 1)
            self._said_at, self._left_out = now, 0
        else:
            self._left_out += 1
        return True

    @staticmethod
    def _say(event: str, **fields: object) -> None:
        # The process's database, not the charger (or the event about one, csms/domain/events.py)
        # whose work happened to meet it away or to reconnect the pool.
        handling = logs.current_charge_point.set(None)
        # Ellipsis: structlog's own mark of a key unbound (merge_contextvars leaves it out).
        bound = structlog.contextvars.bind_contextvars(charge_point_id=..., session_id=...)
        try:
            log.warning(event, **fields)
        finally:
            structlog.contextvars.reset_contextvars(**bound)
            logs.current_charge_point.reset(handling)

    def reachable(self) -> None:
        """The database answered: the outage, if one was noted, is over."""
        if self.since is None:
            return
        seconds = self.clock() - self.since
        self.since = None
        # At warning, as the line that began it: a log kept at warning sees both.
        self._say("database reachable again", seconds=round(seconds, 1))


# One per process: the database is one, and every loop that meets it away tells the same story.
outage = Outage()


class LibraryOutageFilter(logging.Filter):
    """For asyncpg's own loggers (its pool restoring connections logs each failure with a
    traceback): an outage error becomes our one line; anything else passes as it is."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return exc is None or not outage.noted(exc)


def quiet_library_outages() -> None:
    """Installs the filter on asyncpg's loggers (a logger's filter sees only its own records)."""
    for name in ("asyncpg", "asyncpg.pool", "asyncpg.connection"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, LibraryOutageFilter) for f in logger.filters):
            logger.addFilter(LibraryOutageFilter())
