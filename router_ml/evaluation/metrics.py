"""Routing figures shared by the training summary and the report: quality, cost, curves, ECE."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from router_ml.data.labels import cheapest_passing_labels
from router_ml.routing.policy import Policy, confidence_grid

#: The share of the best single model's quality that ``savings_at_95pct_quality`` must reach.
NEAR_BEST_FRACTION = 0.95


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


def cost_ratio(figures: RoutingFigures, reference: RoutingFigures) -> float | None:
    """``figures``' cost as a share of ``reference``'s; None when the reference costs nothing."""
    return figures.cost_usd / reference.cost_usd if reference.cost_usd > 0 else None


def single_models(scores: np.ndarray, costs: np.ndarray, threshold: float) -> list[RoutingFigures]:
    """Figures of sending every prompt to each model in turn."""
    return [
        outcome_of(np.full(len(scores), j), scores, costs, threshold)
        for j in range(scores.shape[1])
    ]


def best_single_index(singles: list[RoutingFigures]) -> int:
    """The single model with the highest quality (ties go to the cheaper)."""
    return min(range(len(singles)), key=lambda j: (-singles[j].quality, singles[j].cost_usd))


def cheapest_single_index(singles: list[RoutingFigures]) -> int:
    """The single model with the lowest total cost (ties go to the higher quality)."""
    return min(range(len(singles)), key=lambda j: (singles[j].cost_usd, -singles[j].quality))


def oracle_labels(scores: np.ndarray, costs: np.ndarray, threshold: float) -> np.ndarray:
    """Per prompt, the column of the cheapest model that passes; if none does, the cheapest."""
    return cheapest_passing_labels(scores, costs, threshold, "cheapest")


def oracle_outcome(scores: np.ndarray, costs: np.ndarray, threshold: float) -> RoutingFigures:
    """Per prompt, the cheapest model that passes; if none does, the cheapest model."""
    return outcome_of(oracle_labels(scores, costs, threshold), scores, costs, threshold)


def traffic_share(chosen: np.ndarray, n_models: int) -> np.ndarray:
    """Fraction of prompts sent to each model column."""
    return np.bincount(chosen, minlength=n_models) / len(chosen)


def mixed_outcome(share: np.ndarray, singles: list[RoutingFigures]) -> RoutingFigures:
    """Expected figures of a random router that sends each prompt to model ``j`` with ``share[j]``.

    Exact expectations (no sampling): each figure is the share-weighted mean of the single models'.
    """
    return RoutingFigures(
        quality=float(sum(w * s.quality for w, s in zip(share, singles, strict=True))),
        pass_rate=float(sum(w * s.pass_rate for w, s in zip(share, singles, strict=True))),
        cost_usd=float(sum(w * s.cost_usd for w, s in zip(share, singles, strict=True))),
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
    *,
    policy: Policy,
    grid: np.ndarray | None = None,
    expected_score: np.ndarray | None = None,
    estimated_costs: np.ndarray | None = None,
    allowed: np.ndarray | None = None,
) -> list[CurvePoint]:
    """The cost-quality curve of ``policy`` over the ``min_confidence`` values of ``grid``.

    ``grid`` defaults to :func:`confidence_grid`. ``expected_score`` is the utility's value
    (default: ``pass_proba``). The policy decides with ``estimated_costs`` (default: ``costs``)
    among the ``allowed`` model columns (default: all); the routes are scored with ``costs``.
    """
    values = confidence_grid() if grid is None else grid
    decide_with = costs if estimated_costs is None else estimated_costs
    choices = curve_choices(
        pass_proba,
        decide_with,
        values,
        policy=policy,
        expected_score=expected_score,
        allowed=allowed,
    )
    return curve_from_choices(values, choices, scores, costs, threshold)


def curve_from_choices(
    grid: np.ndarray, choices: np.ndarray, scores: np.ndarray, costs: np.ndarray, threshold: float
) -> list[CurvePoint]:
    """The curve of routing with ``choices[k]`` (:func:`curve_choices`) at ``grid[k]``."""
    points = []
    for value, chosen in zip(grid, choices, strict=True):
        figures = outcome_of(chosen, scores, costs, threshold)
        points.append(
            CurvePoint(float(value), figures.quality, figures.pass_rate, figures.cost_usd)
        )
    return points


def curve_choices(
    pass_proba: np.ndarray,
    costs: np.ndarray,
    grid: np.ndarray,
    *,
    policy: Policy,
    expected_score: np.ndarray | None = None,
    allowed: np.ndarray | None = None,
) -> np.ndarray:
    """The policy's model column per prompt at each ``min_confidence`` of ``grid``: (grid, prompts).

    Only ``allowed`` model columns are chosen (default: all).
    """
    return np.stack(
        [
            policy.choose(pass_proba, costs, float(value), allowed, expected_score)[0]
            for value in grid
        ]
    )


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


def headline_savings(
    curve: list[CurvePoint], best: RoutingFigures
) -> tuple[float | None, float | None]:
    """Savings at the best single model's quality and at ``NEAR_BEST_FRACTION`` of it."""
    return (
        savings_at(curve, best.quality, best.cost_usd),
        savings_at(curve, NEAR_BEST_FRACTION * best.quality, best.cost_usd),
    )


@dataclass(frozen=True)
class ReliabilityBin:
    """One equal-width bin of predicted pass probabilities and the pass rate observed in it."""

    low: float
    high: float
    count: int
    mean_probability: float | None
    observed_rate: float | None


def reliability_bins(
    pass_proba: np.ndarray, passes: np.ndarray, bins: int = 10
) -> list[ReliabilityBin]:
    """Reliability diagram data over every (prompt, model) probability, in ``bins`` equal-width bins.

    A probability ``p`` falls in bin ``min(floor(p * bins), bins - 1)``, so 1.0 is in the last bin.
    """
    proba, observed = pass_proba.ravel(), passes.ravel().astype(np.float64)
    which = np.minimum((proba * bins).astype(int), bins - 1)
    result = []
    for b in range(bins):
        inside = which == b
        count = int(inside.sum())
        result.append(
            ReliabilityBin(
                low=b / bins,
                high=(b + 1) / bins,
                count=count,
                mean_probability=float(proba[inside].mean()) if count else None,
                observed_rate=float(observed[inside].mean()) if count else None,
            )
        )
    return result


def expected_calibration_error(pass_proba: np.ndarray, passes: np.ndarray, bins: int = 10) -> float:
    """ECE over every (prompt, model) probability, in ``bins`` equal-width bins."""
    total = sum(
        b.count * abs(b.mean_probability - b.observed_rate)
        for b in reliability_bins(pass_proba, passes, bins)
        if b.count
    )
    return float(total / pass_proba.size)
