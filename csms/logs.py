"""Logging set-up: structlog JSON lines off a terminal, readable console output on one."""

from __future__ import annotations

import logging
import sys

import structlog


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
