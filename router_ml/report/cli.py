"""``router-ml report``: flags in, :func:`router_ml.report.pipeline.make_report` called, a summary out."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from router_ml.cli_options import (
    HelpFormatter,
    add_embedding_options,
    add_log_options,
    number_in,
)

if TYPE_CHECKING:
    from router_ml.report.pipeline import ReportResult


def add_report(commands: argparse._SubParsersAction) -> None:
    """Register the ``report`` subcommand."""

    parser = commands.add_parser(
        "report",
        help="score an evaluation log with a trained version and write the offline report",
        formatter_class=HelpFormatter,
    )
    parser.add_argument(
        "--model", required=True, type=Path, metavar="DIR", help="registry or version folder"
    )
    add_log_options(parser)
    parser.add_argument(
        "--out", required=True, type=Path, metavar="REPORT_DIR", help="report folder"
    )
    parser.add_argument(
        "--allow-train-overlap",
        action="store_true",
        help="score prompts the router was trained on (counted in the report) instead of refusing",
    )
    parser.add_argument(
        "--bootstrap",
        type=number_in(1, kind=int),
        default=1000,
        metavar="N",
        help="bootstrap resamples of the prompts",
    )
    parser.add_argument(
        "--seed", type=number_in(0, kind=int), default=0, help="seed of the bootstrap resamples"
    )
    add_embedding_options(parser)
    parser.set_defaults(run=_run_report)


def _run_report(args: argparse.Namespace) -> int:
    from router_ml.report.pipeline import ReportConfig, make_report

    result = make_report(
        ReportConfig(
            model=args.model,
            data=tuple(args.data),
            catalog=args.catalog,
            out=args.out,
            allow_train_overlap=args.allow_train_overlap,
            layout=args.layout,
            cache_dir=args.cache_dir,
            n_bootstrap=args.bootstrap,
            seed=args.seed,
            show_progress=not args.no_progress,
        )
    )
    print(summary(result))
    return 0


def summary(result: ReportResult) -> str:
    """The console summary: the router as served (default knob) first, then the sweep's best points."""
    from router_ml.evaluation.metrics import cost_ratio

    report, overlap = result.report, result.source.n_train_overlap
    ignored = result.source.ignored_models
    best = report.singles[report.best_single]
    share = cost_ratio(report.router, best)
    return (
        f"wrote {result.out}/report.html on {report.n_prompts} prompts"
        + (f" ({overlap} in the training set)" if overlap else "")
        + (f"; left out {', '.join(ignored)} (not routed to)" if ignored else "")
        + f"\nrouter at its default min_confidence {report.min_confidence:g}: quality "
        f"{report.router.quality:.3f}, cost ${report.router.cost_usd:.4g}, savings vs the best "
        f"single model ({report.best_single}, quality {best.quality:.3f}, cost "
        f"${best.cost_usd:.4g}) {_pct(None if share is None else 1.0 - share)}"
        f"\nmin_confidence sweep, best points chosen on these prompts: savings at best quality "
        f"{_pct(report.learned.savings_at_best_quality)}, at 95% "
        f"{_pct(report.learned.savings_at_95pct_quality)} (zero router "
        f"{_pct(report.zero_router.savings_at_best_quality)} / "
        f"{_pct(report.zero_router.savings_at_95pct_quality)}); ECE {report.learned.ece:.3f}"
    )


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"
