"""Champion versus challenger on the same fresh held-out prompts, and the promotion rule.

Each router decides as it would when serving: its own pass probabilities and expected scores,
its own cost estimates (its catalog snapshot's prices), its own policy and default
``min_confidence``. Both are judged by the outcomes and costs of the window (today's prices). A
model the router knows but the prompts have no outcome for is not allowed to it (it left the
catalog or has too few outcomes).

The figures are the report's: mean score at the default ``min_confidence``, and
``savings_at_best_quality`` (``1 - cost / best single model's cost`` at the cheapest point of the
``min_confidence`` sweep whose mean score reaches the best single model's), both on the prompts
neither router was trained on.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from router_ml.data.dataset import RoutingDataset
from router_ml.evaluation.metrics import (
    RoutingFigures,
    best_single_index,
    headline_savings,
    outcome_of,
    single_models,
    sweep,
)
from router_ml.routing.router import Router

#: Fewest fresh held-out prompts the two routers are compared on; with fewer the champion stays.
MIN_GATE_PROMPTS = 20
QUALITY = "quality at default min_confidence"
SAVINGS = "savings_at_best_quality"


@dataclass(frozen=True)
class GateFigures:
    """One router on the gate prompts.

    Attributes
    ----------
    at_default : mean score, pass rate and cost at the router's default ``min_confidence``.
    savings_at_best_quality : None when no point of the sweep reaches the best single model.
    unavailable : models the router knows that the gate prompts have no outcome for.
    """

    version: str
    min_confidence: float
    at_default: RoutingFigures
    savings_at_best_quality: float | None
    unavailable: list[str]


@dataclass(frozen=True)
class Check:
    """One metric of the rule: the challenger may be at most ``tolerance`` below the champion."""

    metric: str
    champion: float | None
    challenger: float | None
    passed: bool


@dataclass(frozen=True)
class Verdict:
    """The gate's decision and why."""

    promote: bool
    reason: str
    checks: list[Check]


def _on_models(router: Router, gate: RoutingDataset, X: np.ndarray) -> tuple[np.ndarray, ...]:
    """The router's P(pass), expected scores and costs in the gate's columns, and which it may use."""
    index = {model: j for j, model in enumerate(router.models)}
    columns = np.array([index.get(model, -1) for model in gate.models])
    allowed = columns >= 0
    take = np.where(allowed, columns, 0)  # a stand-in column, never chosen
    proba, expected = (estimate[:, take] for estimate in router.outcome_estimates(X))
    costs = router.estimate_costs(gate.cost_texts)[:, take]
    return proba, expected, costs, allowed


def gate_figures(router: Router, gate: RoutingDataset, X: np.ndarray) -> GateFigures | None:
    """Score ``router`` on the gate prompts (embedded as ``X``); None if it can use none of their models."""
    proba, expected, estimates, allowed = _on_models(router, gate, X)
    if not allowed.any():
        return None
    threshold, policy, default = router.threshold, router.policy, router.default_min_confidence
    chosen, _ = policy.choose(proba, estimates, default, allowed, expected)
    curve = sweep(
        proba,
        gate.scores,
        gate.costs,
        threshold,
        policy=policy,
        expected_score=expected,
        estimated_costs=estimates,
        allowed=allowed,
    )
    singles = single_models(gate.scores, gate.costs, threshold)
    at_best, _ = headline_savings(curve, singles[best_single_index(singles)])
    return GateFigures(
        version=router.version,
        min_confidence=default,
        at_default=outcome_of(chosen, gate.scores, gate.costs, threshold),
        savings_at_best_quality=at_best,
        unavailable=sorted(set(router.models) - set(gate.models)),
    )


def _check(metric: str, champion: float | None, challenger: float | None, tol: float) -> Check:
    low = -math.inf
    ok = (low if challenger is None else challenger) >= (
        low if champion is None else champion
    ) - tol
    return Check(metric, champion, challenger, bool(ok))


def _describe(check: Check) -> str:
    def show(value: float | None) -> str:
        return "never reached" if value is None else f"{value:.3f}"

    delta = (
        ""
        if check.champion is None or check.challenger is None
        else f", {check.challenger - check.champion:+.3f}"
    )
    return f"{check.metric} {show(check.challenger)} vs {show(check.champion)}{delta}"


#: The verdict on an empty registry: nothing to compare with.
FIRST_VERSION = Verdict(True, "no champion yet: the first challenger that trains and verifies", [])


def judge(
    champion: GateFigures | None, challenger: GateFigures, n_gate: int, tolerance: float
) -> Verdict:
    """Promote when the challenger is not worse than the champion beyond ``tolerance``.

    Both metrics must pass. A missing ``savings_at_best_quality`` (never reaches the best single
    model) is worse than any value. With fewer than :data:`MIN_GATE_PROMPTS` gate prompts the
    champion is kept; a champion that can use none of the gate's models (None) loses.
    """
    if n_gate < MIN_GATE_PROMPTS:
        return Verdict(
            False,
            f"only {n_gate} fresh held-out prompts (neither router trained on them); at least "
            f"{MIN_GATE_PROMPTS} are needed to compare, so the champion is kept",
            [],
        )
    if champion is None:
        return Verdict(True, "the champion can route to none of the window's models", [])
    checks = [
        _check(QUALITY, champion.at_default.quality, challenger.at_default.quality, tolerance),
        _check(
            SAVINGS, champion.savings_at_best_quality, challenger.savings_at_best_quality, tolerance
        ),
    ]
    failed = [c for c in checks if not c.passed]
    if failed:
        worse = "; ".join(_describe(c) for c in failed)
        return Verdict(
            False, f"worse than the champion beyond tolerance {tolerance:g}: {worse}", checks
        )
    figures = "; ".join(_describe(c) for c in checks)
    return Verdict(
        True, f"not worse than the champion beyond tolerance {tolerance:g}: {figures}", checks
    )
