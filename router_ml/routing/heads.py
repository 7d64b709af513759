"""Routing heads on prompt embeddings, as scikit-learn estimators evaluated in numpy.

- :class:`LinearPassModel`: one logistic regression per candidate model (0/1 or graded targets).
- :class:`NeighbourPassModel`: cosine-weighted mean outcome of the nearest training prompts.
- :class:`PassProbabilityModel`: the router's P(model clears the threshold | prompt) and expected
  score, each a blend of the two (measured in training/EXPERIMENTS.md); the reported P(pass) is
  Platt-calibrated per model (:func:`fit_platt`, :func:`calibrate`), the expected score is not.
- :func:`cheapest_passing_classifier`: the design card's multi-class classifier on the
  cheapest-passing label (:func:`fit_label_classifier`: a constant one when the label is).
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.utils.validation import check_array, check_is_fitted
from tqdm.auto import tqdm

from router_ml.routing.head_arrays import (
    HeadArrays,
    blend,
    clipped_logit,
    linear_outputs,
    sigmoid,
    unit_rows,
    weighted_rates,
)

PLATT_RIDGE = 1e-4
PLATT_MAX_ITER = 100


def fit_platt(proba: np.ndarray, passes: np.ndarray) -> tuple[float, float]:
    """Slope and intercept of a logistic regression of ``passes`` on ``logit(proba)`` (one model).

    Newton's method on the log loss, with a tiny ridge so that separable outcomes stay finite;
    a column that always or never passes keeps the identity ``(1, 0)``.
    """
    y = np.asarray(passes, dtype=np.float64)
    if y.min() == y.max():
        return 1.0, 0.0
    design = np.column_stack([clipped_logit(proba), np.ones(len(y))])
    w = np.array([1.0, 0.0])
    for _ in range(PLATT_MAX_ITER):
        p = sigmoid(design @ w)
        gradient = design.T @ (p - y) + PLATT_RIDGE * w
        hessian = (design.T * (p * (1.0 - p))) @ design + PLATT_RIDGE * np.eye(2)
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.abs(step).max() < 1e-10:
            break
    return float(w[0]), float(w[1])


def fold_ids(n: int, folds: int, seed: int) -> np.ndarray:
    """A fold number in ``0 .. folds - 1`` per row, in shuffled, near-equal folds."""
    return np.random.default_rng(seed).permutation(n) % folds


def _soft_labels(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows, labels and weights of soft labels: each row as 1 with weight y and 0 with 1 - y.

    Rows of weight 0 are left out (they add nothing to the loss).
    """
    rows = np.concatenate([X, X])
    labels = np.concatenate([np.ones(len(y)), np.zeros(len(y))])
    weights = np.concatenate([y, 1.0 - y])
    keep = weights > 0
    return rows[keep], labels[keep], weights[keep]


class LinearPassModel(BaseEstimator):
    """One L2-regularised logistic regression per output column, on targets in [0, 1].

    A 0/1 column is an ordinary fit. A graded column (scores in [0, 1]) is fitted as soft labels:
    each prompt counts as label 1 with weight ``s`` and label 0 with weight ``1 - s``, so the
    model predicts the expected score.

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
            return np.zeros(X.shape[1]), float(clipped_logit(y.mean()))
        model = LogisticRegression(C=self.C, max_iter=2000)
        if np.isin(y, (0.0, 1.0)).all():
            fitted = model.fit(X, y.astype(np.int64))
        else:
            fitted = model.fit(*_soft_labels(X, y))
        return fitted.coef_[0], float(fitted.intercept_[0])

    def fit(self, X: np.ndarray, Y: np.ndarray) -> LinearPassModel:
        """Fit on embeddings ``X`` and targets ``Y`` in [0, 1] (prompts x models)."""
        X = check_array(X, dtype=np.float64)
        Y = check_array(Y, dtype=np.float64)
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
        """P(pass), or the expected score of graded targets, per prompt (row) and output (column)."""
        check_is_fitted(self)
        return linear_outputs(X, self.coef_, self.intercept_)


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
        self.X_ = unit_rows(check_array(X, dtype=np.float32))
        self.Y_ = check_array(Y, dtype=np.float32)
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Weighted neighbour pass rate per prompt (row) and output (column)."""
        check_is_fitted(self)
        k = min(self.n_neighbors, len(self.X_))
        return weighted_rates(unit_rows(X) @ self.X_.T, self.Y_, k)

    def predict_out_of_fold(self, folds: np.ndarray, chunk: int = 1024) -> np.ndarray:
        """Each training prompt's rates from the neighbours outside its fold (``folds`` per row).

        The same as refitting without each fold, from one pass over the training similarities.
        """
        check_is_fitted(self)
        k = min(self.n_neighbors, len(self.X_) - np.bincount(folds).max())
        rates = []
        for start in range(0, len(self.X_), chunk):
            rows = slice(start, start + chunk)
            similarity = self.X_[rows] @ self.X_.T
            similarity[folds[rows, None] == folds[None, :]] = -np.inf
            rates.append(weighted_rates(similarity, self.Y_, k))
        return np.vstack(rates)


