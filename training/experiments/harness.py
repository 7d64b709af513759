"""Shared harness for routing-quality experiments on the shared data sets.

Loads a data set, its evaluation split (llmrouter_dc: the source's split; mmlu_pro: md5(prompt_id)
% 5 == 0, as in ../shared/notes/routing-evidence.md), cached embeddings, and scores a predictor of
P(pass) with the report's definitions. Selection uses an inner validation split of the training
side only; test figures are recorded, never tuned on.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from router_ml.data.catalog import load_catalog
from router_ml.data.dataset import RoutingDataset, build_dataset
from router_ml.data.evallog import read_log
from router_ml.data.splits import text_hash_split
from router_ml.embedding.cache import EmbeddingCache, default_cache_dir, embed_prompts
from router_ml.embedding.encoder import Encoder
from router_ml.evaluation.metrics import (
    best_single_index,
    expected_calibration_error,
    headline_savings,
    single_models,
    sweep,
)
from router_ml.routing.policy import Policy

SHARED = Path(
    os.environ.get("ROUTER_ML_SHARED_DATA", Path(__file__).resolve().parents[3] / "shared" / "data")
)
THRESHOLD = 1.0


@dataclass
class Split:
    name: str
    train: RoutingDataset
    test: RoutingDataset
    X_train: np.ndarray
    X_test: np.ndarray


def _is_test(name: str, dataset: RoutingDataset) -> np.ndarray:
    if name == "llmrouter_dc":
        return np.array([s == "test" for s in dataset.splits])
    return np.array(
        [int(hashlib.md5(p.encode()).hexdigest(), 16) % 5 == 0 for p in dataset.prompt_ids]
    )


def load_dataset(
    name: str, encoder: Encoder | None = None
) -> tuple[RoutingDataset, np.ndarray, np.ndarray]:
    """A shared data set, its cached embeddings and its evaluation-split mask."""
    folder = SHARED / name
    dataset = build_dataset(
        read_log(folder / "outcomes.jsonl.gz"), load_catalog(folder / "catalog.toml")
    )
    encoder = encoder or Encoder()
    cache = EmbeddingCache(default_cache_dir(), encoder.identity.cache_key)
    X, _ = embed_prompts(dataset.prompts, encoder, cache, show_progress_bar=True)
    return dataset, X, _is_test(name, dataset)


def test_twins(dataset: RoutingDataset, test: np.ndarray) -> np.ndarray:
    """Training-side prompts whose text also occurs on the evaluation side."""
    test_texts = {dataset.prompts[i] for i in np.flatnonzero(test)}
    return ~test & np.array([p in test_texts for p in dataset.prompts])


def load_split(name: str, encoder: Encoder | None = None) -> Split:
    """Train/test sides of a shared data set with cached embeddings (twins of test dropped)."""
    dataset, X, test = load_dataset(name, encoder)
    train = ~test & ~test_twins(dataset, test)
    return Split(name, dataset.subset(train), dataset.subset(test), X[train], X[test])


def inner_split(split: Split, seed: int = 0) -> Split:
    """A validation split carved from the training side (by prompt text hash)."""
    fit, val = text_hash_split(split.train.prompts, 0.2, salt=f"validation:{seed}")
    return Split(
        split.name,
        split.train.subset(fit),
        split.train.subset(val),
        split.X_train[fit],
        split.X_train[val],
    )


def figures_with(
    proba: np.ndarray,
    held: RoutingDataset,
    policy: Policy,
    expected_score: np.ndarray | None = None,
) -> dict[str, float | None]:
    """savings@100%, savings@95% of the best single model's quality, ECE, and the curve's top.

    As in the report, the policy decides with the estimated costs and is scored with the logged
    ones. ``expected_score`` is the utility's value (default: ``proba``).
    """
    singles = single_models(held.scores, held.costs, THRESHOLD)
    best = singles[best_single_index(singles)]
    curve = sweep(
        proba,
        held.scores,
        held.costs,
        THRESHOLD,
        policy=policy,
        expected_score=expected_score,
        estimated_costs=held.estimated_costs,
    )
    s100, s95 = headline_savings(curve, best)
    return {
        "s100": s100,
        "s95": s95,
        "ece": expected_calibration_error(proba, held.passes(THRESHOLD)),
        "top": max(p.quality for p in curve),
        "best": best.quality,
    }


def fmt(result: dict[str, float | None]) -> str:
    def f(v: float | None) -> str:
        return "  -  " if v is None else f"{v:.3f}"

    return f"s100 {f(result['s100'])}  s95 {f(result['s95'])}  ece {f(result['ece'])}"
