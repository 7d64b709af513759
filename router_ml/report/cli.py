"""``router-ml report``: flags in, :func:`router_ml.report.pipeline.make_report` called, a line out."""

from __future__ import annotations

import argparse
from pathlib import Path

from router_ml.cli_options import HelpFormatter, add_embedding_options, add_log_options


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
        type=int,
        default=1000,
        metavar="N",
        help="bootstrap resamples of the prompts",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap resamples")
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
    report = result.report
    overlap = result.source.n_train_overlap
    print(
        f"wrote {result.out}/report.html on {report.n_prompts} prompts"
        + (f" ({overlap} in the training set)" if overlap else "")
        + f": savings at best quality {_pct(report.learned.savings_at_best_quality)}, "
        f"at 95% {_pct(report.learned.savings_at_95pct_quality)} "
        f"(zero router {_pct(report.zero_router.savings_at_best_quality)} / "
        f"{_pct(report.zero_router.savings_at_95pct_quality)}); ECE {report.learned.ece:.3f}"
    )
    return 0


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"
