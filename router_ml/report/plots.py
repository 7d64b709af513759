"""The report's figures as PNG bytes, drawn with matplotlib's object API (Agg, no pyplot state).

matplotlib is imported inside :func:`render_figures`'s helpers, never at import.
"""

from __future__ import annotations

import io
import math
from itertools import combinations, pairwise
from typing import Any

import numpy as np

from router_ml.evaluation.curves import Point
from router_ml.evaluation.metrics import NEAR_BEST_FRACTION, cost_ratio
from router_ml.report.compute import RoutingReport, SweepFigures

DPI = 130
ROUTER_COLOUR = "#1f5fbf"
ZERO_COLOUR = "#e07b00"
ORACLE_COLOUR = "#c0392b"
SINGLE_COLOUR = "#555555"
LOG_COST_SPREAD = 8.0
SEGMENT_POINTS = 40

CAPTIONS = {
    "cost_quality.png": (
        "Cost-quality curve. Each blue point is the router at one min_confidence (0 to 1); the "
        "thick blue line is its non-decreasing convex hull, the large marker its default. Grey "
        "points are the single models; the thin grey lines mix two of them at random, and the "
        "dashed line is the best of those mixes: a router must lie above it. Orange: the zero "
        "router (no prompt information). Dotted: the best single model's quality and 95% of it."
    ),
    "traffic.png": (
        "Share of the prompts each model receives from the router at its default min_confidence, "
        "and from the oracle."
    ),
    "reliability.png": (
        "Reliability of the pass probabilities over every (prompt, model) pair, 10 equal-width "
        "bins: mean predicted probability against the observed pass rate (on the diagonal = "
        "calibrated); below, how many probabilities fall in each bin."
    ),
    "per_task.png": (
        "Per task: mean score of the router, of the best single model overall and of the oracle; "
        "right, the router's cost as a share of the best single model's cost on the same prompts."
    ),
    "confusion.png": (
        "Confusion matrix of the card's cheapest-passing classifier (argmax) against the oracle "
        "labels: rows are the oracle's cheapest passing model, columns the prediction."
    ),
}


def render_figures(report: RoutingReport) -> dict[str, bytes]:
    """Every figure of the report, by file name (the per-task one only when tasks are known)."""
    builders = {
        "cost_quality.png": _cost_quality,
        "traffic.png": _traffic,
        "reliability.png": _reliability,
        "per_task.png": _per_task,
        "confusion.png": _confusion,
    }
    if not report.tasks:
        del builders["per_task.png"]
    return {name: _png(build(report)) for name, build in builders.items()}


def _figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=DPI, layout="constrained")


def _png(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _per_thousand(report: RoutingReport, cost_usd: float) -> float:
    return 1000.0 * cost_usd / report.n_prompts


def _hull_line(report: RoutingReport, hull: list[Point], right: float) -> tuple[list, list]:
    xs = [_per_thousand(report, c) for c, _ in hull] + [right]
    ys = [q for _, q in hull] + [hull[-1][1]]
    return xs, ys


def _straight(xs: list[float], ys: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """Points along segments that are straight in cost, so they stay true on a log cost axis."""
    t = np.linspace(0.0, 1.0, SEGMENT_POINTS)
    dense_x = [x0 + t * (x1 - x0) for x0, x1 in pairwise(xs)]
    dense_y = [y0 + t * (y1 - y0) for y0, y1 in pairwise(ys)]
    return np.concatenate(dense_x or [xs]), np.concatenate(dense_y or [ys])


def _cost_quality(report: RoutingReport) -> Any:
    from matplotlib.ticker import FuncFormatter

    figure = _figure(10, 7.5)
    ax = figure.add_subplot()
    singles = {n: (_per_thousand(report, f.cost_usd), f.quality) for n, f in report.singles.items()}
    right = _per_thousand(report, report.cost_range[1])
    for (xa, ya), (xb, yb) in combinations(singles.values(), 2):
        ax.plot(*_straight([xa, xb], [ya, yb]), color="#d5d5d5", linewidth=0.6, zorder=1)
    _sweep_curve(ax, report, report.zero_router, ZERO_COLOUR, "zero router", right)
    ax.plot(
        *_straight(*_hull_line(report, report.single_model_hull, right)),
        color="#222222",
        linestyle=(0, (4, 3)),
        linewidth=1.1,
        label="best random mix of two single models",
        zorder=3.5,
    )
    _sweep_curve(ax, report, report.learned, ROUTER_COLOUR, "router", right)
    for name, (x, y) in singles.items():
        ax.scatter(x, y, color=SINGLE_COLOUR, s=28, zorder=4)
        ax.annotate(
            name,
            (x, y),
            textcoords="offset points",
            xytext=(5, -10),
            fontsize=7.5,
            zorder=6,
            bbox={
                "boxstyle": "square,pad=0.1",
                "facecolor": "white",
                "edgecolor": "none",
                "alpha": 0.7,
            },
        )
    _markers(ax, report)
    _quality_levels(ax, report)
    costs = [x for x, _ in singles.values()]
    if 0 < LOG_COST_SPREAD * min(costs) < max(costs):
        ax.set_xscale("log")
        ax.set_xlim(min(costs) / 1.15, max(costs) * 1.6)
    else:  # also when a model is free (no log axis) or all are (no cost range)
        ax.set_xlim(0, max(costs) * 1.3 or 1.0)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"${value:g}"))
    ax.xaxis.set_minor_formatter(FuncFormatter(_minor_dollars))
    ax.tick_params(axis="x", which="both", labelsize=8)
    ax.set_xlabel("cost per 1,000 requests (USD)")
    ax.set_ylabel("quality (mean score)")
    ax.set_title(f"Cost and quality on {report.n_prompts} prompts")
    ax.grid(alpha=0.25, which="both")
    figure.legend(loc="outside lower center", ncol=2, fontsize=8, frameon=False)
    return figure


