"""Embedding drift: how far the new prompts are from the ones the champion was trained on.

A prompt's closeness to the training set is its nearest neighbour's cosine similarity there
(embeddings are unit length). The reference is the same figure for the training prompts
themselves, each against the others (leave-one-out): how close a prompt like the training ones
usually is.

The shift is the one-sided Kolmogorov-Smirnov statistic between the two: the largest excess,
over every similarity ``s``, of the share of new prompts below ``s`` over the share of reference
prompts below ``s``. Without drift it is near 0; when a fifth of the new prompts come from
somewhere the champion never saw, it is about 0.2. The record flags drift when the shift exceeds
both :data:`DRIFT_SHIFT` (a shift worth a look) and the test's critical value at
:data:`DRIFT_ALPHA` for the two sample sizes (a shift that is not chance):
``sqrt(ln(1 / alpha) / 2 * (n_new + n_reference) / (n_new * n_reference))``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

DRIFT_SHIFT = 0.2
DRIFT_ALPHA = 0.01
#: Training prompts the leave-one-out reference is computed on (a seeded sample beyond that).
MAX_REFERENCE_PROMPTS = 2000
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
CHUNK_ROWS = 1024


@dataclass(frozen=True)
class Drift:
    """Nearest-neighbour similarity of new prompts to the champion's training prompts.

    Attributes
    ----------
    n_new : new prompts (the champion was not trained on them).
    n_reference : the champion's training prompts whose embeddings were available.
    new_quantiles, reference_quantiles : quantiles of the similarity, keyed ``p5`` ... ``p95``.
    shift : the one-sided Kolmogorov-Smirnov statistic (new prompts farther than the reference).
    threshold : the larger of ``DRIFT_SHIFT`` and the critical value for these sample sizes.
    flagged : ``shift > threshold``.
    """

    n_new: int
    n_reference: int
    new_quantiles: dict[str, float]
    reference_quantiles: dict[str, float]
    shift: float
    threshold: float
    flagged: bool


def nearest_similarity(
    queries: np.ndarray, base: np.ndarray, skip: np.ndarray | None = None
) -> np.ndarray:
    """Per query row, the highest cosine similarity to a row of ``base`` (unit-length rows).

    ``skip[i]``, when given, is the row of ``base`` that query ``i`` may not match (itself).
    """
    best = np.empty(len(queries), dtype=np.float64)
    for start in range(0, len(queries), CHUNK_ROWS):
        similarity = queries[start : start + CHUNK_ROWS] @ base.T
        if skip is not None:
            similarity[np.arange(len(similarity)), skip[start : start + CHUNK_ROWS]] = -np.inf
        best[start : start + CHUNK_ROWS] = similarity.max(axis=1)
    return best


def _quantiles(values: np.ndarray) -> dict[str, float]:
    return {f"p{round(q * 100)}": float(np.quantile(values, q)) for q in QUANTILES}


def farther_shift(new: np.ndarray, reference: np.ndarray) -> float:
    """``max over s of (share of new below s - share of reference below s)``, at least 0."""
    ordered = np.sort(new)
    below_reference = np.searchsorted(np.sort(reference), ordered, side="left") / len(reference)
    below_new = np.arange(1, len(ordered) + 1) / len(ordered)
    return float(max(0.0, (below_new - below_reference).max()))


def drift_threshold(n_new: int, n_reference: int) -> float:
    """The shift beyond which drift is flagged, for these sample sizes."""
    critical = math.sqrt(
        math.log(1 / DRIFT_ALPHA) / 2 * (n_new + n_reference) / (n_new * n_reference)
    )
    return max(DRIFT_SHIFT, critical)


def measure_drift(new: np.ndarray, reference: np.ndarray, seed: int = 0) -> Drift | None:
    """Compare new prompts' embeddings with the champion's training prompts' embeddings.

    Returns None when there is no new prompt or fewer than two reference prompts.
    """
    if not len(new) or len(reference) < 2:
        return None
    new = np.asarray(new, dtype=np.float32)
    reference = np.asarray(reference, dtype=np.float32)
    rows = np.arange(len(reference))
    if len(rows) > MAX_REFERENCE_PROMPTS:
        rows = np.sort(
            np.random.default_rng(seed).choice(rows, MAX_REFERENCE_PROMPTS, replace=False)
        )
    within = nearest_similarity(reference[rows], reference, skip=rows)
    to_reference = nearest_similarity(new, reference)
    shift = farther_shift(to_reference, within)
    threshold = drift_threshold(len(new), len(within))
    return Drift(
        n_new=len(new),
        n_reference=len(reference),
        new_quantiles=_quantiles(to_reference),
        reference_quantiles=_quantiles(within),
        shift=shift,
        threshold=threshold,
        flagged=shift > threshold,
    )
