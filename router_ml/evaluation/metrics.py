"""Routing figures shared by the training summary and the report: quality, cost, curves, ECE."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from router_ml.data.labels import cheapest_passing_labels
from router_ml.routing.policy import choose_models, confidence_grid


@dataclass(frozen=True)
class RoutingFigures:
    """Quality (mean score), pass rate and total cost of one way of routing the same prompts."""

    quality: float
    pass_rate: float
    cost_usd: float


def outcome_of(
    chosen: np.ndarray, scores: np.ndarray, costs: np.ndarray, threshold: float
) -> RoutingFigures:
    """Figures of sending prompt ``i`` to model column ``chosen[i]``."""
    rows = np.arange(len(chosen))
    picked = scores[rows, chosen]
    return RoutingFigures(
        quality=float(picked.mean()),
        pass_rate=float((picked >= threshold).mean()),
        cost_usd=float(costs[rows, chosen].sum()),
    )


def single_models(scores: np.ndarray, costs: np.ndarray, threshold: float) -> list[RoutingFigures]:
    """Figures of sending every prompt to each model in turn."""
    return [
        outcome_of(np.full(len(scores), j), scores, costs, threshold)
        for j in range(scores.shape[1])
    ]


def best_single_index(singles: list[RoutingFigures]) -> int:
    """The single model with the highest quality (ties go to the cheaper)."""
    return min(range(len(singles)), key=lambda j: (-singles[j].quality, singles[j].cost_usd))


def oracle_outcome(scores: np.ndarray, costs: np.ndarray, threshold: float) -> RoutingFigures:
    """Per prompt, the cheapest model that passes; if none does, the cheapest model."""
    return outcome_of(
        cheapest_passing_labels(scores, costs, threshold, "cheapest"), scores, costs, threshold
    )


@dataclass(frozen=True)
class CurvePoint:
    min_confidence: float
    quality: float
    pass_rate: float
    cost_usd: float


def sweep(
    pass_proba: np.ndarray,
    scores: np.ndarray,
    costs: np.ndarray,
    threshold: float,
    grid: np.ndarray | None = None,
) -> list[CurvePoint]:
    """The cost-quality curve of the policy over ``min_confidence`` values."""
    points = []
    for value in confidence_grid() if grid is None else grid:
        chosen, _ = choose_models(pass_proba, costs, float(value))
        figures = outcome_of(chosen, scores, costs, threshold)
        points.append(
            CurvePoint(float(value), figures.quality, figures.pass_rate, figures.cost_usd)
        )
    return points


def pick_min_confidence(curve: list[CurvePoint], target_quality: float) -> float:
    """The documented rule for the default knob.

    The cheapest point of the validation curve whose quality is >= ``target_quality`` (the best
    single model's validation quality); ties go to the lower ``min_confidence``. If no point reaches
    it, the point of highest quality.
    """
    reaching = [p for p in curve if p.quality >= target_quality]
    if reaching:
        return min(reaching, key=lambda p: (p.cost_usd, p.min_confidence)).min_confidence
    return max(curve, key=lambda p: (p.quality, -p.cost_usd)).min_confidence


def savings_at(curve: list[CurvePoint], quality: float, cost: float) -> float | None:
    """Largest ``1 - cost/reference cost`` among curve points with quality >= ``quality``."""
    costs = [p.cost_usd for p in curve if p.quality >= quality]
    if not costs or cost <= 0:
        return None
    return 1.0 - min(costs) / cost


def expected_calibration_error(pass_proba: np.ndarray, passes: np.ndarray, bins: int = 10) -> float:
    """ECE over every (prompt, model) probability, in ``bins`` equal-width bins."""
    proba, observed = pass_proba.ravel(), passes.ravel().astype(np.float64)
    which = np.minimum((proba * bins).astype(int), bins - 1)
    total = 0.0
    for b in range(bins):
        inside = which == b
        if inside.any():
            total += inside.sum() * abs(proba[inside].mean() - observed[inside].mean())
    return float(total / proba.size)
