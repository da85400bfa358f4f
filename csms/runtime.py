"""The process's event loop: asyncio's own, or uvloop when `process.event_loop` chooses it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from csms.config import ConfigError

T = TypeVar("T")

EVENT_LOOPS = ("asyncio", "uvloop")


def loop_factory(event_loop: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """What makes the loop (None: asyncio's default). A loop chosen but not installed is a
    configuration error, said before anything starts, not a silent fallback: an operator who
    chose uvloop for its throughput must not find out from a slower node."""
    if event_loop == "asyncio":
        return None
    if event_loop == "uvloop":
        try:
            import uvloop
        except ImportError:
            raise ConfigError('process.event_loop is "uvloop" but uvloop is not installed: '
                              "pip install 'csms[uvloop]' (or choose \"asyncio\")") from None
        return uvloop.new_event_loop  # type: ignore[no-any-return]
    raise ConfigError(f"process.event_loop must be one of {', '.join(EVENT_LOOPS)}, "
                      f"not {event_loop!r}")


def run(main: Coroutine[Any, Any, T], event_loop: str = "asyncio") -> T:
    """asyncio.run on the chosen loop."""
    try:
        factory = loop_factory(event_loop)
    except ConfigError:
        main.close()  # never awaited: no "coroutine was never awaited" warning on the way out
        raise
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main)


def running_loop_name() -> str:
    """The running loop's kind, for the start-up log line and the bench's figures."""
    module = type(asyncio.get_running_loop()).__module__
    return "uvloop" if module.startswith("uvloop") else "asyncio"
