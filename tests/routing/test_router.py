"""Router.load(...).route(...) on a real trained version."""

from __future__ import annotations

import copy
import math
from dataclasses import fields

import numpy as np
import pytest

from router_ml import InvalidRequestError, Router
from router_ml.data.splits import prompt_hash
from router_ml.routing.head_arrays import HeadArrays
from router_ml.routing.router import HEADS_FILE


def test_route_maximises_the_policy_utility(router: Router) -> None:
    decision = router.route("What is 17 * 23? Answer with a number.")
    by_model = {e.model: e for e in decision.ranked}
    assert set(by_model) == set(router.models)
    assert decision.model == decision.ranked[0].model
    assert decision.confidence == pytest.approx(by_model[decision.model].pass_probability)
    assert router.policy.name == "utility"
    assert decision.reason == "max_expected_utility"
    assert router.policy.value == "expected_score"
    weight = router.policy.cost_weight(decision.min_confidence)
    utility = {e.model: e.expected_score - weight * e.estimated_cost_usd for e in decision.ranked}
    assert utility[decision.model] == pytest.approx(max(utility.values()))
    assert decision.min_confidence == router.default_min_confidence
    assert decision.router_version == router.version


def _variant(router: Router, policy: dict, pass_model: object | None = None) -> Router:
    """``router`` with another policy; with ``pass_model``, routing on that estimator."""
    return Router(
        router.folder,
        {**router.manifest, "policy": policy},
        router.catalog,
        router.encoder,
        heads=None if pass_model else router.heads,
        pass_model=pass_model,
    )


def test_threshold_policy_routes_to_cheapest_confident_model(router: Router) -> None:
    threshold = _variant(router, {"name": "threshold", "reference_cost_usd": 1.0})
    decision = threshold.route("What is 17 * 23? Answer with a number.", min_confidence=0.5)
    confident = [e for e in decision.ranked if e.pass_probability >= 0.5]
    if confident:
        assert decision.reason == "met_min_confidence"
        assert decision.model == min(confident, key=lambda e: e.estimated_cost_usd).model
    else:
        assert decision.reason == "none_met_min_confidence"
        assert decision.confidence == max(e.pass_probability for e in decision.ranked)


def test_min_confidence_extremes(router: Router) -> None:
    prompt = "Translate 'good morning' into French."
    cheapest = min(router.route(prompt).ranked, key=lambda e: e.estimated_cost_usd).model
    assert router.route(prompt, min_confidence=0.0).model == cheapest
    strict = router.route(prompt, min_confidence=1.0)
    # knob 1 ignores cost: the highest expected score (the confidence is calibrated, the value not)
    assert strict.ranked[0].expected_score == max(e.expected_score for e in strict.ranked)
    assert strict.confidence == strict.ranked[0].pass_probability


def test_allowed_models_never_leaves_the_set(router: Router) -> None:
    allowed = router.models[:2]
    decision = router.route("Write a haiku about the sea.", allowed_models=allowed)
    assert decision.model in allowed
    assert {e.model for e in decision.ranked} == set(allowed)
    unrestricted = router.route("Write a haiku about the sea.")
    assert decision.restricted_by_allowed_models == (unrestricted.model not in allowed)


@pytest.mark.parametrize("bad", [-0.1, 1.5, math.nan])
def test_bad_min_confidence(router: Router, bad: float) -> None:
    with pytest.raises(InvalidRequestError, match="min_confidence"):
        router.route("hello", min_confidence=bad)


def test_unknown_allowed_models_are_ignored_unless_none_is_known(router: Router) -> None:
    allowed = ["gpt-9", "nope", router.models[0]]
    assert router.route("hello", allowed_models=allowed).model == router.models[0]
    assert router.unknown_models(allowed) == ["gpt-9", "nope"]
    with pytest.raises(InvalidRequestError, match=r"names no model this router knows: gpt-9, nope"):
        router.route("hello", allowed_models=["gpt-9", "nope"])


@pytest.mark.parametrize("empty", ["", "   \n"])
def test_empty_prompt(router: Router, empty: str) -> None:
    with pytest.raises(InvalidRequestError, match="empty"):
        router.route(empty)


def test_route_many_matches_route(router: Router) -> None:
    prompts = ["What is 2 + 2?", "Name the largest planet.", "def fib(n): complete this function"]
    batch = router.route_many(prompts)
    for prompt, decision in zip(prompts, batch, strict=True):
        single = router.route(prompt)
        assert single.model == decision.model
        assert single.confidence == pytest.approx(decision.confidence, abs=1e-5)


def test_training_prompt_hashes_recorded(router: Router, sample_rows: list[dict]) -> None:
    hashes = router.training_prompt_hashes()
    all_sample = {prompt_hash(r["prompt"]) for r in sample_rows}
    n_train = router.manifest["split"]["n_train"]
    assert len(hashes) <= n_train and hashes <= all_sample
    assert len(hashes) >= n_train * 0.95


def test_pass_probabilities_are_probabilities(router: Router) -> None:
    proba = router.pass_probabilities(router.embed(["a", "b c d"]))
    assert proba.shape == (2, len(router.models))
    assert np.all((proba >= 0) & (proba <= 1))


def test_manifest_without_policy_is_refused(router: Router, tmp_path) -> None:
    import json
    import shutil

    from router_ml import ArtifactError
    from router_ml.artifact.manifest import seal

    copy = tmp_path / "old-version"
    shutil.copytree(router.folder, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    del manifest["policy"]
    seal(copy, manifest)
    with pytest.raises(ArtifactError, match="lacks policy"):
        Router.load(copy)


def test_the_bundled_data_is_graded_so_the_score_head_is_fitted(router: Router) -> None:
    assert router.pass_model.graded_
    proba, expected = router.outcome_estimates(router.embed(["What is 2 + 2?"]))
    assert np.all((expected >= 0) & (expected <= 1)) and not np.allclose(proba, expected)
    assert set(router.manifest["train_mean_scores"]) == set(router.models)


def test_a_version_from_before_the_score_head_routes_on_pass_probability(router: Router) -> None:
    # what an older pickle holds: the pass head alone; its manifest's policy has no "value"
    old_head = copy.copy(router.pass_model)
    old_head.neighbours_ = copy.copy(old_head.neighbours_)
    old_head.neighbours_.Y_ = old_head.neighbours_.Y_[:, : old_head.n_outputs_]
    del old_head.graded_, old_head.score_linear_
    policy = {k: v for k, v in router.manifest["policy"].items() if k != "value"}
    old = _variant(router, policy, old_head)
    assert old.policy.value == "pass_probability"
    prompt = "What is 17 * 23? Answer with a number."
    decision = old.route(prompt)
    assert all(e.expected_score == e.pass_probability for e in decision.ranked)
    weight = old.policy.cost_weight(decision.min_confidence)
    utility = {e.model: e.pass_probability - weight * e.estimated_cost_usd for e in decision.ranked}
    assert utility[decision.model] == pytest.approx(max(utility.values()))
    assert decision.confidence == pytest.approx(router.route(prompt).confidence)


def test_the_saved_arrays_are_the_pickled_estimators(router: Router) -> None:
    # both predict through HeadArrays.predict, so equal arrays mean equal routes
    saved = HeadArrays.load(router.folder / HEADS_FILE)
    from_pickle = router.pass_model.to_arrays()
    for field in fields(HeadArrays):
        np.testing.assert_array_equal(getattr(saved, field.name), getattr(from_pickle, field.name))
