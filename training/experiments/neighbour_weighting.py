"""Sharper neighbour weights for the kNN part: exp((s - s_max) / tau) instead of the cosine s::

    HF_HUB_OFFLINE=1 .venv/bin/python training/experiments/neighbour_weighting.py

The kept kNN(200) weights each neighbour by its raw cosine, which for MiniLM spans only ~0.3-0.9
among the 200 nearest, so the far neighbours count almost as much as the near ones. A softmax
over similarities with temperature ``tau`` concentrates the weight; with it, more neighbours can
be admitted. The linear part (0.25 x LR C=0.3) is fitted once per split and kept fixed.
"""

from __future__ import annotations

import numpy as np
from harness import THRESHOLD, figures_with, fmt, inner_split, load_split

from router_ml.routing.head_arrays import blend, unit_rows, weighted_rates
from router_ml.routing.heads import LinearPassModel
from router_ml.routing.policy import Policy

VARIANTS = [
    (200, None),
    (400, None),
    (800, None),
    (200, 0.1),
    (200, 0.05),
    (500, 0.05),
    (500, 0.02),
]


def rates(similarity: np.ndarray, outcomes: np.ndarray, k: int, tau: float | None) -> np.ndarray:
    """The kept cosine weights (``tau`` None), else softmax weights at temperature ``tau``."""
    if tau is None:
        return weighted_rates(similarity, outcomes, k)
    nearest = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
    near = np.take_along_axis(similarity, nearest, axis=1)
    weights = np.exp((near - near.max(axis=1, keepdims=True)) / tau)
    return np.einsum("nk,nkm->nm", weights, outcomes[nearest]) / weights.sum(axis=1, keepdims=True)


def main() -> None:
    for name in ("llmrouter_dc", "mmlu_pro"):
        evaluation = load_split(name)
        for side, split in (("val", inner_split(evaluation)), ("test", evaluation)):
            policy = Policy("utility", float(np.median(split.train.costs.max(axis=1))))
            passes, scores = split.train.passes(THRESHOLD).astype(np.int64), split.train.scores
            linear_pass = LinearPassModel(C=0.3).fit(split.X_train, passes)
            linear_score = LinearPassModel(C=0.3).fit(split.X_train, scores)
            lin_p = linear_pass.predict_proba(split.X_test)
            lin_s = linear_score.predict_proba(split.X_test)
            similarity = unit_rows(split.X_test) @ unit_rows(split.X_train).T
            outcomes = np.hstack([passes, scores]).astype(np.float64)
            m = passes.shape[1]
            for k, tau in VARIANTS:
                knn = rates(similarity, outcomes, k, tau)
                proba = blend(0.25, lin_p, knn[:, :m])
                expected = blend(0.25, lin_s, knn[:, m:])
                figures = figures_with(proba, split.test, policy, expected)
                print(f"{name:13s} {side:4s} k={k:4d} tau={tau}  {fmt(figures)}", flush=True)


if __name__ == "__main__":
    main()
