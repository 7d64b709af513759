"""Cross-fitted per-model Platt scaling of the blend's P(pass)::

    HF_HUB_OFFLINE=1 .venv/bin/python training/experiments/platt_calibration.py

The library's :class:`PassProbabilityModel` fits, per candidate model, ``sigmoid(a * logit(p) + b)``
on 5-fold out-of-fold P(pass) of the training side (the kNN part never sees the prompt it
predicts) and applies it to the P(pass) of the blend fitted on the whole training side. Three
rows per split, from one fit:

- ``blend``: no calibration (``calibration_`` dropped).
- ``value``: the calibrated P(pass) also as the utility's value on 0/1 data (measured, not kept).
- ``kept``: calibrated confidence; the utility's value stays the uncalibrated expected score.
"""

from __future__ import annotations

import copy

import numpy as np
from harness import THRESHOLD, Split, figures_with, fmt, inner_split, load_split

from router_ml.routing.heads import PassProbabilityModel
from router_ml.routing.policy import Policy


def score(split: Split) -> dict[str, dict]:
    """Figures of the three variants on the held-out side of ``split``."""
    policy = Policy("utility", float(np.median(split.train.costs.max(axis=1))))
    model = PassProbabilityModel().fit(
        split.X_train, split.train.passes(THRESHOLD), split.train.scores
    )
    plain = copy.copy(model)
    plain.calibration_ = None
    raw, expected = plain.predict_proba_and_score(split.X_test)
    calibrated, kept_value = model.predict_proba_and_score(split.X_test)
    assert np.array_equal(kept_value, expected)
    return {
        "blend": figures_with(raw, split.test, policy, expected),
        "value": figures_with(
            calibrated, split.test, policy, expected if model.graded_ else calibrated
        ),
        "kept": figures_with(calibrated, split.test, policy, kept_value),
    }


def main() -> None:
    for name in ("llmrouter_dc", "mmlu_pro"):
        evaluation = load_split(name)
        for side, split in (("val", inner_split(evaluation)), ("test", evaluation)):
            for variant, figures in score(split).items():
                print(f"{name:13s} {side:4s} {variant:5s} {fmt(figures)}", flush=True)


if __name__ == "__main__":
    main()