def _minor_dollars(value: float, _: int) -> str:
    """Label only the 2x and 5x minor ticks of a log axis, so the labels never collide."""
    leading = round(value / 10 ** math.floor(math.log10(value))) if value > 0 else 0
    return f"${value:g}" if leading in (2, 5) else ""


def _quality_levels(ax: Any, report: RoutingReport) -> None:
    best = report.singles[report.best_single].quality
    for level, text in ((best, "best single model"), (NEAR_BEST_FRACTION * best, "95% of it")):
        ax.axhline(level, color="#999999", linestyle=":", linewidth=0.9, zorder=0)
        ax.annotate(
            text,
            (0.0, level),
            xycoords=("axes fraction", "data"),
            xytext=(4, 3),
            textcoords="offset points",
            fontsize=7.5,
            color="#666666",
        )


def _sweep_curve(
    ax: Any, report: RoutingReport, policy: SweepFigures, colour: str, name: str, right: float
) -> None:
    xs = [_per_thousand(report, p.cost_usd) for p in policy.curve]
    ax.scatter(xs, [p.quality for p in policy.curve], color=colour, s=9, alpha=0.55, zorder=3)
    ax.plot(
        *_straight(*_hull_line(report, policy.hull, right)),
        color=colour,
        linewidth=2.2,
        label=f"{name}: points over min_confidence 0..1, and their hull",
        zorder=3,
    )


def _markers(ax: Any, report: RoutingReport) -> None:
    marks = [
        (report.router, ROUTER_COLOUR, "D", 70, f"router at default ({report.min_confidence:g})"),
        (report.oracle, ORACLE_COLOUR, "*", 160, "oracle"),
        (report.random_router, "#7f3fbf", "X", 60, "random router, router's traffic share"),
        (report.label_classifier.outcome, "#2a9d8f", "s", 45, "card classifier (argmax)"),
    ]
    for figures, colour, marker, size, label in marks:
        ax.scatter(
            _per_thousand(report, figures.cost_usd),
            figures.quality,
            color=colour,
            marker=marker,
            s=size,
            edgecolor="white",
            linewidth=0.8,
            label=label,
            zorder=7,
        )


