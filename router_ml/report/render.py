"""Present a computed :class:`RoutingReport` as ``report.json``."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from router_ml.evaluation.bootstrap import Interval
from router_ml.evaluation.metrics import CurvePoint, RoutingFigures
from router_ml.report.compute import RoutingReport, SweepFigures, TaskFigures

FORMAT_VERSION = 1


@dataclass(frozen=True)
class ReportSource:
    """Where the report's figures came from."""

    router_version: str
    router_folder: str
    encoder: str
    data: list[str]
    catalog: str
    created_at: str
    n_train_overlap: int
    skipped_incomplete: int
    #: Models in the log that the router does not route to, left out of every figure.
    ignored_models: list[str]


def _figures(figures: RoutingFigures, n_prompts: int) -> dict[str, float]:
    return {**asdict(figures), "cost_per_request_usd": figures.cost_usd / n_prompts}


def _curve(curve: list[CurvePoint]) -> list[dict[str, float]]:
    return [asdict(p) for p in curve]


def _sweep(policy: SweepFigures) -> dict[str, Any]:
    return {
        "highest_quality": policy.highest_quality,
        "savings_at_best_quality": policy.savings_at_best_quality,
        "savings_at_95pct_quality": policy.savings_at_95pct_quality,
        "apgr": policy.apgr,
        "aiq": policy.aiq,
        "ece": policy.ece,
        "reliability": [asdict(b) for b in policy.reliability],
        "hull": [list(p) for p in policy.hull],
        "curve": _curve(policy.curve),
    }


def _task(task: TaskFigures) -> dict[str, Any]:
    n = task.n_prompts
    return {
        "n_prompts": n,
        "router": _figures(task.router, n),
        "oracle": _figures(task.oracle, n),
        "best_single": {"model": task.best_single, **_figures(task.models[task.best_single], n)},
        "models": {name: _figures(f, n) for name, f in task.models.items()},
    }


def _interval(interval: Interval, scale: float = 1.0) -> dict[str, float | None]:
    return {
        "low": None if interval.low is None else interval.low * scale,
        "high": None if interval.high is None else interval.high * scale,
    }


def _bootstrap(report: RoutingReport) -> dict[str, Any]:
    boot = report.bootstrap
    return {
        "n_resamples": boot.n_resamples,
        "seed": boot.seed,
        "level": boot.level,
        "router_quality": _interval(boot.router_quality),
        "router_cost_usd": _interval(boot.router_cost_usd),
        "router_cost_per_request_usd": _interval(boot.router_cost_usd, 1 / report.n_prompts),
        "savings_at_best_quality": _interval(boot.savings_at_best_quality),
        "savings_at_95pct_quality": _interval(boot.savings_at_95pct_quality),
        "zero_router_savings_at_best_quality": _interval(boot.zero_router_savings_at_best_quality),
        "zero_router_savings_at_95pct_quality": _interval(
            boot.zero_router_savings_at_95pct_quality
        ),
    }


def report_document(report: RoutingReport, source: ReportSource) -> dict[str, Any]:
    """The ``report.json`` document: every figure of the report, with where it came from."""
    n = report.n_prompts
    card = report.label_classifier
    return {
        "format_version": FORMAT_VERSION,
        "source": asdict(source),
        "n_prompts": n,
        "n_train_overlap": source.n_train_overlap,
        "threshold": report.threshold,
        "router": {
            **_figures(report.router, n),
            "min_confidence": report.min_confidence,
            "policy": report.policy.to_dict(),
            "traffic_share": report.traffic_share,
        },
        "models": {name: _figures(f, n) for name, f in report.singles.items()},
        "best_single": {
            "model": report.best_single,
            **_figures(report.singles[report.best_single], n),
        },
        "cheapest_single": {
            "model": report.cheapest_single,
            **_figures(report.singles[report.cheapest_single], n),
        },
        "oracle": {**_figures(report.oracle, n), "traffic_share": report.oracle_share},
        "random_router": _figures(report.random_router, n),
        "savings_at_best_quality": report.learned.savings_at_best_quality,
        "savings_at_95pct_quality": report.learned.savings_at_95pct_quality,
        "apgr": report.learned.apgr,
        "aiq": {
            "router": report.learned.aiq,
            "single_models": report.single_model_aiq,
            "zero_router": report.zero_router.aiq,
            "cost_range_usd": list(report.cost_range),
        },
        "label_accuracy": card.accuracy,
        "label_accuracy_solvable": card.accuracy_solvable,
        "macro_f1": card.macro_f1,
        "label_classifier": {
            **_figures(card.outcome, n),
            "confusion_matrix": {
                "models": report.models,
                "rows": "oracle label",
                "columns": "predicted",
                "counts": card.confusion,
            },
        },
        "ece": report.learned.ece,
        "reliability": [asdict(b) for b in report.learned.reliability],
        "curve": _curve(report.learned.curve),
        "curve_highest_quality": report.learned.highest_quality,
        "router_hull": [list(p) for p in report.learned.hull],
        "single_model_hull": [list(p) for p in report.single_model_hull],
        "zero_router": _sweep(report.zero_router),
        "bootstrap": _bootstrap(report),
        "per_task": {name: _task(t) for name, t in report.tasks.items()},
    }


def render_json(report: RoutingReport, source: ReportSource) -> bytes:
    """``report.json`` as UTF-8 bytes."""
    return (json.dumps(report_document(report, source), indent=2) + "\n").encode("utf-8")