class PassProbabilityModel(BaseEstimator):
    """P(pass) and expected score per candidate model, each a blend of a linear and a neighbour part.

    Each output is ``linear_weight`` x :class:`LinearPassModel` + (1 - ``linear_weight``) x
    :class:`NeighbourPassModel`. P(pass) is the reported confidence, calibrated per model by a
    Platt map fitted on ``calibration_folds``-fold out-of-fold P(pass) of the training prompts
    (cross-fitted, so the neighbour part never sees the prompt it predicts). The expected score
    is what the utility policy maximises (the report's quality is the mean score) and is never
    calibrated: when the scores are the pass outcomes themselves (0/1 scores, so pass == score),
    it is the *uncalibrated* P(pass) and no second linear model is fitted, so calibration cannot
    change the utility's decisions.

    Parameters
    ----------
    linear_weight : weight of :class:`LinearPassModel` in the blend (0 = neighbours only).
    C : regularisation of the linear parts.
    n_neighbors : neighbours of the neighbour part.
    calibration_folds : folds of the cross-fitted calibration (0 = no calibration).
    random_state : seed of the fold assignment.
    verbose : progress bars while fitting.

    Attributes
    ----------
    linear_ : the linear part of P(pass).
    score_linear_ : the linear part of the expected score (None when ``graded_`` is false).
    neighbours_ : the neighbour part, of P(pass) and then (when ``graded_``) the expected score:
        one similarity row serves both.
    calibration_ : ndarray (n_outputs, 2), the Platt ``(a, b)`` of each model's P(pass)
        (:func:`calibrate`); None when ``calibration_folds`` is 0.
    graded_ : whether the scores differ from the pass outcomes.
    n_outputs_ : number of candidate models.
    """

    def __init__(
        self,
        linear_weight: float = 0.25,
        C: float = 0.3,
        n_neighbors: int = 200,
        calibration_folds: int = 5,
        random_state: int = 0,
        verbose: bool = False,
    ) -> None:
        self.linear_weight = linear_weight
        self.C = C
        self.n_neighbors = n_neighbors
        self.calibration_folds = calibration_folds
        self.random_state = random_state
        self.verbose = verbose

    def fit(
        self, X: np.ndarray, Y: np.ndarray, scores: np.ndarray | None = None
    ) -> PassProbabilityModel:
        """Fit on embeddings ``X``, a boolean pass matrix ``Y`` (prompts x models) and ``scores``.

        ``scores`` in [0, 1], the same shape as ``Y``; None means the scores are the passes.
        """
        X = check_array(X, dtype=np.float64)
        Y = check_array(Y, dtype=np.int64)
        S = Y.astype(np.float64) if scores is None else check_array(scores, dtype=np.float64)
        self.graded_ = not np.array_equal(S, Y)
        self.linear_ = LinearPassModel(C=self.C, verbose=self.verbose).fit(X, Y)
        self.score_linear_ = (
            LinearPassModel(C=self.C, verbose=self.verbose).fit(X, S) if self.graded_ else None
        )
        outcomes = np.hstack([Y, S]) if self.graded_ else Y
        self.neighbours_ = NeighbourPassModel(self.n_neighbors).fit(X, outcomes)
        self.n_outputs_ = Y.shape[1]
        self.calibration_ = self._fit_calibration(X, Y) if self.calibration_folds else None
        return self

    def _out_of_fold(self, X: np.ndarray, Y: np.ndarray) -> np.ndarray:
        """Uncalibrated P(pass) of every training prompt from parts fitted without its fold."""
        folds = fold_ids(len(X), self.calibration_folds, self.random_state)
        neighbours = self.neighbours_.predict_out_of_fold(folds)[:, : self.n_outputs_]
        linear = np.zeros(Y.shape)
        for k in tqdm(
            range(self.calibration_folds),
            desc="cross-fitting calibration",
            unit="fold",
            disable=not self.verbose,
        ):
            held = folds == k
            part = LinearPassModel(C=self.C).fit(X[~held], Y[~held])
            linear[held] = part.predict_proba(X[held])
        return blend(self.linear_weight, linear, neighbours)

    def _fit_calibration(self, X: np.ndarray, Y: np.ndarray) -> np.ndarray:
        oof = self._out_of_fold(X, Y)
        return np.array([fit_platt(oof[:, j], Y[:, j]) for j in range(Y.shape[1])])

    def to_arrays(self) -> HeadArrays:
        """The fitted heads as plain arrays (what serving loads, without scikit-learn).

        Versions pickled before the score head or calibration lack ``graded_`` or
        ``calibration_``: their arrays have no score rows or no calibration, as they predicted.
        """
        check_is_fitted(self)
        n = self.n_outputs_
        graded = getattr(self, "graded_", False)
        linear = [self.linear_, self.score_linear_] if graded else [self.linear_]
        calibration = getattr(self, "calibration_", None)
        return HeadArrays(
            linear_weight=float(self.linear_weight),
            n_neighbors=int(self.neighbours_.n_neighbors),
            n_models=n,
            coef=np.vstack([part.coef_ for part in linear]),
            intercept=np.concatenate([part.intercept_ for part in linear]),
            neighbours=self.neighbours_.X_,
            outcomes=self.neighbours_.Y_ if graded else self.neighbours_.Y_[:, :n],
            calibration=np.zeros((0, 2)) if calibration is None else np.asarray(calibration),
        )

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Calibrated P(pass) for every prompt (row) and candidate model (column)."""
        return self.predict_proba_and_score(X)[0]

    def predict_proba_and_score(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Calibrated P(pass) and the (uncalibrated) expected score per prompt and model.

        One kNN pass. On 0/1 data the expected score is the uncalibrated P(pass).
        """
        return self.to_arrays().predict(check_array(X, dtype=np.float64))


def cheapest_passing_classifier(C: float = 1.0) -> LogisticRegression:
    """The card's classifier: multinomial logistic regression on the cheapest-passing label."""
    return LogisticRegression(C=C, max_iter=2000)


def fit_label_classifier(X: np.ndarray, labels: np.ndarray) -> BaseEstimator:
    """The card's classifier fitted on ``labels``; a label that takes one value (one cheap model
    passes everything) is predicted as that value, there is nothing to classify."""
    if len(np.unique(labels)) < 2:
        return DummyClassifier(strategy="most_frequent").fit(X, labels)
    return cheapest_passing_classifier().fit(X, labels)