def _traffic(report: RoutingReport) -> Any:
    figure = _figure(8, 0.45 * len(report.models) + 1.4)
    ax = figure.add_subplot()
    order = sorted(report.models, key=lambda m: report.singles[m].cost_usd)
    y = np.arange(len(order))
    ax.barh(
        y - 0.2, [report.traffic_share[m] for m in order], 0.4, color=ROUTER_COLOUR, label="router"
    )
    ax.barh(
        y + 0.2,
        [report.oracle_share[m] for m in order],
        0.4,
        color=ORACLE_COLOUR,
        alpha=0.7,
        label="oracle",
    )
    ax.set_yticks(y, order, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("share of prompts")
    ax.set_title("Traffic share per model (cheapest at the top)")
    ax.legend(fontsize=8)
    ax.grid(axis="x", alpha=0.25)
    return figure


def _reliability(report: RoutingReport) -> Any:
    figure = _figure(7, 7)
    top, bottom = figure.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    top.plot([0, 1], [0, 1], color="#999999", linestyle=":", label="perfectly calibrated")
    for policy, colour, name in (
        (report.learned, ROUTER_COLOUR, "router"),
        (report.zero_router, ZERO_COLOUR, "zero router"),
    ):
        filled = [b for b in policy.reliability if b.count]
        top.plot(
            [b.mean_probability for b in filled],
            [b.observed_rate for b in filled],
            marker="o",
            color=colour,
            label=f"{name} (ECE {policy.ece:.3f})",
        )
    centres = [(b.low + b.high) / 2 for b in report.learned.reliability]
    bottom.bar(
        centres, [b.count for b in report.learned.reliability], width=0.09, color=ROUTER_COLOUR
    )
    top.set_ylabel("observed pass rate")
    top.set_title("Reliability of P(pass)")
    top.legend(fontsize=8, loc="upper left")
    top.grid(alpha=0.25)
    bottom.set_xlabel("predicted pass probability")
    bottom.set_ylabel("router's count")
    bottom.set_xlim(0, 1)
    return figure


def _per_task(report: RoutingReport) -> Any:
    names = list(report.tasks)
    overall = report.best_single
    figure = _figure(11, 0.42 * len(names) + 1.6)
    quality_ax, cost_ax = figure.subplots(1, 2, sharey=True, width_ratios=[2, 1])
    y = np.arange(len(names))
    bars = (
        ("router", [report.tasks[t].router.quality for t in names], ROUTER_COLOUR),
        (overall, [report.tasks[t].models[overall].quality for t in names], SINGLE_COLOUR),
        ("oracle", [report.tasks[t].oracle.quality for t in names], ORACLE_COLOUR),
    )
    for k, (label, values, colour) in enumerate(bars):
        quality_ax.barh(y + (k - 1) * 0.27, values, 0.27, color=colour, label=label)
    shares = [cost_ratio(report.tasks[t].router, report.tasks[t].models[overall]) for t in names]
    ratios = [np.nan if share is None else share for share in shares]
    cost_ax.barh(y, ratios, 0.6, color=ROUTER_COLOUR)
    cost_ax.axvline(1.0, color="#999999", linestyle=":")
    quality_ax.set_yticks(y, [f"{t} ({report.tasks[t].n_prompts})" for t in names], fontsize=8)
    quality_ax.invert_yaxis()
    quality_ax.set_xlabel("quality (mean score)")
    figure.legend(loc="outside lower center", ncol=3, fontsize=8, frameon=False)
    cost_ax.set_xlabel("router cost / best single model's")
    cost_ax.set_title(f"cost vs {overall}", fontsize=10)
    quality_ax.set_title("Quality per task (number of prompts)", fontsize=10)
    return figure


def _confusion(report: RoutingReport) -> Any:
    matrix = np.array(report.label_classifier.confusion)
    size = 0.55 * len(report.models) + 2.5
    figure = _figure(size + 1.5, size)
    ax = figure.add_subplot()
    image = ax.imshow(matrix, cmap="Blues")
    for (i, j), count in np.ndenumerate(matrix):
        if count:
            dark = count > matrix.max() / 2
            ax.text(
                j,
                i,
                str(count),
                ha="center",
                va="center",
                fontsize=8,
                color="white" if dark else "black",
            )
    ticks = np.arange(len(report.models))
    ax.set_xticks(ticks, report.models, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(ticks, report.models, fontsize=8)
    ax.set_xlabel("predicted label")
    ax.set_ylabel("oracle label (cheapest passing model)")
    ax.set_title(
        f"Card classifier: accuracy {report.label_classifier.accuracy:.3f}, "
        f"macro-F1 {report.label_classifier.macro_f1:.3f}"
    )
    figure.colorbar(image, ax=ax, shrink=0.7, label="prompts")
    return figure
