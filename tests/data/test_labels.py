"""Cheapest-passing labels on hand-made score and cost tables (one row per prompt)."""

from __future__ import annotations

import numpy as np
import pytest

from router_ml.data.labels import DROPPED, cheapest_passing_labels


def _labels(scores: list[list[float]], costs: list[list[float]], **kwargs: object) -> list[int]:
    return cheapest_passing_labels(np.array(scores), np.array(costs), **kwargs).tolist()


def test_cheapest_passing_model_wins() -> None:
    scores = [[1, 1, 1], [0, 1, 1], [0, 0, 1]]
    costs = [[3, 1, 2], [1, 3, 2], [1, 2, 3]]
    assert _labels(scores, costs, threshold=1.0) == [1, 2, 2]


def test_cost_tie_goes_to_the_higher_score() -> None:
    scores = [[0.6, 0.9, 1.0]]
    costs = [[1.0, 1.0, 2.0]]
    assert _labels(scores, costs, threshold=0.5) == [1]


def test_cost_and_score_tie_goes_to_the_first_column() -> None:
    scores = [[1, 1, 1], [0, 1, 1]]
    costs = [[2, 2, 2], [1, 5, 5]]
    assert _labels(scores, costs, threshold=1.0) == [0, 1]


def test_a_cheaper_failing_model_is_not_chosen() -> None:
    scores = [[0.49, 0.5, 0.8]]
    costs = [[0.1, 0.2, 0.3]]
    assert _labels(scores, costs, threshold=0.5) == [1]


def test_graded_scores_with_threshold_below_one() -> None:
    scores = [[0.7, 0.75, 0.9], [0.2, 0.74, 0.8], [0.1, 0.2, 0.3]]
    costs = [[1, 2, 3], [1, 2, 3], [1, 2, 3]]
    assert _labels(scores, costs, threshold=0.75, unsolvable="drop") == [1, 2, DROPPED]


# Nobody passes prompt 0 or 1; column 2 has the highest mean score; prompt 2 is solvable.
NONE_PASS_SCORES = [[0.3, 0.5, 0.5], [0.2, 0.1, 0.2], [0.0, 1.0, 1.0]]
NONE_PASS_COSTS = [[1.0, 2.0, 3.0], [2.0, 1.0, 2.0], [1.0, 2.0, 3.0]]


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        ("drop", [DROPPED, DROPPED, 1]),
        # cheapest: prompt 1's cheapest is column 1 (cost 1).
        ("cheapest", [0, 1, 1]),
        # strongest: prompt 0's 0.5 tie goes to the higher mean score (column 2); prompt 1's
        # 0.2 tie between columns 0 and 2 too.
        ("strongest", [2, 2, 1]),
    ],
)
def test_prompts_no_model_passes(policy: str, expected: list[int]) -> None:
    labels = _labels(NONE_PASS_SCORES, NONE_PASS_COSTS, threshold=0.9, unsolvable=policy)
    assert labels == expected


def test_cheapest_fallback_cost_tie_goes_to_higher_score() -> None:
    scores = [[0.1, 0.4, 0.2]]
    costs = [[1.0, 1.0, 1.0]]
    assert _labels(scores, costs, threshold=1.0, unsolvable="cheapest") == [1]


def test_strongest_fallback_full_tie_goes_to_the_cheaper() -> None:
    scores = [[0.5, 0.5], [0.0, 0.0]]
    costs = [[2.0, 1.0], [2.0, 1.0]]
    assert _labels(scores, costs, threshold=1.0, unsolvable="strongest") == [1, 1]
