"""Cheapest-passing labels: for each prompt, the cheapest model whose score clears the threshold."""

from __future__ import annotations

from typing import Literal

import numpy as np

from router_ml.util import lexicographic_argmin

UnsolvablePolicy = Literal["drop", "cheapest", "strongest"]
UNSOLVABLE_POLICIES: tuple[UnsolvablePolicy, ...] = ("drop", "cheapest", "strongest")
DROPPED = -1


def cheapest_passing_labels(
    scores: np.ndarray,
    costs: np.ndarray,
    threshold: float,
    unsolvable: UnsolvablePolicy = "cheapest",
) -> np.ndarray:
    """Label each prompt with a model column index.

    A prompt's label is the cheapest model whose score is >= ``threshold``. Cost ties go to the
    higher score on that prompt, then to the model that comes first in column order. A prompt no
    model clears gets, by ``unsolvable``: ``DROPPED`` (-1), the cheapest model, or the strongest
    one (highest score on the prompt, then the model with the highest mean score, then cheapest).
    """
    passing = scores >= threshold
    inf_cost = np.where(passing, costs, np.inf)
    labels = lexicographic_argmin(inf_cost, -scores)
    solvable = passing.any(axis=1)
    if unsolvable == "drop":
        fallback = np.full(len(scores), DROPPED)
    elif unsolvable == "cheapest":
        fallback = lexicographic_argmin(costs, -scores)
    else:
        mean_score = np.broadcast_to(scores.mean(axis=0), scores.shape)
        fallback = lexicographic_argmin(-scores, -mean_score, costs)
    return np.where(solvable, labels, fallback)
