"""The held-out summary printed at the end of training (and stored in the manifest)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from router_ml.data.dataset import RoutingDataset
from router_ml.evaluation.metrics import (
    RoutingFigures,
    best_single_index,
    expected_calibration_error,
    oracle_labels,
    oracle_outcome,
    outcome_of,
    single_models,
)
from router_ml.routing.policy import Policy


@dataclass(frozen=True)
class HeldOutSummary:
    """Router, single models, oracle and the card classifier on the held-out prompts."""

    n_prompts: int
    threshold: float
    min_confidence: float
    router: RoutingFigures
    models: dict[str, RoutingFigures]
    best_single: str
    oracle: RoutingFigures
    label_classifier: RoutingFigures
    label_accuracy: float
    ece: float

    @property
    def savings_vs_best(self) -> float:
        """``1 - router cost / best single model's cost``."""
        best = self.models[self.best_single].cost_usd
        return 1.0 - self.router.cost_usd / best if best > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        document = asdict(self)
        document["savings_vs_best"] = self.savings_vs_best
        return document


def summarise_heldout(
    test: RoutingDataset,
    X: np.ndarray,
    pass_model: Any,
    label_classifier: Any,
    threshold: float,
    min_confidence: float,
    policy: Policy,
) -> HeldOutSummary:
    """Score the fitted heads on held-out prompts: the router decides with the estimated costs
    (as when serving), every route is scored with the logged ones."""
    proba, expected = (np.clip(p, 0.0, 1.0) for p in pass_model.predict_proba_and_score(X))
    chosen, _ = policy.choose(proba, test.estimated_costs, min_confidence, expected_score=expected)
    singles = single_models(test.scores, test.costs, threshold)
    predicted = label_classifier.predict(X).astype(int)
    truth = oracle_labels(test.scores, test.costs, threshold)
    return HeldOutSummary(
        n_prompts=len(test),
        threshold=threshold,
        min_confidence=min_confidence,
        router=outcome_of(chosen, test.scores, test.costs, threshold),
        models=dict(zip(test.models, singles, strict=True)),
        best_single=test.models[best_single_index(singles)],
        oracle=oracle_outcome(test.scores, test.costs, threshold),
        label_classifier=outcome_of(predicted, test.scores, test.costs, threshold),
        label_accuracy=float((predicted == truth).mean()),
        ece=expected_calibration_error(proba, test.passes(threshold)),
    )


def render_summary(summary: HeldOutSummary) -> Any:
    """A rich Table of the held-out summary."""
    from rich.table import Table

    table = Table(
        title=f"Held-out routing on {summary.n_prompts} prompts (threshold {summary.threshold:g})"
    )
    for column in ("route", "mean score", "pass rate", "total cost (USD)", "vs best single cost"):
        if column == "route":  # a model name (and its "(best single)") stays on one line
            table.add_column(column, justify="left", no_wrap=True)
        else:
            table.add_column(column, justify="right")
    best_cost = summary.models[summary.best_single].cost_usd

    def row(name: str, figures: RoutingFigures, style: str | None = None) -> None:
        share = f"{figures.cost_usd / best_cost:.1%}" if best_cost > 0 else "-"
        table.add_row(
            name,
            f"{figures.quality:.3f}",
            f"{figures.pass_rate:.3f}",
            f"{figures.cost_usd:.4f}",
            share,
            style=style,
        )

    row(f"router (min_confidence {summary.min_confidence:.2f})", summary.router, "bold")
    row("oracle", summary.oracle)
    row("cheapest-passing classifier (argmax)", summary.label_classifier)
    for name, figures in sorted(summary.models.items(), key=lambda item: -item[1].quality):
        row(f"{name}{' (best single)' if name == summary.best_single else ''}", figures)
    table.caption = (
        f"savings vs best single model ({summary.best_single}): {summary.savings_vs_best:.1%}; "
        f"ECE of pass probabilities {summary.ece:.3f}; label accuracy {summary.label_accuracy:.3f}"
    )
    return table
