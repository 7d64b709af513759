"""Every figure of the offline report, computed from pass probabilities and observed outcomes.

Nothing here reads files or draws: :func:`compute_report` turns arrays into a typed
:class:`RoutingReport` that the renderers present.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np
from sklearn.metrics import confusion_matrix, f1_score

from router_ml.data.dataset import RoutingDataset
from router_ml.errors import ConfigError
from router_ml.evaluation.bootstrap import (
    Interval,
    percentile_interval,
    resample_counts,
    resampled_figures,
    savings_draws,
)
from router_ml.evaluation.curves import Point, aiq, apgr, nondecreasing_hull, shared_cost_range
from router_ml.evaluation.metrics import (
    CurvePoint,
    ReliabilityBin,
    RoutingFigures,
    best_single_index,
    cheapest_single_index,
    curve_choices,
    curve_from_choices,
    expected_calibration_error,
    headline_savings,
    mixed_outcome,
    oracle_labels,
    oracle_outcome,
    outcome_of,
    reliability_bins,
    single_models,
    traffic_share,
)
from router_ml.routing.policy import Policy, confidence_grid

NO_TASK = "(no task)"


@dataclass(frozen=True)
class SweepFigures:
    """A predictor of P(pass) (and expected score) swept with the routing policy, and its figures."""

    curve: list[CurvePoint]
    hull: list[Point]
    highest_quality: float
    savings_at_best_quality: float | None
    savings_at_95pct_quality: float | None
    apgr: float | None
    aiq: float | None
    ece: float
    reliability: list[ReliabilityBin]


@dataclass(frozen=True)
class LabelClassifierFigures:
    """The card's cheapest-passing classifier by argmax, against the oracle labels.

    ``confusion[i][j]`` counts prompts whose oracle label is model ``i`` and prediction model ``j``.
    """

    outcome: RoutingFigures
    accuracy: float
    accuracy_solvable: float | None
    macro_f1: float
    confusion: list[list[int]]


@dataclass(frozen=True)
class BootstrapFigures:
    """Percentile intervals over resamples of the prompts."""

    n_resamples: int
    seed: int
    level: float
    router_quality: Interval
    router_cost_usd: Interval
    savings_at_best_quality: Interval
    savings_at_95pct_quality: Interval
    zero_router_savings_at_best_quality: Interval
    zero_router_savings_at_95pct_quality: Interval


@dataclass(frozen=True)
class TaskFigures:
    """The router, the oracle and every single model on the prompts of one task."""

    n_prompts: int
    router: RoutingFigures
    oracle: RoutingFigures
    best_single: str
    models: dict[str, RoutingFigures]


@dataclass(frozen=True)
class RoutingReport:
    """Every figure of the offline report, on the same prompts.

    Attributes
    ----------
    router : the router at its default ``min_confidence``.
    traffic_share, oracle_share : share of prompts each model receives from the router / oracle.
    random_router : expected figures of routing at random with the router's traffic share.
    learned, zero_router : the router's estimates and the zero router's (every prompt gets the
        training pass rates and mean scores), each swept over ``min_confidence``.
    cost_range : the shared cost range of the AIQ figures.
    tasks : per-task figures; empty when the log has no ``task``.
    """

    n_prompts: int
    threshold: float
    min_confidence: float
    policy: Policy
    models: list[str]
    router: RoutingFigures
    traffic_share: dict[str, float]
    oracle_share: dict[str, float]
    singles: dict[str, RoutingFigures]
    best_single: str
    cheapest_single: str
    oracle: RoutingFigures
    random_router: RoutingFigures
    learned: SweepFigures
    zero_router: SweepFigures
    cost_range: tuple[float, float]
    single_model_hull: list[Point]
    single_model_aiq: float | None
    label_classifier: LabelClassifierFigures
    bootstrap: BootstrapFigures
    tasks: dict[str, TaskFigures]


def check_resampling(n_bootstrap: int, level: float = 0.95) -> None:
    """Raise :class:`ConfigError` unless ``n_bootstrap`` >= 1 and ``level`` is in (0, 1)."""
    if n_bootstrap < 1:
        raise ConfigError(
            f"The 'n_bootstrap' parameter must be an integer >= 1. Got {n_bootstrap} instead."
        )
    if not 0.0 < level < 1.0:
        raise ConfigError(f"The 'level' parameter must be in (0, 1). Got {level} instead.")


def compute_report(
    dataset: RoutingDataset,
    pass_proba: np.ndarray,
    predicted_labels: np.ndarray,
    prior_pass_rates: np.ndarray,
    threshold: float,
    min_confidence: float,
    *,
    policy: Policy,
    grid: np.ndarray | None = None,
    n_bootstrap: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    expected_score: np.ndarray | None = None,
    prior_mean_scores: np.ndarray | None = None,
) -> RoutingReport:
    """Compute the report of a router on ``dataset``.

    Parameters
    ----------
    dataset : the prompts with every model's score and cost; the router, the zero router and
        their sweeps decide with ``dataset.estimated_costs`` (what serving estimates) and are
        scored with ``dataset.costs``, as are the single models and the oracle.
    pass_proba : (prompts, models) the router's P(pass), in ``dataset.models`` order.
    predicted_labels : (prompts,) model columns chosen by the cheapest-passing classifier.
    prior_pass_rates : (models,) training pass rates, the zero router's P(pass) for every prompt.
    threshold : score a model must reach to pass.
    min_confidence : the router's default knob.
    policy : the router's decision policy.
    grid : ``min_confidence`` values of the sweep (default :func:`confidence_grid`: 0, 0.005,
        ..., 1).
    n_bootstrap, seed, level : resamples, their seed and the interval level.
    expected_score : (prompts, models) the value the router's utility maximises (default:
        ``pass_proba``).
    prior_mean_scores : (models,) training mean scores, the zero router's expected score
        (default: ``prior_pass_rates``).

    Raises
    ------
    ConfigError
        When ``n_bootstrap`` < 1 or ``level`` is not in (0, 1).
    """
    check_resampling(n_bootstrap, level)
    grid = confidence_grid() if grid is None else np.asarray(grid, dtype=np.float64)
    scores, costs, models = dataset.scores, dataset.costs, dataset.models
    estimates = [
        (pass_proba, expected_score),
        (_prior(prior_pass_rates, scores.shape), _prior(prior_mean_scores, scores.shape)),
    ]
    estimated = dataset.estimated_costs
    chosen, _ = policy.choose(pass_proba, estimated, min_confidence, expected_score=expected_score)
    choices = [
        curve_choices(p, estimated, grid, policy=policy, expected_score=e) for p, e in estimates
    ]
    singles = single_models(scores, costs, threshold)
    best, cheapest = best_single_index(singles), cheapest_single_index(singles)
    (learned, zero), cost_range = _sweeps(
        dataset, [p for p, _ in estimates], choices, grid, singles, threshold
    )
    share = traffic_share(chosen, len(models))
    single_points = _points(singles)
    return RoutingReport(
        n_prompts=len(dataset),
        threshold=threshold,
        min_confidence=min_confidence,
        policy=policy,
        models=list(models),
        router=outcome_of(chosen, scores, costs, threshold),
        traffic_share=_by_model(models, share),
        oracle_share=_by_model(
            models, traffic_share(oracle_labels(scores, costs, threshold), len(models))
        ),
        singles=dict(zip(models, singles, strict=True)),
        best_single=models[best],
        cheapest_single=models[cheapest],
        oracle=oracle_outcome(scores, costs, threshold),
        random_router=mixed_outcome(share, singles),
        learned=learned,
        zero_router=zero,
        cost_range=cost_range,
        single_model_hull=nondecreasing_hull(single_points),
        single_model_aiq=aiq(single_points, cost_range),
        label_classifier=_label_classifier(dataset, predicted_labels, threshold),
        bootstrap=_bootstrap(dataset, chosen, choices, grid, threshold, (n_bootstrap, seed, level)),
        tasks=_tasks(dataset, chosen, threshold),
    )


def _sweeps(
    dataset: RoutingDataset,
    probas: list[np.ndarray],
    choices: list[np.ndarray],
    grid: np.ndarray,
    singles: list[RoutingFigures],
    threshold: float,
) -> tuple[list[SweepFigures], tuple[float, float]]:
    """The figures of each sweep (its P(pass) and routes per ``grid`` value), and the cost range
    they and the single models share."""
    curves = [
        curve_from_choices(grid, c, dataset.scores, dataset.costs, threshold) for c in choices
    ]
    cost_range = shared_cost_range(_points(singles), *(_points(c) for c in curves))
    best, cheapest = best_single_index(singles), cheapest_single_index(singles)
    passes = dataset.passes(threshold)
    figures = [
        _sweep_figures(curve, p, passes, singles, best, cheapest, cost_range)
        for curve, p in zip(curves, probas, strict=True)
    ]
    return figures, cost_range


def _by_model(models: list[str], share: np.ndarray) -> dict[str, float]:
    return dict(zip(models, share.tolist(), strict=True))


def _prior(rates: np.ndarray | None, shape: tuple[int, ...]) -> np.ndarray | None:
    """The same per-model figure for every prompt (None stays None)."""
    return None if rates is None else np.broadcast_to(np.asarray(rates, dtype=np.float64), shape)


def _points(figures: list[CurvePoint] | list[RoutingFigures]) -> list[Point]:
    return [(f.cost_usd, f.quality) for f in figures]


def _sweep_figures(
    curve: list[CurvePoint],
    proba: np.ndarray,
    passes: np.ndarray,
    singles: list[RoutingFigures],
    best: int,
    cheapest: int,
    cost_range: tuple[float, float],
) -> SweepFigures:
    at_best, at_95 = headline_savings(curve, singles[best])
    points = _points(curve)
    return SweepFigures(
        curve=curve,
        hull=nondecreasing_hull(points),
        highest_quality=max(p.quality for p in curve),
        savings_at_best_quality=at_best,
        savings_at_95pct_quality=at_95,
        apgr=apgr(points, singles[cheapest], singles[best]),
        aiq=aiq(points, cost_range),
        ece=expected_calibration_error(proba, passes),
        reliability=reliability_bins(proba, passes),
    )


def _label_classifier(
    dataset: RoutingDataset, predicted: np.ndarray, threshold: float
) -> LabelClassifierFigures:
    truth = oracle_labels(dataset.scores, dataset.costs, threshold)
    solvable = dataset.passes(threshold).any(axis=1)
    correct = predicted == truth
    return LabelClassifierFigures(
        outcome=outcome_of(predicted, dataset.scores, dataset.costs, threshold),
        accuracy=float(correct.mean()),
        accuracy_solvable=float(correct[solvable].mean()) if solvable.any() else None,
        macro_f1=float(f1_score(truth, predicted, average="macro", zero_division=0)),
        confusion=confusion_matrix(truth, predicted, labels=range(len(dataset.models))).tolist(),
    )


def _bootstrap(
    dataset: RoutingDataset,
    chosen: np.ndarray,
    choices: list[np.ndarray],
    grid: np.ndarray,
    threshold: float,
    resampling: tuple[int, int, float],
) -> BootstrapFigures:
    scores, costs = dataset.scores, dataset.costs
    n_resamples, seed, level = resampling
    counts = resample_counts(len(dataset), n_resamples, seed)
    rows = np.arange(len(dataset))
    quality, _, cost = resampled_figures(
        counts, scores[rows, chosen][None, :], costs[rows, chosen][None, :], threshold
    )
    learned, zero = (savings_draws(counts, c, grid, scores, costs, threshold) for c in choices)
    return BootstrapFigures(
        n_resamples=n_resamples,
        seed=seed,
        level=level,
        router_quality=percentile_interval(quality[:, 0], level),
        router_cost_usd=percentile_interval(cost[:, 0], level),
        savings_at_best_quality=percentile_interval(learned.at_best_quality, level),
        savings_at_95pct_quality=percentile_interval(learned.at_95pct_quality, level),
        zero_router_savings_at_best_quality=percentile_interval(zero.at_best_quality, level),
        zero_router_savings_at_95pct_quality=percentile_interval(zero.at_95pct_quality, level),
    )


def _tasks(dataset: RoutingDataset, chosen: np.ndarray, threshold: float) -> dict[str, TaskFigures]:
    if all(t is None for t in dataset.tasks):
        return {}
    positions: dict[str, list[int]] = defaultdict(list)
    for i, task in enumerate(dataset.tasks):
        positions[task or NO_TASK].append(i)
    return {
        task: _task_figures(dataset.subset(np.array(index)), chosen[index], threshold)
        for task, index in sorted(positions.items())
    }


def _task_figures(part: RoutingDataset, chosen: np.ndarray, threshold: float) -> TaskFigures:
    singles = single_models(part.scores, part.costs, threshold)
    return TaskFigures(
        n_prompts=len(part),
        router=outcome_of(chosen, part.scores, part.costs, threshold),
        oracle=oracle_outcome(part.scores, part.costs, threshold),
        best_single=part.models[best_single_index(singles)],
        models=dict(zip(part.models, singles, strict=True)),
    )
