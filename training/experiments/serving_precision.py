"""Decisions and report figures of each serving encoder against sentence-transformers fp32.

Usage (from the repository root; REGISTRY trained by ``router-ml train``, LOG its held-out
prompts)::

    HF_HUB_OFFLINE=1 .venv/bin/python training/experiments/serving_precision.py REGISTRY LOG CATALOG

For the onnx (fp32) and onnx-int8 backends: cosine of the embeddings to sentence-transformers',
the share of identical chosen models at the default knob, and the report's savings at the best
single model's quality and at 95% of it, all with the same heads and prompts.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from router_ml.data.catalog import load_catalog
from router_ml.data.dataset import build_dataset
from router_ml.data.evallog import read_logs
from router_ml.embedding.cache import EmbeddingCache, default_cache_dir, embed_prompts
from router_ml.report.pipeline import score_router
from router_ml.routing.router import Router


def chosen(router: Router, X: np.ndarray, costs: np.ndarray) -> list[str]:
    allowed = np.ones(len(router.models), dtype=bool)
    return [d.model for d in router.decide(X, costs, router.default_min_confidence, allowed)]


def main(registry: str, log: str, catalog: str) -> None:
    reference = Router.load(registry)
    dataset = build_dataset(
        read_logs([Path(log)]), load_catalog(Path(catalog)), reference.cost_rule
    )
    cache = EmbeddingCache(default_cache_dir(), reference.encoder.identity.cache_key)
    X, _ = embed_prompts(dataset.prompts, reference.encoder, cache)
    costs = reference.estimate_costs(dataset.prompts)
    expected = chosen(reference, X, costs)
    base = score_router(reference, dataset, X, n_bootstrap=1, seed=0)
    print(
        f"{len(X)} prompts; torch fp32: s100 {base.learned.savings_at_best_quality} "
        f"s95 {base.learned.savings_at_95pct_quality}"
    )
    for backend in ("onnx", "onnx-int8"):
        Xb = Router.load(registry, backend=backend).embed(dataset.prompts)
        cosine = (X * Xb).sum(axis=1)
        same = np.mean(
            [a == b for a, b in zip(expected, chosen(reference, Xb, costs), strict=True)]
        )
        report = score_router(reference, dataset, Xb, n_bootstrap=1, seed=0)
        print(
            f"{backend:10s} cosine min {cosine.min():.4f} mean {cosine.mean():.4f}  "
            f"identical decisions {same:.4f}  s100 {report.learned.savings_at_best_quality}  "
            f"s95 {report.learned.savings_at_95pct_quality}",
            flush=True,
        )


if __name__ == "__main__":
    main(*sys.argv[1:4])
