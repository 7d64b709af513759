"""``router-ml`` command line: parses flags and calls the same functions a program would."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from router_ml.bench.cli import add_bench
from router_ml.cli_options import (
    EXIT_FAILED,
    HelpFormatter,
    add_embedding_options,
    add_log_options,
    exit_75_when_locked,
    exit_codes,
    number_in,
)
from router_ml.errors import RouterMLError
from router_ml.report.cli import add_report
from router_ml.retraining.cli import add_promote, add_retrain, add_rollback
from router_ml.serving.cli import add_route, add_serve

logger = logging.getLogger("router_ml")


def _score_scale(text: str):
    from router_ml.data.evallog import ScoreScale

    try:
        low, high = (float(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LOW,HIGH such as 0,1; got {text!r}") from None
    if not high > low:
        raise argparse.ArgumentTypeError(f"HIGH must exceed LOW; got {text!r}")
    return ScoreScale(low, high)


def _add_train(commands: argparse._SubParsersAction) -> None:
    from router_ml.data.labels import UNSOLVABLE_POLICIES
    from router_ml.routing.policy import POLICIES

    parser = commands.add_parser(
        "train",
        help="train a router and publish it as a new version",
        description="Train a router on evaluation logs and publish it as the registry's current "
        f"version; {exit_codes('published')}.",
        formatter_class=HelpFormatter,
    )
    add_log_options(parser)
    parser.add_argument("--out", required=True, type=Path, metavar="DIR", help="registry folder")
    parser.add_argument(
        "--threshold",
        type=number_in(0, 1),
        default=1.0,
        help="score (0..1) a model must reach to pass",
    )
    parser.add_argument(
        "--encoder",
        default=None,
        metavar="PATH",
        help="local sentence-transformers folder (default: bundled all-MiniLM-L6-v2)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the held-out and validation splits"
    )
    parser.add_argument(
        "--score-scale",
        type=_score_scale,
        default="0,1",
        metavar="LOW,HIGH",
        help="declared range of raw scores",
    )
    parser.add_argument(
        "--unsolvable",
        choices=UNSOLVABLE_POLICIES,
        default="cheapest",
        help="label of prompts no model passes, for the cheapest-passing classifier",
    )
    parser.add_argument(
        "--policy",
        choices=POLICIES,
        default="utility",
        help="decision policy: expected utility with a cost weight, or the cheapest model over the knob",
    )
    parser.add_argument(
        "--max-seq-length",
        type=number_in(1, kind=int),
        default=None,
        metavar="TOKENS",
        help="tokens of a prompt the encoder reads, from its start (default: the model's own, 256 "
        "for all-MiniLM-L6-v2; at most its positions, 512)",
    )
    add_embedding_options(parser)
    parser.set_defaults(run=_run_train)


@exit_75_when_locked
def _run_train(args: argparse.Namespace) -> int:
    from rich.console import Console

    from router_ml.training.pipeline import TrainConfig, train
    from router_ml.training.summary import render_summary

    result = train(
        TrainConfig(
            data=tuple(args.data),
            catalog=args.catalog,
            out=args.out,
            threshold=args.threshold,
            encoder=args.encoder,
            seed=args.seed,
            layout=args.layout,
            scale=args.score_scale,
            unsolvable=args.unsolvable,
            policy=args.policy,
            max_seq_length=args.max_seq_length,
            cache_dir=args.cache_dir,
            show_progress=not args.no_progress,
        )
    )
    console = Console(width=max(Console().width, 110))
    console.print(render_summary(result.summary))
    split = result.manifest["split"]
    console.print(
        f"published {result.version_dir} ({split['n_train']} train / {split['n_test']} held-out "
        f"prompts, split by {split['method']}; {split['dropped_train_overlap']} training prompts "
        f"dropped whose text is also held out; {result.newly_embedded} newly embedded; "
        f"{split['skipped_incomplete']} incomplete prompts skipped)"
    )
    return 0


COMMANDS: dict[str, Callable[[argparse._SubParsersAction], None]] = {
    "train": _add_train,
    "serve": add_serve,
    "route": add_route,
    "report": add_report,
    "retrain": add_retrain,
    "promote": add_promote,
    "rollback": add_rollback,
    "bench": add_bench,
}


def build_parser() -> argparse.ArgumentParser:
    """The ``router-ml`` argument parser with every subcommand."""
    parser = argparse.ArgumentParser(prog="router-ml", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in COMMANDS.values():
        add(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: run one subcommand; project errors print ``Error: ...`` and exit
    :data:`~router_ml.cli_options.EXIT_FAILED`."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return args.run(args)
    except RouterMLError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("Error: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
