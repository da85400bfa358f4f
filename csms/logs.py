"""Logging set-up: structlog JSON lines off a terminal, readable console output on one."""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from contextvars import ContextVar
from typing import Any

import structlog

# The charger whose call is being handled, named by every line logged while handling it: set by
# the OCPP adapter per call (one ContextVar.set, where bind_contextvars cost 2% of a busy server).
current_charge_point: ContextVar[str | None] = ContextVar("current_charge_point", default=None)


def _add_charge_point(logger: Any, method: str,
                      event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    charge_point_id = current_charge_point.get()
    if charge_point_id is not None:
        event.setdefault("charge_point_id", charge_point_id)  # a line's own binding wins
    return event


class _StderrLogger:
    """Writes to whatever sys.stderr is at the time (test runners swap it)."""

    def msg(self, message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    debug = info = warning = warn = error = critical = exception = fatal = log = msg


def _stderr_logger(*args: object) -> _StderrLogger:
    return _StderrLogger()


def configure_logging(level: str = "info", fmt: str = "auto") -> None:
    numeric = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    as_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if as_json else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            _add_charge_point,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=_stderr_logger,
        cache_logger_on_first_use=False,  # keeps structlog.testing.capture_logs usable
    )
    # The ocpp library logs every frame at INFO; its errors still come through.
    logging.basicConfig(level=max(numeric, logging.WARNING), stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("ocpp").setLevel(max(numeric, logging.WARNING))
    logging.getLogger("websockets").setLevel(max(numeric, logging.WARNING))
    # asyncpg's pool logs each failed reconnect with a traceback: during an outage, our one line.
    from csms.storage import outage  # here: it logs through this module's names

    outage.quiet_library_outages()
