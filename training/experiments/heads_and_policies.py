"""Reproduce training/EXPERIMENTS.md: decision policies and pass-probability heads.

Run from the repository root (embeddings come from the cache, so the first run embeds both data
sets, about 25 minutes on 2 cores; later runs take a few minutes)::

    HF_HUB_OFFLINE=1 .venv/bin/python training/experiments/heads_and_policies.py

Every row is scored on the inner validation split of the training side (what selection used) and
on the evaluation split (recorded, never tuned on), with savings at 100% / 95% of the best single
model's quality and ECE of P(pass), by the report's definitions.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from harness import Split, figures_with, fmt, inner_split, load_split
from sklearn.calibration import CalibratedClassifierCV
from sklearn.linear_model import LogisticRegression

from router_ml.routing.heads import LinearPassModel, NeighbourPassModel
from router_ml.routing.policy import Policy

Predictor = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]


def zero(X: np.ndarray, Y: np.ndarray, Z: np.ndarray) -> np.ndarray:
    return np.tile(Y.mean(axis=0), (len(Z), 1))


def linear(C: float) -> Predictor:
    return lambda X, Y, Z: LinearPassModel(C).fit(X, Y).predict_proba(Z)


def neighbours(k: int) -> Predictor:
    return lambda X, Y, Z: NeighbourPassModel(k).fit(X, Y).predict_proba(Z)


def isotonic_lr(X: np.ndarray, Y: np.ndarray, Z: np.ndarray) -> np.ndarray:
    def one(y: np.ndarray) -> np.ndarray:
        model = CalibratedClassifierCV(
            LogisticRegression(C=1.0, max_iter=2000), method="isotonic", cv=5
        )
        return model.fit(X, y).predict_proba(Z)[:, 1]

    return np.column_stack([one(Y[:, j]) for j in range(Y.shape[1])])


def blend(w: float, C: float, k: int) -> Predictor:
    return lambda X, Y, Z: w * linear(C)(X, Y, Z) + (1 - w) * neighbours(k)(X, Y, Z)


ROWS: dict[str, tuple[str, Predictor]] = {
    "zero router (training pass rates)": ("utility", zero),
    "threshold rule, LR C=1": ("threshold", linear(1.0)),
    "threshold rule, LR C=1 + isotonic (CalibratedClassifierCV, cv=5)": ("threshold", isotonic_lr),
    "threshold rule, blend 0.25 LR(C=0.3) + 0.75 kNN(200)": ("threshold", blend(0.25, 0.3, 200)),
    "utility, LR C=1": ("utility", linear(1.0)),
    "utility, kNN k=100": ("utility", neighbours(100)),
    "utility, blend 0.5 LR(C=1) + 0.5 kNN(100)": ("utility", blend(0.5, 1.0, 100)),
    "utility, blend 0.25 LR(C=0.3) + 0.75 kNN(200) [kept]": ("utility", blend(0.25, 0.3, 200)),
}


def score(split: Split, policy_name: str, predictor: Predictor) -> dict[str, float | None]:
    policy = Policy(policy_name, float(np.median(split.train.costs.max(axis=1))))
    proba = predictor(split.X_train, split.train.passes(1.0).astype(int), split.X_test)
    return figures_with(proba, split.test, policy)


def main() -> None:
    for name in ("llmrouter_dc", "mmlu_pro"):
        evaluation = load_split(name)
        validation = inner_split(evaluation)
        print(f"\n{name}: validation | evaluation split")
        for label, (policy_name, predictor) in ROWS.items():
            val = score(validation, policy_name, predictor)
            test = score(evaluation, policy_name, predictor)
            print(f"  {label:66s} {fmt(val)} | {fmt(test)}", flush=True)


if __name__ == "__main__":
    main()
