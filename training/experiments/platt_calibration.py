"""Cross-fitted per-model Platt scaling of the blend's P(pass)::

    HF_HUB_OFFLINE=1 .venv/bin/python training/experiments/platt_calibration.py

The library's :class:`PassProbabilityModel` fits, per candidate model, ``sigmoid(a * logit(p) + b)``
on 5-fold out-of-fold P(pass) of the training side (the kNN part never sees the prompt it
predicts) and applies it to the P(pass) of the blend fitted on the whole training side. Three
rows per split, from one fit:

- ``blend``: no calibration (``calibration_`` dropped).
- ``value``: the calibrated P(pass) also as the utility's value on 0/1 data (measured, not kept).
- ``kept``: calibrated confidence; the utility's value stays the uncalibrated expected score.

Then the ECE of other maps of the same out-of-fold P(pass), for the reported confidence only
(the utility's value, hence the savings, as in ``kept``): isotonic per model, and one Platt or
isotonic map pooled over all models.
"""

from __future__ import annotations

import copy

import numpy as np
from harness import THRESHOLD, Split, figures_with, fmt, inner_split, load_split
from sklearn.isotonic import IsotonicRegression

from router_ml.evaluation.metrics import expected_calibration_error
from router_ml.routing.head_arrays import clipped_logit, sigmoid
from router_ml.routing.heads import PassProbabilityModel, fit_platt
from router_ml.routing.policy import Policy


def isotonic(oof: np.ndarray, passes: np.ndarray, raw: np.ndarray) -> np.ndarray:
    """``raw`` through the isotonic map of ``passes`` on ``oof`` (flat arrays of one shape)."""
    fitted = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(oof, passes)
    return fitted.predict(raw)


def other_maps(model: PassProbabilityModel, split: Split, raw: np.ndarray) -> dict[str, float]:
    """ECE on the held-out side of per-model isotonic and pooled Platt / isotonic maps."""
    passes = split.train.passes(THRESHOLD)
    oof = model._out_of_fold(split.X_train, passes)
    per_model = np.column_stack(
        [isotonic(oof[:, j], passes[:, j], raw[:, j]) for j in range(raw.shape[1])]
    )
    a, b = fit_platt(oof.ravel(), passes.ravel())
    maps = {
        "isotonic per model": per_model,
        "Platt pooled": sigmoid(a * clipped_logit(raw) + b),
        "isotonic pooled": isotonic(oof.ravel(), passes.ravel(), raw.ravel()).reshape(raw.shape),
    }
    held = split.test.passes(THRESHOLD)
    return {name: expected_calibration_error(p, held) for name, p in maps.items()}


def score(split: Split) -> tuple[dict[str, dict], dict[str, float]]:
    """Figures of the three variants, and ECE of the other maps, on the held-out side."""
    policy = Policy("utility", float(np.median(split.train.costs.max(axis=1))))
    model = PassProbabilityModel().fit(
        split.X_train, split.train.passes(THRESHOLD), split.train.scores
    )
    plain = copy.copy(model)
    plain.calibration_ = None
    raw, expected = plain.predict_proba_and_score(split.X_test)
    calibrated, kept_value = model.predict_proba_and_score(split.X_test)
    assert np.array_equal(kept_value, expected)
    variants = {
        "blend": figures_with(raw, split.test, policy, expected),
        "value": figures_with(
            calibrated, split.test, policy, expected if model.graded_ else calibrated
        ),
        "kept": figures_with(calibrated, split.test, policy, kept_value),
    }
    return variants, other_maps(model, split, raw)


def main() -> None:
    for name in ("llmrouter_dc", "mmlu_pro"):
        evaluation = load_split(name)
        for side, split in (("val", inner_split(evaluation)), ("test", evaluation)):
            variants, maps = score(split)
            for variant, figures in variants.items():
                print(f"{name:13s} {side:4s} {variant:5s} {fmt(figures)}", flush=True)
            for label, ece in maps.items():
                print(f"{name:13s} {side:4s} {label}: ece {ece:.3f}", flush=True)


if __name__ == "__main__":
    main()
