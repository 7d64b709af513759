"""The heads: on tiny hand-made embeddings, what they predict; on real embeddings, their numpy
evaluation against independent references (scikit-learn's logistic regression, brute-force kNN)."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from router_ml.data.catalog import load_catalog
from router_ml.data.dataset import build_dataset
from router_ml.data.evallog import read_log
from router_ml.embedding.cache import EmbeddingCache, embed_prompts
from router_ml.evaluation.metrics import expected_calibration_error
from router_ml.routing.head_arrays import HeadArrays, calibrate
from router_ml.routing.heads import (
    LinearPassModel,
    NeighbourPassModel,
    PassProbabilityModel,
    fit_platt,
    fold_ids,
)
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
    raw = PassProbabilityModel(n_neighbors=10, calibration_folds=0).fit(X, PASSES, binary)
    # the expected score is the uncalibrated P(pass); only the reported P(pass) is calibrated
    np.testing.assert_array_equal(expected, raw.predict_proba(X))
    assert not np.allclose(proba, expected)


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


def test_calibrate_maps_a_known_logit() -> None:
    calibration = np.array([[2.0, 0.5], [1.0, 0.0]])
    proba = np.array([[0.5, 0.3], [0.75, 0.9]])
    expected = 1.0 / (1.0 + np.exp(-(2.0 * np.log(np.array([1.0, 3.0])) + 0.5)))
    np.testing.assert_allclose(calibrate(proba, calibration)[:, 0], expected)
    np.testing.assert_allclose(calibrate(proba, calibration)[:, 1], proba[:, 1])
    assert calibrate(proba, None) is proba


def test_platt_lowers_the_ece_of_overconfident_probabilities() -> None:
    rng = np.random.default_rng(1)
    truth = rng.uniform(0.05, 0.95, size=4000)
    passes = rng.uniform(size=4000) < truth
    # overconfident: the true logit doubled and shifted
    overconfident = 1.0 / (1.0 + np.exp(-(2.0 * np.log(truth / (1.0 - truth)) + 1.0)))
    a, b = fit_platt(overconfident, passes)
    assert a == pytest.approx(0.5, abs=0.05) and b == pytest.approx(-0.5, abs=0.1)
    calibrated = calibrate(overconfident[:, None], np.array([[a, b]]))
    before = expected_calibration_error(overconfident[:, None], passes[:, None])
    assert expected_calibration_error(calibrated, passes[:, None]) < before / 3


def test_out_of_fold_neighbours_equal_refitting_without_the_fold() -> None:
    folds = fold_ids(40, 4, seed=0)
    fitted = NeighbourPassModel(n_neighbors=7).fit(X, PASSES)
    oof = fitted.predict_out_of_fold(folds, chunk=16)
    for k in range(4):
        held = folds == k
        refit = NeighbourPassModel(n_neighbors=7).fit(X[~held], PASSES[~held])
        np.testing.assert_allclose(oof[held], refit.predict_proba(X[held]), rtol=1e-5)


def test_calibration_never_changes_the_utility_decisions_on_binary_scores() -> None:
    rng = np.random.default_rng(2)
    embeddings = rng.normal(size=(300, 6))
    # three models of different skill and calibration: the per-model maps differ
    logits = embeddings[:, :3] * np.array([3.0, 1.0, 0.3]) + np.array([0.5, -0.5, 0.0])
    passes = rng.uniform(size=(300, 3)) < 1.0 / (1.0 + np.exp(-logits))
    new = rng.normal(size=(200, 6))
    costs = np.tile([0.1, 0.3, 1.0], (200, 1))
    policy = Policy("utility", reference_cost_usd=1.0)
    calibrated = PassProbabilityModel(n_neighbors=30).fit(embeddings, passes)
    plain = PassProbabilityModel(n_neighbors=30, calibration_folds=0).fit(embeddings, passes)
    proba, value = calibrated.predict_proba_and_score(new)
    raw, raw_value = plain.predict_proba_and_score(new)
    np.testing.assert_array_equal(value, raw_value)
    assert not np.allclose(proba, raw)  # the reported P(pass) is calibrated
    for knob in (0.3, 0.5, 0.7, 0.9):
        chosen, _ = policy.choose(proba, costs, knob, expected_score=value)
        plain_chosen, _ = policy.choose(raw, costs, knob, expected_score=raw_value)
        np.testing.assert_array_equal(chosen, plain_chosen)
    # the test has teeth: the utility on the calibrated P(pass) would decide differently
    on_calibrated = [policy.choose(proba, costs, t)[0] for t in (0.3, 0.5, 0.7, 0.9)]
    on_raw = [policy.choose(raw, costs, t)[0] for t in (0.3, 0.5, 0.7, 0.9)]
    assert any((c != r).any() for c, r in zip(on_calibrated, on_raw, strict=True))


@pytest.mark.parametrize("graded", [True, False])
def test_saved_arrays_load_back_unchanged(tmp_path, graded) -> None:
    scores = SCORES if graded else PASSES.astype(float)
    model = PassProbabilityModel(n_neighbors=10, calibration_folds=2).fit(X, PASSES, scores)
    arrays = model.to_arrays()
    arrays.save(tmp_path / "heads.npz")
    loaded = HeadArrays.load(tmp_path / "heads.npz")
    assert loaded.graded == graded and len(loaded.calibration) == 2
    for field in fields(HeadArrays):
        np.testing.assert_array_equal(getattr(loaded, field.name), getattr(arrays, field.name))


def test_arrays_without_calibration_report_the_blend() -> None:
    model = PassProbabilityModel(n_neighbors=10, calibration_folds=0).fit(X, PASSES)
    proba, value = model.to_arrays().predict(X)
    assert len(model.to_arrays().calibration) == 0 and proba is value


@pytest.fixture(scope="module")
def real(small_log: Path, catalog_path: Path, encoder, cache_dir: Path) -> tuple[np.ndarray, ...]:
    """Real embeddings and scores of the small sample, split into fitting and query prompts.

    Each embedding is scaled by its own factor (the encoder's have unit length), so that only a
    cosine, not a dot product, finds the same neighbours.
    """
    dataset = build_dataset(read_log(small_log), load_catalog(catalog_path))
    cache = EmbeddingCache(cache_dir, encoder.identity.cache_key)
    embeddings, _ = embed_prompts(dataset.prompts, encoder, cache)
    scaled = embeddings * np.random.default_rng(0).uniform(0.5, 2.0, size=(len(dataset), 1))
    fit = np.arange(len(dataset)) % 3 != 0
    return scaled[fit], dataset.scores[fit], scaled[~fit]


def _sklearn_logistic(X: np.ndarray, y: np.ndarray, queries: np.ndarray, C: float) -> np.ndarray:
    """P(label 1) of scikit-learn's logistic regression on targets ``y`` in [0, 1]: 0/1 labels,
    or each row as 1 with weight y and 0 with 1 - y."""
    model = LogisticRegression(C=C, max_iter=2000)
    if np.isin(y, (0.0, 1.0)).all():
        model.fit(X, y.astype(int))
    else:
        rows, labels = np.vstack([X, X]), np.r_[np.ones(len(y)), np.zeros(len(y))]
        weights = np.r_[y, 1.0 - y]
        model.fit(rows[weights > 0], labels[weights > 0], sample_weight=weights[weights > 0])
    return model.predict_proba(queries)[:, 1]


def _brute_force_neighbours(
    X: np.ndarray, outcomes: np.ndarray, queries: np.ndarray, k: int
) -> np.ndarray:
    """Per query, the mean outcome of its ``k`` most cosine-similar rows of ``X``, each weighted
    by its similarity (at least 1e-6)."""
    unit = X / np.linalg.norm(X, axis=1, keepdims=True)
    rates = []
    for query in queries:
        similarity = unit @ (query / np.linalg.norm(query))
        order = np.argsort(-similarity)
        assert similarity[order[k - 1]] - similarity[order[k]] > 1e-5  # no near tie at the k-th
        weights = np.maximum(similarity[order[:k]], 1e-6)
        rates.append(weights @ outcomes[order[:k]] / weights.sum())
    return np.array(rates)


@pytest.mark.parametrize("linear_weight", [1.0, 0.0, 0.25], ids=["linear", "neighbours", "blend"])
def test_numpy_heads_predict_what_independent_references_predict(real, linear_weight) -> None:
    X_fit, scores, queries = (np.asarray(a, dtype=np.float64) for a in real)
    passes = scores >= 1.0
    assert not np.array_equal(scores, passes)  # graded: the expected-score head is fitted too
    C, k = 0.3, 5
    model = PassProbabilityModel(linear_weight, C=C, n_neighbors=k, calibration_folds=0)
    proba, expected = model.fit(X_fit, passes, scores).predict_proba_and_score(queries)
    for predicted, targets in ((proba, passes.astype(float)), (expected, scores)):
        linear = np.column_stack([_sklearn_logistic(X_fit, t, queries, C) for t in targets.T])
        near = _brute_force_neighbours(X_fit, targets, queries, k)
        reference = linear_weight * linear + (1.0 - linear_weight) * near
        np.testing.assert_allclose(predicted, reference, rtol=1e-5, atol=1e-6)
