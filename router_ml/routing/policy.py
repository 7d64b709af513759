"""The decision policy: the cheapest model whose pass probability clears ``min_confidence``."""

from __future__ import annotations

import numpy as np

from router_ml.data.labels import _lexicographic_argmin


def choose_models(
    pass_proba: np.ndarray,
    costs: np.ndarray,
    min_confidence: float,
    allowed: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Pick one model column per prompt.

    Returns ``(chosen, met)``: the cheapest allowed model whose pass probability is >=
    ``min_confidence`` (cost ties go to the higher probability), or, where none is, the allowed
    model with the highest pass probability (ties go to the cheaper); ``met`` says which rule applied.
    """
    allowed_mask = np.ones(pass_proba.shape[1], dtype=bool) if allowed is None else allowed
    proba = np.where(allowed_mask, pass_proba, -np.inf)
    confident = proba >= min_confidence
    met = confident.any(axis=1)
    cheapest = _lexicographic_argmin(np.where(confident, costs, np.inf), -proba)
    strongest = _lexicographic_argmin(-proba, costs)
    return np.where(met, cheapest, strongest), met


def confidence_grid(step: float = 0.01) -> np.ndarray:
    """The ``min_confidence`` values a sweep visits: 0, step, ..., 1."""
    return np.round(np.linspace(0.0, 1.0, round(1 / step) + 1), 6)
