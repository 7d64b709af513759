"""``report.html``: one self-contained page (figures embedded as base64 PNG) for a ship decision."""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from html import escape

from router_ml.evaluation.bootstrap import Interval
from router_ml.evaluation.metrics import NEAR_BEST_FRACTION, RoutingFigures, cost_ratio
from router_ml.report.compute import RoutingReport
from router_ml.report.render import ReportSource

SMALL_SAMPLE = 300
WIDE_FIGURES = frozenset({"cost_quality.png", "per_task.png", "confusion.png"})

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto;
       max-width: 1100px; padding: 0 1em; color: #1a1a1a; line-height: 1.45; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { margin-top: 1.8em; border-bottom: 1px solid #ddd; }
.meta { color: #555; font-size: 0.92em; }
.note { background: #fff4e0; border-left: 4px solid #e8a33d; padding: 0.5em 0.9em; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.93em; }
th, td { padding: 0.3em 0.75em; border-bottom: 1px solid #e3e3e3; text-align: right; }
th:first-child, td:first-child { text-align: left; }
thead th { background: #f4f4f4; }
tr.router td { font-weight: 600; background: #eef5ff; }
.ci { color: #666; font-size: 0.88em; white-space: nowrap; font-weight: normal; }
figure { margin: 1.4em 0; }
figure img { max-width: 100%; border: 1px solid #eee; }
figure.narrow img { max-width: 820px; }
.model { font-size: 0.9em; white-space: nowrap; }
figcaption { color: #444; font-size: 0.92em; max-width: 950px; }
dt { font-weight: 600; margin-top: 0.6em; }
dd { margin-left: 1.2em; color: #333; }
"""

Show = Callable[[float | None], str]


def _pct(value: float | None) -> str:
    return "&mdash;" if value is None else f"{value:.1%}"


def _num(value: float | None) -> str:
    return "&mdash;" if value is None else f"{value:.3f}"


def _usd(value: float | None) -> str:
    if value is None:
        return "&mdash;"
    return f"${value:,.2f}" if value >= 1 else f"${value:.3g}"


def _ci(interval: Interval, show: Show) -> str:
    return f' <span class="ci">[{show(interval.low)}, {show(interval.high)}]</span>'


def _table(head: Sequence[str], rows: Sequence[Sequence[str]], css: Sequence[str] = ()) -> str:
    header = "".join(f"<th>{h}</th>" for h in head)
    body = "".join(
        f'<tr class="{css[i] if i < len(css) else ""}">'
        + "".join(f"<td>{cell}</td>" for cell in row)
        + "</tr>"
        for i, row in enumerate(rows)
    )
    return f"<table><thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>"


def _headline(report: RoutingReport) -> str:
    boot, learned, zero = report.bootstrap, report.learned, report.zero_router
    best = report.singles[report.best_single]
    rows = [
        [
            f"savings at the best single model's quality ({best.quality:.3f})",
            _pct(learned.savings_at_best_quality) + _ci(boot.savings_at_best_quality, _pct),
            _pct(zero.savings_at_best_quality)
            + _ci(boot.zero_router_savings_at_best_quality, _pct),
        ],
        [
            f"savings at {NEAR_BEST_FRACTION:.0%} of it ({NEAR_BEST_FRACTION * best.quality:.3f})",
            _pct(learned.savings_at_95pct_quality) + _ci(boot.savings_at_95pct_quality, _pct),
            _pct(zero.savings_at_95pct_quality)
            + _ci(boot.zero_router_savings_at_95pct_quality, _pct),
        ],
        ["APGR, cheapest to best single model", _num(learned.apgr), _num(zero.apgr)],
        [
            f"AIQ (the single models alone: {_num(report.single_model_aiq)})",
            _num(learned.aiq),
            _num(zero.aiq),
        ],
        ["ECE of the pass probabilities", _num(learned.ece), _num(zero.ece)],
        [
            "highest quality on the curve",
            _num(learned.highest_quality),
            _num(zero.highest_quality),
        ],
    ]
    note = (
        "<p class='meta'>&mdash;: that quality is never reached on the curve (as a bound: not in "
        f"that tail of the resamples). Brackets: {report.bootstrap.level:.0%} bootstrap "
        "intervals.</p>"
    )
    return _table(["figure", "router", "zero router (ignores the prompt)"], rows) + note


def _route(
    name: str, figures: RoutingFigures, report: RoutingReport, ci: bool = False
) -> list[str]:
    best_cost = report.singles[report.best_single].cost_usd
    boot = report.bootstrap
    return [
        escape(name),
        _num(figures.quality) + (_ci(boot.router_quality, _num) if ci else ""),
        _num(figures.pass_rate),
        _usd(figures.cost_usd) + (_ci(boot.router_cost_usd, _usd) if ci else ""),
        _usd(1000 * figures.cost_usd / report.n_prompts),
        _pct(figures.cost_usd / best_cost) if best_cost > 0 else "&mdash;",
    ]


def _routes(report: RoutingReport) -> str:
    best, cheapest = report.best_single, report.cheapest_single
    rows = [
        _route(f"router (min_confidence {report.min_confidence:g})", report.router, report, True),
        _route(f"best single model: {best}", report.singles[best], report),
        _route(f"cheapest single model: {cheapest}", report.singles[cheapest], report),
        _route("random router with the router's traffic share", report.random_router, report),
        _route("card classifier by argmax", report.label_classifier.outcome, report),
        _route("oracle (hindsight, not a router: it bounds the pass rate)", report.oracle, report),
    ]
    head = ["route", "quality", "pass rate", "total cost", "per 1,000 requests", "vs best cost"]
    return _table(head, rows, css=["router"])


def _models(report: RoutingReport) -> str:
    rows = [
        [
            escape(name),
            _num(f.quality),
            _num(f.pass_rate),
            _usd(f.cost_usd),
            _pct(report.traffic_share[name]),
            _pct(report.oracle_share[name]),
        ]
        for name, f in sorted(report.singles.items(), key=lambda item: -item[1].quality)
    ]
    head = ["model alone", "quality", "pass rate", "total cost", "router share", "oracle share"]
    return _table(head, rows)


def _tasks(report: RoutingReport) -> str:
    if not report.tasks:
        return "<p>The log has no <code>task</code> field.</p>"
    overall = report.best_single
    rows = [
        [
            escape(name),
            str(t.n_prompts),
            _num(t.router.quality),
            _num(t.models[overall].quality),
            _num(t.oracle.quality),
            _pct(cost_ratio(t.router, t.models[overall])),
            f"<span class='model'>{escape(t.best_single)}</span>",
            _num(t.models[t.best_single].quality),
        ]
        for name, t in report.tasks.items()
    ]
    head = [
        "task",
        "prompts",
        "router quality",
        "best single quality",
        "oracle quality",
        "router cost vs best single",
        "best model on the task",
        "its quality",
    ]
    note = (
        f"<p class='meta'>best single: {escape(overall)}, the best single model over all the "
        "prompts, on the task's prompts.</p>"
    )
    return _table(head, rows) + note


def _figure(name: str, png: bytes, caption: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    css = "wide" if name in WIDE_FIGURES else "narrow"
    return (
        f'<figure class="{css}"><img src="data:image/png;base64,{data}" alt="{escape(name)}">'
        f"<figcaption>{caption}</figcaption></figure>"
    )


def _notes(report: RoutingReport, source: ReportSource) -> str:
    notes = []
    if source.n_train_overlap:
        notes.append(
            f"{source.n_train_overlap} of the {report.n_prompts} prompts were in this router's "
            "training set (scored because of --allow-train-overlap): the figures are optimistic."
        )
    if source.ignored_models:
        notes.append(
            f"The log's {', '.join(source.ignored_models)} left out of every figure: this router "
            "version does not route to them (retrain to include them)."
        )
    if report.n_prompts < SMALL_SAMPLE:
        notes.append(f"Only {report.n_prompts} prompts: read every figure with its interval.")
    return "".join(f'<p class="note">{escape(n)}</p>' for n in notes)


def _card(report: RoutingReport) -> str:
    card = report.label_classifier
    return (
        f"<p>Label accuracy against the oracle labels {_num(card.accuracy)} "
        f"(on prompts some model passes: {_num(card.accuracy_solvable)}), "
        f"macro-F1 {_num(card.macro_f1)}. Kept for reference: the router uses the pass "
        "probabilities.</p>"
    )


def _policy(report: RoutingReport) -> str:
    if report.policy.name == "utility":
        value = "expected score" if report.policy.value == "expected_score" else "P(pass)"
        return (
            f"the model with the highest {value} - lam x cost, with lam = (1 - min_confidence) / "
            f"(min_confidence x {_usd(report.policy.reference_cost_usd)}), the reference cost "
            f"fixed at training; min_confidence 0 takes the cheapest model, 1 the highest {value}"
        )
    return (
        "the cheapest model whose pass probability is >= min_confidence, else the model with the "
        "highest pass probability"
    )


DEFINITIONS = {
    "quality": "mean score (0..1) of the answers of the models chosen.",
    "pass rate": "share of prompts whose chosen answer scores at least the threshold.",
    "cost": "total USD over the prompts: the logged cost, else logged tokens x catalog prices, "
    "else the router's estimate from the prompt length.",
    "zero router": "the same policy with each model's training pass rate as P(pass) (and training "
    "mean score as expected score) for every prompt: no prompt information. What the learned "
    "router earns is its margin over it.",
    "random router": "each prompt goes to a model at random with the router's traffic shares "
    "(expected figures). A router that does not beat it does not use the prompt.",
    "oracle": "per prompt the cheapest model that passes; if none does, the cheapest model.",
    "savings at best quality": "over the min_confidence sweep (0 to 1), the largest "
    "1 - cost / cost(best single model) among points whose quality is >= the best single "
    "model's; &mdash; if no point reaches it. At 95%: the same at >= 95% of that quality.",
    "APGR": "normalised cost x = 0 at the cheapest single model's cost, 1 at the best single "
    "model's; at each budget x, PGR = (q - q_cheapest) / (q_best - q_cheapest) of the best "
    "curve point costing <= x (a step, no interpolation; 0 where none does; not clipped, so "
    "above 1 beats the best model). APGR is the area under it over [0, 1].",
    "AIQ": "average quality of the non-decreasing convex hull of the (cost, quality) points "
    "(mixing two points at random reaches the segment between them; beyond its best point the "
    "hull is flat), over the cost range shared by the router, the zero router and the single "
    "models: from the highest of their lowest costs to the highest cost.",
    "ECE": "expected calibration error over every (prompt, model) pass probability, 10 "
    "equal-width bins: the count-weighted mean |mean probability - observed pass rate|.",
    "label accuracy, macro-F1": "the card's cheapest-passing classifier by argmax against "
    "the oracle labels (macro-F1 over the labels that occur).",
    "intervals": "bootstrap percentile intervals: the prompts resampled with replacement; "
    "savings are re-read from each resample's curve against that resample's best single model. "
    "A &mdash; bound: that quality was not reached in the resamples at that tail.",
}


def _definitions(report: RoutingReport) -> str:
    router = (
        f"{report.policy.name} policy: {_policy(report)}; at the default min_confidence "
        f"({report.min_confidence:g}) chosen at training on a validation split."
    )
    items = {"router": router, **DEFINITIONS}
    return "<dl>" + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in items.items()) + "</dl>"


def render_html(
    report: RoutingReport,
    source: ReportSource,
    figures: dict[str, bytes],
    captions: dict[str, str],
) -> bytes:
    """The self-contained ``report.html`` as UTF-8 bytes."""
    boot = report.bootstrap
    meta = (
        f"router version {escape(source.router_version)} ({report.policy.name} policy) &middot; "
        f"encoder {escape(source.encoder)}"
        f" &middot; {report.n_prompts} prompts from {escape(', '.join(source.data))} &middot; "
        f"threshold {report.threshold:g} &middot; {boot.level:.0%} intervals from "
        f"{boot.n_resamples} bootstrap resamples (seed {boot.seed}) &middot; {escape(source.created_at)}"
    )
    sections = [
        f"<h1>Routing report</h1><p class='meta'>{meta}</p>",
        _notes(report, source),
        "<h2>Headline</h2>",
        _headline(report),
        "<h2>Routes on the same prompts</h2>",
        _routes(report),
        *(_figure(name, png, captions[name]) for name, png in figures.items()),
        "<h2>Single models</h2>",
        _models(report),
        "<h2>Per task</h2>",
        _tasks(report),
        "<h2>Card classifier</h2>",
        _card(report),
        "<h2>Definitions</h2>",
        _definitions(report),
    ]
    page = (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>Routing report {escape(source.router_version)}</title><style>{STYLE}</style>"
        f"</head><body>{''.join(sections)}</body></html>\n"
    )
    return page.encode("utf-8")
