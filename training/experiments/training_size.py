"""How many neighbours suit a small training set? kNN k and the linear weight against training size::

    HF_HUB_OFFLINE=1 .venv/bin/python training/experiments/training_size.py

The kept heads (0.25 x LR C=0.3 + 0.75 x kNN k=200, utility on the expected score) were chosen
on 4,400-7,600 fitting prompts. A data set from another source may have far fewer, and 200
neighbours of 500 prompts is close to the zero router. Here the fitting side is subsampled (three
seeds per size) and scored on the same validation split; the evaluation split is not used.
"""

from __future__ import annotations

import numpy as np
from harness import THRESHOLD, Split, figures_with, inner_split, load_split

from router_ml.routing.head_arrays import blend, unit_rows, weighted_rates
from router_ml.routing.heads import LinearPassModel
from router_ml.routing.policy import Policy

SIZES = (250, 500, 1000, 1500, 2000, 4000)
SEEDS = (0, 1, 2)
NEIGHBOURS = (10, 25, 50, 100, 150, 200)
LINEAR_WEIGHTS = (0.25, 0.5)


def subsample(split: Split, size: int, seed: int) -> Split:
    """``size`` fitting prompts drawn at random; the validation side unchanged."""
    rows = np.random.default_rng(seed).permutation(len(split.train.prompts))[:size]
    rows.sort()
    return Split(
        split.name, split.train.subset(rows), split.test, split.X_train[rows], split.X_test
    )


def figures_grid(split: Split) -> dict[tuple[int, float], tuple[float, float]]:
    """(k, w) -> validation (s100, s95); a quality never reached counts as 0 savings."""
    policy = Policy("utility", float(np.median(split.train.costs.max(axis=1))))
    passes, scores = split.train.passes(THRESHOLD).astype(np.int64), split.train.scores
    lin_p = LinearPassModel(C=0.3).fit(split.X_train, passes).predict_proba(split.X_test)
    lin_s = LinearPassModel(C=0.3).fit(split.X_train, scores).predict_proba(split.X_test)
    similarity = unit_rows(split.X_test) @ unit_rows(split.X_train).T
    outcomes = np.hstack([passes, scores]).astype(np.float64)
    m = passes.shape[1]
    grid = {}
    for k in NEIGHBOURS:
        knn = weighted_rates(similarity, outcomes, min(k, len(outcomes)))
        for w in LINEAR_WEIGHTS:
            proba, expected = blend(w, lin_p, knn[:, :m]), blend(w, lin_s, knn[:, m:])
            f = figures_with(proba, split.test, policy, expected)
            grid[(k, w)] = (f["s100"] or 0.0, f["s95"] or 0.0)
    return grid


def main() -> None:
    for name in ("llmrouter_dc", "mmlu_pro"):
        validation = inner_split(load_split(name))
        for size in SIZES:
            if size > len(validation.train.prompts):
                continue
            runs = [figures_grid(subsample(validation, size, seed)) for seed in SEEDS]
            for key in runs[0]:
                s100 = np.mean([r[key][0] for r in runs])
                s95 = np.mean([r[key][1] for r in runs])
                print(
                    f"{name:13s} n={size:5d} k={key[0]:4d} w={key[1]:.2f}  "
                    f"val s100 {s100:.3f} s95 {s95:.3f} sum {s100 + s95:.3f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
