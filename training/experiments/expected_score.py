"""The utility policy on the expected score instead of P(pass) (kept)::

    HF_HUB_OFFLINE=1 .venv/bin/python training/experiments/expected_score.py

The report's quality is the mean score (graded 0..1 on llmrouter_dc, 0/1 on mmlu_pro), so the
utility's value should be E[score]: the kept blend, 0.25 x a soft-label logistic regression
(C=0.3) + 0.75 x the kNN(200) cosine-weighted mean score. P(pass) stays the confidence (ECE).
"""

from __future__ import annotations

import numpy as np
from harness import THRESHOLD, figures_with, fmt, inner_split, load_split

from router_ml.routing.heads import PassProbabilityModel
from router_ml.routing.policy import Policy


def main() -> None:
    for name in ("llmrouter_dc", "mmlu_pro"):
        evaluation = load_split(name)
        for side, split in (("val", inner_split(evaluation)), ("test", evaluation)):
            policy = Policy("utility", float(np.median(split.train.costs.max(axis=1))))
            model = PassProbabilityModel().fit(
                split.X_train, split.train.passes(THRESHOLD), split.train.scores
            )
            proba, expected = model.predict_proba_and_score(split.X_test)
            for value, score in (("P(pass)", proba), ("E[score]", expected)):
                figures = figures_with(proba, split.test, policy, score)
                print(
                    f"{name:13s} {side:4s} {value:8s} {fmt(figures)}  curve top "
                    f"{figures['top']:.4f} (best single {figures['best']:.4f})",
                    flush=True,
                )


if __name__ == "__main__":
    main()
