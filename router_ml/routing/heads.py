"""Routing heads on prompt embeddings, as scikit-learn estimators.

- :class:`PassProbabilityModel`: per candidate model, a calibrated P(model clears the threshold).
- :func:`cheapest_passing_classifier`: the design card's multi-class classifier on the
  cheapest-passing label.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.linear_model import LogisticRegression
from sklearn.utils.validation import check_array, check_is_fitted
from tqdm.auto import tqdm

MIN_PER_CLASS_TO_CALIBRATE = 2


class _ConstantRate:
    """A 'classifier' for a model that always (or never) passed in training."""

    def __init__(self, rate: float) -> None:
        self.rate = rate

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return np.tile([1.0 - self.rate, self.rate], (len(X), 1))


class PassProbabilityModel(BaseEstimator):
    """One calibrated binary classifier per candidate model.

    Parameters
    ----------
    estimator : classifier with ``predict_proba``; default ``LogisticRegression(C=1)``.
    method : calibration map, ``"isotonic"`` or ``"sigmoid"``.
    cv : folds used to cross-fit the calibration.
    verbose : show a progress bar over the candidate models while fitting.

    Attributes
    ----------
    estimators_ : list, one fitted calibrated classifier per output column.
    n_outputs_ : number of candidate models.
    """

    def __init__(
        self,
        estimator: BaseEstimator | None = None,
        method: str = "isotonic",
        cv: int = 5,
        verbose: bool = False,
    ):
        self.estimator = estimator
        self.method = method
        self.cv = cv
        self.verbose = verbose

    def _fit_one(self, X: np.ndarray, y: np.ndarray) -> object:
        minority = int(min(y.sum(), len(y) - y.sum()))
        if minority < MIN_PER_CLASS_TO_CALIBRATE:
            return _ConstantRate(float(y.mean()))
        base = (
            clone(self.estimator)
            if self.estimator is not None
            else LogisticRegression(C=1.0, max_iter=2000)
        )
        calibrated = CalibratedClassifierCV(base, method=self.method, cv=min(self.cv, minority))
        return calibrated.fit(X, y)

    def fit(self, X: np.ndarray, Y: np.ndarray) -> PassProbabilityModel:
        """Fit on embeddings ``X`` and a boolean pass matrix ``Y`` (prompts x models)."""
        X = check_array(X, dtype=np.float64)
        Y = check_array(Y, dtype=np.int64)
        columns = tqdm(
            range(Y.shape[1]),
            desc="fitting pass predictors",
            unit="model",
            disable=not self.verbose,
        )
        self.estimators_ = [self._fit_one(X, Y[:, j]) for j in columns]
        self.n_outputs_ = Y.shape[1]
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """P(pass) for every prompt (row) and candidate model (column)."""
        check_is_fitted(self)
        X = check_array(X, dtype=np.float64)
        return np.column_stack([e.predict_proba(X)[:, 1] for e in self.estimators_])


def cheapest_passing_classifier(C: float = 1.0) -> LogisticRegression:
    """The card's classifier: multinomial logistic regression on the cheapest-passing label."""
    return LogisticRegression(C=C, max_iter=2000)
