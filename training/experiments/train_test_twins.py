"""llmrouter_dc's train split holds texts of its test split ("twins"): what they are worth::

    HF_HUB_OFFLINE=1 .venv/bin/python training/experiments/train_test_twins.py

Counts the training prompts whose text also occurs in the test split and how many of those have
the same pass vector as their test twin, then scores LR C=1 and the kept blend on the test split
(utility policy) trained with the twins and without them (our pipeline's decontamination).
"""

from __future__ import annotations

import numpy as np
from harness import THRESHOLD, figures_with, fmt, load_dataset, test_twins

from router_ml.routing.heads import LinearPassModel, PassProbabilityModel
from router_ml.routing.policy import Policy


def main(name: str = "llmrouter_dc") -> None:
    dataset, X, test = load_dataset(name)
    twins = test_twins(dataset, test)
    passes = dataset.passes(THRESHOLD)
    test_row = {dataset.prompts[i]: i for i in np.flatnonzero(test)}
    same = [
        np.array_equal(passes[i], passes[test_row[dataset.prompts[i]]])
        for i in np.flatnonzero(twins)
    ]
    print(
        f"{name}: {twins.sum()} training prompts with a test twin, {np.mean(same):.0%} same passes"
    )
    held = dataset.subset(test)
    for label, train in (("twins in train", ~test), ("twins dropped", ~test & ~twins)):
        side = dataset.subset(train)
        policy = Policy("utility", float(np.median(side.costs.max(axis=1))))
        for head, model in (("LR C=1", LinearPassModel(1.0)), ("blend", PassProbabilityModel())):
            proba = model.fit(X[train], passes[train]).predict_proba(X[test])
            print(f"  {label:15s} {head:7s} {fmt(figures_with(proba, held, policy))}", flush=True)


if __name__ == "__main__":
    main()
