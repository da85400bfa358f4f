"""Command-line arguments: help showing each default, checked numbers and ids, errors in one line."""

from __future__ import annotations

import argparse
import copy
from collections.abc import Callable
from typing import NoReturn
from uuid import UUID


def shows_default(action: argparse.Action) -> bool:
    """An option whose default says something: a value, not a flag's False or an absent None."""
    return (action.default not in (None, argparse.SUPPRESS) and action.nargs != 0
            and not isinstance(action, argparse._SubParsersAction | argparse._HelpAction)
            and (bool(action.option_strings) or action.nargs in ("?", "*")))


class DefaultsShown(argparse.HelpFormatter):
    """Appends '(default: X)' to every option with a default, unless its help names it already."""

    def _format_action(self, action: argparse.Action) -> str:
        if shows_default(action) and "default" not in (action.help or ""):
            action = copy.copy(action)
            action.help = f"{action.help} (default: %(default)s)" if action.help \
                else "(default: %(default)s)"
        return super()._format_action(action)


class Parser(argparse.ArgumentParser):
    """Its sub-commands' parsers are its kind too, so every `--help` shows defaults."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("formatter_class", DefaultsShown)
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    def error(self, message: str) -> NoReturn:
        """A wrong argument is one line (exit 2); `--help` has the usage."""
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def count(low: int, high: int) -> Callable[[str], int]:
    """An argument type: a whole number from low to high (a database takes no more)."""
    def parsed(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = low - 1
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number from {low} to {high}")
        return value
    return parsed


def uuid_text(text: str) -> str:
    """An argument type: an id such as a session's (a UUID)."""
    try:
        return str(UUID(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an id (a UUID)") from None


def every_parser(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """The parser and all its sub-commands' parsers, depth first."""
    found = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):  # aliases once
                found += every_parser(sub)
    return found

