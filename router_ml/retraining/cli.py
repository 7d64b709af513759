"""``router-ml retrain``, ``promote`` and ``rollback``: flags in, the library called, a line out."""

from __future__ import annotations

import argparse
from pathlib import Path

from router_ml.cli_options import (
    EXIT_KEPT,
    EXIT_OK,
    HelpFormatter,
    add_embedding_options,
    exit_75_when_locked,
    exit_codes,
    number_in,
)


def add_retrain(commands: argparse._SubParsersAction) -> None:
    """Register the ``retrain`` subcommand."""
    from router_ml.retraining.options import ENGINES

    parser = commands.add_parser(
        "retrain",
        help="train a challenger on recent logs and promote it only if it is not worse",
        description="Train a challenger and gate it against the registry's current version; "
        f"{exit_codes('promoted', (EXIT_KEPT, 'champion kept (challenger rejected)'))}.",
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--registry", required=True, type=Path, metavar="DIR", help="registry")
    parser.add_argument(
        "--history", required=True, type=Path, metavar="DIR", help="folder of evaluation logs"
    )
    parser.add_argument(
        "--window-days",
        type=number_in(0, above=True),
        default=30.0,
        metavar="N",
        help="days of history to learn from",
    )
    parser.add_argument(
        "--catalog",
        type=Path,
        default=None,
        metavar="FILE",
        help="model catalog (TOML); default: the current version's snapshot",
    )
    parser.add_argument(
        "--tolerance",
        type=number_in(0),
        default=0.01,
        metavar="X",
        help="how far below the champion the challenger may be on each gate metric",
    )
    parser.add_argument(
        "--keep",
        type=number_in(1, kind=int),
        default=10,
        metavar="K",
        help="versions to keep (plus current and its rollback target)",
    )
    parser.add_argument(
        "--engine", choices=ENGINES, default="local", help="where to read and embed"
    )
    parser.add_argument(
        "--ray-address",
        default=None,
        metavar="ADDR",
        help="Ray cluster for --engine ray (default: $RAY_ADDRESS or a local instance)",
    )
    add_embedding_options(parser)
    parser.set_defaults(run=_run_retrain)


@exit_75_when_locked
def _run_retrain(args: argparse.Namespace) -> int:
    from router_ml.retraining.job import RetrainConfig, retrain
    from router_ml.retraining.record import RECORD_MARKDOWN

    result = retrain(
        RetrainConfig(
            registry=args.registry,
            history=args.history,
            window_days=args.window_days,
            catalog=args.catalog,
            tolerance=args.tolerance,
            keep=args.keep,
            engine=args.engine,
            ray_address=args.ray_address,
            cache_dir=args.cache_dir,
            show_progress=not args.no_progress,
        )
    )
    record = result.record
    champion = record["champion"] or "none"
    if result.promoted:
        print(f"promoted {record['version']} (champion was {champion}): {record['reason']}")
    else:
        print(f"kept {champion}; challenger {record['version']} rejected: {record['reason']}")
    if record["drift"] and record["drift"]["flagged"]:
        print("drift flagged: see the decision record")
    if result.pruned:
        print(f"pruned {len(result.pruned)} old versions: {', '.join(result.pruned)}")
    print(f"decision record: {result.version_dir / RECORD_MARKDOWN}")
    return EXIT_OK if result.promoted else EXIT_KEPT


def add_promote(commands: argparse._SubParsersAction) -> None:
    """Register the ``promote`` subcommand."""
    parser = commands.add_parser(
        "promote",
        help="point a registry's current at a version (verified first)",
        description=f"Verify a version's files and point the registry's current at it; "
        f"{exit_codes('promoted')}.",
    )
    parser.add_argument("registry", type=Path, metavar="DIR", help="registry")
    parser.add_argument("version", metavar="VERSION", help="version folder name")
    parser.set_defaults(run=_run_promote)


@exit_75_when_locked
def _run_promote(args: argparse.Namespace) -> int:
    from router_ml.artifact.registry import promote, registry_lock

    with registry_lock(args.registry):
        previous = promote(args.registry, args.version)
    print(f"current is now {args.version} (was {previous or 'none'})")
    return 0


def add_rollback(commands: argparse._SubParsersAction) -> None:
    """Register the ``rollback`` subcommand."""
    parser = commands.add_parser(
        "rollback",
        help="point a registry's current back at the previous promoted version",
        description="Point the registry's current back at the newest older version that was not "
        f"rejected and whose files verify; {exit_codes('rolled back')}.",
    )
    parser.add_argument("registry", type=Path, metavar="DIR", help="registry")
    parser.set_defaults(run=_run_rollback)


@exit_75_when_locked
def _run_rollback(args: argparse.Namespace) -> int:
    from router_ml.artifact.registry import current_version, registry_lock, rollback

    with registry_lock(args.registry):
        previous = current_version(args.registry)
        target = rollback(args.registry)
    print(f"rolled back: current is now {target} (was {previous})")
    return 0
