"""Command-line options shared by several ``router-ml`` subcommands."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_embedding_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--cache-dir`` and ``--no-progress`` (every command that embeds prompts has them)."""
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        metavar="DIR",
        help="embedding cache (default: $ROUTER_ML_CACHE or ~/.cache/router-ml)",
    )
    parser.add_argument("--no-progress", action="store_true", help="hide progress bars")
