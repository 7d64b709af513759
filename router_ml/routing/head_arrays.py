"""The fitted heads as plain arrays, evaluated with numpy alone.

A version stores its heads twice: as the scikit-learn estimators (``pass_model.joblib``, for
Python users, reports and retraining) and as these arrays (``heads.npz``). Serving reads only the
arrays, so a serving process never imports scikit-learn, scipy or pandas (about 150 MB of
resident memory). The estimators in :mod:`router_ml.routing.heads` predict through
:meth:`HeadArrays.predict` too, so both give the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

RATE_CLIP = 1e-4


def clipped_logit(p: np.ndarray) -> np.ndarray:
    """``logit(clip(p, RATE_CLIP, 1 - RATE_CLIP))``."""
    p = np.clip(p, RATE_CLIP, 1.0 - RATE_CLIP)
    return np.log(p) - np.log1p(-p)


def sigmoid(z: np.ndarray) -> np.ndarray:
    """``1 / (1 + exp(-z))``, without overflow."""
    return np.exp(-np.logaddexp(0.0, -z))


def calibrate(proba: np.ndarray, calibration: np.ndarray | None) -> np.ndarray:
    """Per-model Platt map ``sigmoid(a * logit(clip(p)) + b)`` of P(pass) (prompts x models).

    ``calibration`` holds one ``(a, b)`` row per model column; None returns ``proba`` unchanged.
    """
    if calibration is None:
        return proba
    return sigmoid(calibration[:, 0] * clipped_logit(proba) + calibration[:, 1])


def linear_outputs(X: np.ndarray, coef: np.ndarray, intercept: np.ndarray) -> np.ndarray:
    """Logistic outputs of rows ``X`` (n x d) for each row of ``coef`` (m x d)."""
    return sigmoid(np.asarray(X, dtype=np.float64) @ coef.T + intercept)


def unit_rows(X: np.ndarray) -> np.ndarray:
    """``X`` as float32 rows of unit L2 norm."""
    X = np.asarray(X, dtype=np.float32)
    return X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)


def weighted_rates(similarity: np.ndarray, outcomes: np.ndarray, k: int) -> np.ndarray:
    """Similarity-weighted mean ``outcomes`` of each row's ``k`` most similar training rows."""
    nearest = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
    weights = np.maximum(np.take_along_axis(similarity, nearest, axis=1), 1e-6)
    rates = np.einsum("nk,nkm->nm", weights, outcomes[nearest])
    return (rates / weights.sum(axis=1, keepdims=True)).astype(np.float64)


def blend(linear_weight: float, linear: np.ndarray, neighbours: np.ndarray) -> np.ndarray:
    """``linear_weight`` x the linear part + the rest x the neighbour part."""
    return linear_weight * linear + (1.0 - linear_weight) * neighbours


@dataclass(frozen=True, eq=False)
class HeadArrays:
    """Everything :meth:`predict` needs, as arrays.

    Attributes
    ----------
    linear_weight : weight of the linear part in each blend.
    n_neighbors : neighbours of the neighbour part.
    n_models : candidate models (columns of P(pass)).
    coef, intercept : linear parts, P(pass) rows first, then (graded data) expected-score rows.
    neighbours : unit-length training embeddings (float32).
    outcomes : their pass outcomes, then (graded data) scores, one column per output (float32).
    calibration : Platt ``(a, b)`` per model for the reported P(pass); no rows: uncalibrated.
    """

    linear_weight: float
    n_neighbors: int
    n_models: int
    coef: np.ndarray
    intercept: np.ndarray
    neighbours: np.ndarray
    outcomes: np.ndarray
    calibration: np.ndarray

    @property
    def graded(self) -> bool:
        """Whether an expected-score head exists beside P(pass)."""
        return len(self.coef) > self.n_models

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Calibrated P(pass) and the (uncalibrated) expected score per prompt and model.

        On 0/1 data the expected score is the uncalibrated P(pass): calibration never changes
        what the utility policy maximises.
        """
        n = self.n_models
        linear = linear_outputs(X, self.coef, self.intercept)
        k = min(self.n_neighbors, len(self.neighbours))
        near = weighted_rates(unit_rows(X) @ self.neighbours.T, self.outcomes, k)
        blended = blend(self.linear_weight, linear, near)
        raw = blended[:, :n]
        calibration = self.calibration if len(self.calibration) else None
        return calibrate(raw, calibration), (blended[:, n:] if self.graded else raw)

    def save(self, path: Path) -> None:
        """Write the arrays to ``path`` (``.npz``, no pickles)."""
        with path.open("wb") as out:
            np.savez(out, **{f.name: np.asarray(getattr(self, f.name)) for f in fields(self)})

    @classmethod
    def load(cls, path: Path) -> HeadArrays:
        """Read arrays written by :meth:`save` (pickles refused)."""
        with np.load(path, allow_pickle=False) as data:
            return cls(
                linear_weight=float(data["linear_weight"]),
                n_neighbors=int(data["n_neighbors"]),
                n_models=int(data["n_models"]),
                **{name: data[name] for name in ARRAY_FIELDS},
            )


ARRAY_FIELDS = ("coef", "intercept", "neighbours", "outcomes", "calibration")
