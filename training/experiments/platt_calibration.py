"""Cross-fitted per-model Platt scaling of the blend's P(pass)::

    HF_HUB_OFFLINE=1 .venv/bin/python training/experiments/platt_calibration.py

Per candidate model, ``sigmoid(a * logit(p) + b)`` fitted on 5-fold out-of-fold predictions of the
training side (the kNN part never sees the prompt it predicts), then applied to the blend fitted on
the whole training side. The utility's value is unchanged on graded data (the expected score); on
0/1 data it is P(pass), so there the calibrated P(pass).
"""

from __future__ import annotations

import numpy as np
from harness import THRESHOLD, Split, figures_with, fmt, inner_split, load_split
from scipy.special import expit, logit
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold

from router_ml.routing.heads import PassProbabilityModel
from router_ml.routing.policy import Policy

CLIP = 1e-4


def _logit(p: np.ndarray) -> np.ndarray:
    return logit(np.clip(p, CLIP, 1 - CLIP))


def out_of_fold(X: np.ndarray, Y: np.ndarray, folds: int = 5) -> np.ndarray:
    """P(pass) of every training prompt from a blend fitted without its fold."""
    oof = np.zeros(Y.shape)
    for fit, held in KFold(folds, shuffle=True, random_state=0).split(X):
        oof[held] = PassProbabilityModel().fit(X[fit], Y[fit]).predict_proba(X[held])
    return oof


def platt(oof: np.ndarray, Y: np.ndarray) -> list[tuple[float, float]]:
    """Per model column, the slope and intercept of the sigmoid on logit(P(pass))."""
    fitted = []
    for j in range(Y.shape[1]):
        if Y[:, j].min() == Y[:, j].max():
            fitted.append((1.0, 0.0))
            continue
        model = LogisticRegression(C=1e6, max_iter=1000).fit(_logit(oof[:, [j]]), Y[:, j])
        fitted.append((float(model.coef_[0, 0]), float(model.intercept_[0])))
    return fitted


def calibrate(proba: np.ndarray, params: list[tuple[float, float]]) -> np.ndarray:
    a, b = np.array(params).T
    return expit(a * _logit(proba) + b)


def score(split: Split) -> tuple[dict, dict]:
    Y = split.train.passes(THRESHOLD)
    policy = Policy("utility", float(np.median(split.train.costs.max(axis=1))))
    model = PassProbabilityModel().fit(split.X_train, Y, split.train.scores)
    proba, expected = model.predict_proba_and_score(split.X_test)
    calibrated = calibrate(proba, platt(out_of_fold(split.X_train, Y), Y))
    value = expected if model.graded_ else calibrated
    return (
        figures_with(proba, split.test, policy, expected),
        figures_with(calibrated, split.test, policy, value),
    )


def main() -> None:
    for name in ("llmrouter_dc", "mmlu_pro"):
        evaluation = load_split(name)
        for side, split in (("val", inner_split(evaluation)), ("test", evaluation)):
            plain, calibrated = score(split)
            print(f"{name:13s} {side:4s} blend {fmt(plain)} | Platt {fmt(calibrated)}", flush=True)


if __name__ == "__main__":
    main()
