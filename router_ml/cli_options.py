"""Command-line options shared by several ``router-ml`` subcommands."""

from __future__ import annotations

import argparse
import functools
import math
import sys
from collections.abc import Callable
from pathlib import Path

from router_ml.errors import RegistryLockedError

#: Exit codes of ``router-ml`` commands: 1 any project error, 3 a retrain's champion kept,
#: 75 (EX_TEMPFAIL) a registry locked by another run: try again later.
EXIT_OK, EXIT_FAILED, EXIT_KEPT, EXIT_LOCKED = 0, 1, 3, 75


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Appends each option's default to its help, unless the help already states it
    (``default:``) or there is none to state (None, an empty list, an unset flag)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        default = action.default
        stated = "default:" in (action.help or "")
        if stated or default is None or default is False or default == []:
            return action.help
        return super()._get_help_string(action)


def number_in(
    low: float,
    high: float | None = None,
    *,
    kind: type[int] | type[float] = float,
    above: bool = False,
) -> Callable[[str], float]:
    """An argparse ``type`` that parses a finite ``kind`` with ``low <= value [<= high]``
    (``low < value`` when ``above``), so a bad value is reported with the flag's name."""
    noun = "an integer" if kind is int else "a number"
    if high is not None:
        expected = f"{noun} in [{low:g}, {high:g}]"
    else:
        expected = f"{noun} {'>' if above else '>='} {low:g}"

    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            value = math.nan
        in_range = (value > low if above else value >= low) and (high is None or value <= high)
        if not (math.isfinite(value) and in_range):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    return parse


def add_log_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--data`` (repeatable), ``--catalog`` and ``--layout``: what every log reader needs."""
    from router_ml.data.evallog import LAYOUTS

    parser.add_argument(
        "--data",
        action="append",
        required=True,
        type=Path,
        metavar="FILE",
        help="evaluation log (.jsonl, .ndjson, .json or .csv, each optionally .gz, or .parquet); "
        "repeat for several",
    )
    parser.add_argument(
        "--catalog", required=True, type=Path, metavar="FILE", help="model catalog (TOML)"
    )
    parser.add_argument("--layout", choices=LAYOUTS, default="auto", help="log layout")


def add_embedding_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--cache-dir`` and ``--no-progress`` (every command that embeds prompts has them)."""
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="embedding cache (default: $ROUTER_ML_CACHE, else $XDG_CACHE_HOME/router-ml, else "
        "~/.cache/router-ml)",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")


def exit_codes(done: str, *others: tuple[int, str]) -> str:
    """The exit codes of a command that locks a registry, for its help: ``done`` is what 0 means,
    ``others`` are its own ``(code, meaning)`` pairs."""
    codes = [(EXIT_OK, done), *others, (EXIT_FAILED, "failed")]
    codes.append((EXIT_LOCKED, "registry locked by another run"))
    return "exit codes: " + ", ".join(f"{code} {meaning}" for code, meaning in codes)


def exit_75_when_locked(run: Callable[[argparse.Namespace], int]) -> Callable[..., int]:
    """Report a held registry lock as ``Error: ...`` with :data:`EXIT_LOCKED` (EX_TEMPFAIL)."""

    @functools.wraps(run)
    def wrapped(args: argparse.Namespace) -> int:
        try:
            return run(args)
        except RegistryLockedError as exc:
            print(f"Error: {exc}", file=sys.stderr)
            return EXIT_LOCKED

    return wrapped
