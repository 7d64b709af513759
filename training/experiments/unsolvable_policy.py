"""Held-out figures of the card's cheapest-passing classifier under each policy for prompts no
model passes (drop, cheapest, strongest)::

    HF_HUB_OFFLINE=1 .venv/bin/python training/experiments/unsolvable_policy.py
"""

from __future__ import annotations

from harness import THRESHOLD, inner_split, load_split

from router_ml.data.labels import DROPPED, UNSOLVABLE_POLICIES, cheapest_passing_labels
from router_ml.evaluation.metrics import oracle_labels, outcome_of
from router_ml.routing.heads import cheapest_passing_classifier


def main() -> None:
    for name in ("llmrouter_dc", "mmlu_pro"):
        evaluation = load_split(name)
        for side, split in (("validation", inner_split(evaluation)), ("test", evaluation)):
            truth = oracle_labels(split.test.scores, split.test.costs, THRESHOLD)
            for policy in UNSOLVABLE_POLICIES:
                labels = cheapest_passing_labels(
                    split.train.scores, split.train.costs, THRESHOLD, policy
                )
                keep = labels != DROPPED
                predicted = (
                    cheapest_passing_classifier()
                    .fit(split.X_train[keep], labels[keep])
                    .predict(split.X_test)
                )
                figures = outcome_of(predicted, split.test.scores, split.test.costs, THRESHOLD)
                print(
                    f"{name:13s} {side:10s} {policy:9s} quality {figures.quality:.3f} "
                    f"cost {figures.cost_usd:.4f} label accuracy {(predicted == truth).mean():.3f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
