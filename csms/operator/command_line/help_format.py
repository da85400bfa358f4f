"""Command-line help that shows each option's default, and argument errors in one line."""

from __future__ import annotations

import argparse
import copy
from typing import NoReturn


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


def every_parser(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """The parser and all its sub-commands' parsers, depth first."""
    found = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):  # aliases once
                found += every_parser(sub)
    return found

