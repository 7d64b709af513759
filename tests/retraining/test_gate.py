"""The gate: the report's figures for each router on the same prompts, and the promotion rule."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from router_ml import Router
from router_ml.data.catalog import load_catalog
from router_ml.data.dataset import RoutingDataset, build_dataset
from router_ml.data.evallog import read_log
from router_ml.embedding.cache import EmbeddingCache, embed_prompts
from router_ml.evaluation.metrics import RoutingFigures
from router_ml.report.pipeline import score_router
from router_ml.retraining.gate import (
    MIN_GATE_PROMPTS,
    QUALITY,
    SAVINGS,
    GateFigures,
    gate_figures,
    judge,
)


@pytest.fixture(scope="module")
def scored(
    router: Router, small_log: Path, catalog_path: Path, cache_dir: Path
) -> tuple[RoutingDataset, np.ndarray]:
    """The small real log as a data set priced like the router's catalog, and its embeddings."""
    dataset = build_dataset(read_log(small_log), load_catalog(catalog_path), router.cost_rule)
    cache = EmbeddingCache(cache_dir, router.encoder.identity.cache_key)
    X, _ = embed_prompts(dataset.prompts, router.encoder, cache)
    return dataset, X


def _without(dataset: RoutingDataset, model: str) -> RoutingDataset:
    keep = [j for j, m in enumerate(dataset.models) if m != model]
    return replace(
        dataset,
        models=[dataset.models[j] for j in keep],
        scores=dataset.scores[:, keep],
        costs=dataset.costs[:, keep],
    )


def test_gate_figures_are_the_reports(router: Router, scored) -> None:
    dataset, X = scored
    figures = gate_figures(router, dataset, X)
    report = score_router(router, dataset, X, n_bootstrap=1, seed=0)
    assert figures.at_default == report.router
    assert figures.savings_at_best_quality == report.learned.savings_at_best_quality
    assert (figures.version, figures.unavailable) == (router.version, [])


def test_a_model_without_outcomes_is_not_allowed_to_the_router(router: Router, scored) -> None:
    dataset, X = scored
    gone = router.models[0]
    figures = gate_figures(router, _without(dataset, gone), X)
    assert figures.unavailable == [gone]
    assert 0.0 <= figures.at_default.quality <= 1.0


def test_a_model_the_router_does_not_know_is_never_chosen(router: Router, scored) -> None:
    dataset, X = scored
    free_and_perfect = replace(
        dataset,
        models=[*dataset.models, "zz-unknown"],
        scores=np.column_stack([dataset.scores, np.ones(len(dataset))]),
        costs=np.column_stack([dataset.costs, np.zeros(len(dataset))]),
    )
    with_unknown = gate_figures(router, free_and_perfect, X)
    assert with_unknown.at_default == gate_figures(router, dataset, X).at_default
    assert with_unknown.savings_at_best_quality is None  # the unknown model is the best single


def _figures(quality: float, savings: float | None) -> GateFigures:
    return GateFigures("v", 0.5, RoutingFigures(quality, quality, 1.0), savings, [])


@pytest.mark.parametrize(
    ("champion", "challenger", "promote", "failed"),
    [
        ((0.60, 0.70), (0.595, 0.695), True, []),  # within the tolerance on both
        ((0.60, 0.70), (0.58, 0.80), False, [QUALITY]),
        ((0.60, 0.70), (0.70, 0.68), False, [SAVINGS]),
        ((0.60, 0.70), (0.61, None), False, [SAVINGS]),  # never reaches the best single model
        ((0.60, None), (0.61, None), True, []),
        ((0.60, None), (0.61, 0.10), True, []),
    ],
)
def test_judge_needs_both_metrics_within_tolerance(champion, challenger, promote, failed) -> None:
    verdict = judge(_figures(*champion), _figures(*challenger), MIN_GATE_PROMPTS, 0.01)
    assert verdict.promote is promote
    assert [c.metric for c in verdict.checks if not c.passed] == failed
    assert len(verdict.checks) == 2
    prefix = "not worse than" if promote else "worse than"
    assert verdict.reason.startswith(f"{prefix} the champion beyond tolerance 0.01: ")


def test_judge_reason_names_the_figures() -> None:
    verdict = judge(_figures(0.6, 0.7), _figures(0.5, None), 30, 0.01)
    assert verdict.reason == (
        "worse than the champion beyond tolerance 0.01: quality at default min_confidence "
        "0.500 vs 0.600, -0.100; savings_at_best_quality never reached vs 0.700"
    )


def test_judge_keeps_the_champion_on_too_few_fresh_prompts() -> None:
    verdict = judge(_figures(0.1, None), _figures(0.9, 0.9), MIN_GATE_PROMPTS - 1, 0.01)
    assert not verdict.promote
    assert verdict.reason.startswith(f"only {MIN_GATE_PROMPTS - 1} fresh held-out prompts")


def test_judge_promotes_over_a_champion_that_can_use_no_model() -> None:
    assert judge(None, _figures(0.5, None), MIN_GATE_PROMPTS, 0.01).promote
