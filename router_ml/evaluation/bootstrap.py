"""Bootstrap confidence intervals that resample prompts (seeded, so a report is reproducible).

A resample is a vector of counts: how often each prompt was drawn. Every route's per-prompt scores
and costs are fixed by the policy, so a resample's figures are count-weighted sums; the curve and
the savings read from it use the same functions as the point estimates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from router_ml.evaluation.metrics import (
    CurvePoint,
    RoutingFigures,
    best_single_index,
    headline_savings,
)

#: Resampled qualities are rounded so that two routes sending every prompt to the same model tie
#: exactly, whatever order the matrix product summed them in.
DECIMALS = 12


@dataclass(frozen=True)
class Interval:
    """A percentile interval; a bound is ``None`` where that share of resamples had no value."""

    low: float | None
    high: float | None


@dataclass(frozen=True)
class SavingsDraws:
    """Per resample, savings at the best single model's quality and at 95% of it (NaN: none)."""

    at_best_quality: np.ndarray
    at_95pct_quality: np.ndarray


def resample_counts(n_prompts: int, n_resamples: int, seed: int) -> np.ndarray:
    """How often each prompt is drawn in each resample, shape (n_resamples, n_prompts)."""
    rng = np.random.default_rng(seed)
    return rng.multinomial(n_prompts, np.full(n_prompts, 1.0 / n_prompts), size=n_resamples)


def percentile_interval(draws: np.ndarray, level: float = 0.95) -> Interval:
    """The central ``level`` interval of ``draws``; NaN draws (not reached) rank lowest."""
    filled = np.where(np.isnan(draws), -np.inf, draws)
    tail = (1.0 - level) / 2
    low, high = np.quantile(filled, [tail, 1.0 - tail], method="inverted_cdf")
    return Interval(None if np.isinf(low) else float(low), None if np.isinf(high) else float(high))


def resampled_figures(
    counts: np.ndarray, picked_scores: np.ndarray, picked_costs: np.ndarray, threshold: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Quality, pass rate and total cost of routes in every resample.

    ``picked_scores`` and ``picked_costs`` hold each route's per-prompt score and cost, shape
    (routes, prompts); the results have shape (resamples, routes).
    """
    n = counts.shape[1]
    weights = counts.astype(np.float64)
    quality = np.round(weights @ picked_scores.T / n, DECIMALS)
    pass_rate = weights @ (picked_scores >= threshold).T / n
    return quality, pass_rate, weights @ picked_costs.T


def savings_draws(
    counts: np.ndarray,
    choices: np.ndarray,
    grid: np.ndarray,
    scores: np.ndarray,
    costs: np.ndarray,
    threshold: float,
) -> SavingsDraws:
    """Savings of a swept policy in every resample, against that resample's best single model.

    ``choices`` is the policy's model column per prompt at each ``grid`` value (grid, prompts).
    """
    rows = np.arange(scores.shape[0])
    curve_q, curve_p, curve_c = resampled_figures(
        counts, scores[rows, choices], costs[rows, choices], threshold
    )
    single_q, single_p, single_c = resampled_figures(counts, scores.T, costs.T, threshold)
    at_best, at_95 = [], []
    for b in range(len(counts)):
        curve = [
            CurvePoint(float(v), float(q), float(p), float(c))
            for v, q, p, c in zip(grid, curve_q[b], curve_p[b], curve_c[b], strict=True)
        ]
        singles = [
            RoutingFigures(float(q), float(p), float(c))
            for q, p, c in zip(single_q[b], single_p[b], single_c[b], strict=True)
        ]
        best_savings, near_best_savings = headline_savings(
            curve, singles[best_single_index(singles)]
        )
        at_best.append(best_savings)
        at_95.append(near_best_savings)
    return SavingsDraws(_with_nan(at_best), _with_nan(at_95))


def _with_nan(values: list[float | None]) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)
