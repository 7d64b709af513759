"""Routing heads on prompt embeddings, as scikit-learn estimators evaluated in numpy.

- :class:`LinearPassModel`: one logistic regression per candidate model.
- :class:`NeighbourPassModel`: cosine-weighted pass rate of the nearest training prompts.
- :class:`PassProbabilityModel`: the router's P(model clears the threshold | prompt), a blend of
  the two (measured in training/EXPERIMENTS.md).
- :func:`cheapest_passing_classifier`: the design card's multi-class classifier on the
  cheapest-passing label.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit, logit
from sklearn.base import BaseEstimator
from sklearn.linear_model import LogisticRegression
from sklearn.utils.validation import check_array, check_is_fitted
from tqdm.auto import tqdm

RATE_CLIP = 1e-4


class LinearPassModel(BaseEstimator):
    """One L2-regularised logistic regression per output column.

    Parameters
    ----------
    C : inverse regularisation strength.
    verbose : show a progress bar over the columns while fitting.

    Attributes
    ----------
    coef_ : ndarray (n_outputs, n_features)
    intercept_ : ndarray (n_outputs,)
    """

    def __init__(self, C: float = 1.0, verbose: bool = False) -> None:
        self.C = C
        self.verbose = verbose

    def _fit_column(self, X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
        if y.min() == y.max():
            rate = np.clip(y.mean(), RATE_CLIP, 1 - RATE_CLIP)
            return np.zeros(X.shape[1]), float(logit(rate))
        fitted = LogisticRegression(C=self.C, max_iter=2000).fit(X, y)
        return fitted.coef_[0], float(fitted.intercept_[0])

    def fit(self, X: np.ndarray, Y: np.ndarray) -> LinearPassModel:
        """Fit on embeddings ``X`` and a 0/1 matrix ``Y`` (prompts x models)."""
        X = check_array(X, dtype=np.float64)
        Y = check_array(Y, dtype=np.int64)
        columns = tqdm(
            range(Y.shape[1]),
            desc="fitting pass predictors",
            unit="model",
            disable=not self.verbose,
        )
        fitted = [self._fit_column(X, Y[:, j]) for j in columns]
        self.coef_ = np.array([coef for coef, _ in fitted])
        self.intercept_ = np.array([intercept for _, intercept in fitted])
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """P(pass) per prompt (row) and output (column)."""
        check_is_fitted(self)
        return expit(np.asarray(X, dtype=np.float64) @ self.coef_.T + self.intercept_)


class NeighbourPassModel(BaseEstimator):
    """Cosine-similarity-weighted mean of the ``n_neighbors`` nearest training prompts' outcomes.

    Attributes
    ----------
    X_ : ndarray (n_train, n_features), L2-normalised training embeddings.
    Y_ : ndarray (n_train, n_outputs), their outcomes.
    """

    def __init__(self, n_neighbors: int = 100) -> None:
        self.n_neighbors = n_neighbors

    def fit(self, X: np.ndarray, Y: np.ndarray) -> NeighbourPassModel:
        """Store normalised embeddings ``X`` and outcomes ``Y``."""
        X = check_array(X, dtype=np.float32)
        self.X_ = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
        self.Y_ = check_array(Y, dtype=np.float32)
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Weighted neighbour pass rate per prompt (row) and output (column)."""
        check_is_fitted(self)
        X = np.asarray(X, dtype=np.float32)
        X = X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)
        similarity = X @ self.X_.T
        k = min(self.n_neighbors, len(self.X_))
        nearest = np.argpartition(-similarity, k - 1, axis=1)[:, :k]
        weights = np.maximum(np.take_along_axis(similarity, nearest, axis=1), 1e-6)
        rates = np.einsum("nk,nkm->nm", weights, self.Y_[nearest]) / weights.sum(
            axis=1, keepdims=True
        )
        return rates.astype(np.float64)


class PassProbabilityModel(BaseEstimator):
    """P(pass) per candidate model: ``linear_weight`` x linear + (1 - ``linear_weight``) x neighbours.

    Parameters
    ----------
    linear_weight : weight of :class:`LinearPassModel` in the blend (0 = neighbours only).
    C : regularisation of the linear part.
    n_neighbors : neighbours of the neighbour part.
    verbose : progress bar while fitting.

    Attributes
    ----------
    linear_, neighbours_ : the fitted parts.
    n_outputs_ : number of candidate models.
    """

    def __init__(
        self,
        linear_weight: float = 0.25,
        C: float = 0.3,
        n_neighbors: int = 200,
        verbose: bool = False,
    ) -> None:
        self.linear_weight = linear_weight
        self.C = C
        self.n_neighbors = n_neighbors
        self.verbose = verbose

    def fit(self, X: np.ndarray, Y: np.ndarray) -> PassProbabilityModel:
        """Fit both parts on embeddings ``X`` and a boolean pass matrix ``Y`` (prompts x models)."""
        X = check_array(X, dtype=np.float64)
        Y = check_array(Y, dtype=np.int64)
        self.linear_ = LinearPassModel(C=self.C, verbose=self.verbose).fit(X, Y)
        self.neighbours_ = NeighbourPassModel(self.n_neighbors).fit(X, Y)
        self.n_outputs_ = Y.shape[1]
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """P(pass) for every prompt (row) and candidate model (column)."""
        check_is_fitted(self)
        X = check_array(X, dtype=np.float64)
        linear = self.linear_.predict_proba(X)
        neighbours = self.neighbours_.predict_proba(X)
        return self.linear_weight * linear + (1.0 - self.linear_weight) * neighbours


def cheapest_passing_classifier(C: float = 1.0) -> LogisticRegression:
    """The card's classifier: multinomial logistic regression on the cheapest-passing label."""
    return LogisticRegression(C=C, max_iter=2000)
