"""The heads on tiny hand-made embeddings: P(pass) and the expected score they predict."""

from __future__ import annotations

import numpy as np
import pytest

from router_ml.routing.heads import LinearPassModel, PassProbabilityModel
from router_ml.routing.policy import Policy

RNG = np.random.default_rng(0)
X = RNG.normal(size=(40, 5))
# model 0 always scores 0.9 (never passes at threshold 1, expected score 0.9); model 1 passes on
# half the prompts (P(pass) 0.5, expected score 0.5): P(pass) and E[score] rank them oppositely
SCORES = np.column_stack([np.full(40, 0.9), np.tile([1.0, 0.0], 20)])
PASSES = SCORES >= 1.0


def test_graded_scores_fit_an_expected_score_that_ranks_differently() -> None:
    model = PassProbabilityModel(n_neighbors=40).fit(X, PASSES, SCORES)
    proba, expected = model.predict_proba_and_score(X)
    assert model.graded_
    np.testing.assert_allclose(proba, model.predict_proba(X))
    assert (proba[:, 1] > proba[:, 0]).all()
    assert (expected[:, 0] > expected[:, 1]).all()
    np.testing.assert_allclose(expected[:, 0], 0.9, atol=1e-6)
    # ignoring cost, the utility sends every prompt to the model with the higher expected score
    costs = np.ones_like(proba)
    chosen, _ = Policy("utility").choose(proba, costs, 1.0, expected_score=expected)
    assert (chosen == 0).all()


def test_binary_scores_reuse_the_pass_model() -> None:
    binary = PASSES.astype(float)
    model = PassProbabilityModel(n_neighbors=10).fit(X, PASSES, binary)
    assert not model.graded_ and model.score_linear_ is None
    assert model.neighbours_.Y_.shape == PASSES.shape
    proba, expected = model.predict_proba_and_score(X)
    assert expected is proba


def test_zero_threshold_is_graded_even_with_binary_scores() -> None:
    # threshold 0: every answer passes, so pass != score although scores are 0/1
    binary = PASSES.astype(float)
    model = PassProbabilityModel(n_neighbors=10).fit(X, np.ones_like(PASSES), binary)
    assert model.graded_


def test_soft_labels_predict_the_mean_score() -> None:
    y = np.clip(0.5 + 0.3 * X[:, 0] + RNG.normal(scale=0.1, size=40), 0.0, 1.0)
    model = LinearPassModel(C=1.0).fit(X, y[:, None])
    predicted = model.predict_proba(X)[:, 0]
    assert predicted.mean() == pytest.approx(y.mean(), abs=1e-3)
    assert np.corrcoef(predicted, y)[0, 1] > 0.8
