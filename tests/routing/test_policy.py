"""Decision policies on hand-made probabilities and costs."""

from __future__ import annotations

import numpy as np
import pytest

from router_ml.routing.policy import Policy, confidence_grid

PROBA = np.array([[0.55, 0.80, 0.95], [0.20, 0.30, 0.40]])
COSTS = np.array([[1.0, 2.0, 9.0], [1.0, 2.0, 9.0]])


def test_threshold_picks_cheapest_confident_else_strongest() -> None:
    chosen, met = Policy("threshold").choose(PROBA, COSTS, 0.7)
    assert chosen.tolist() == [1, 2]
    assert met.tolist() == [True, False]


def test_threshold_respects_allowed_models() -> None:
    chosen, _ = Policy("threshold").choose(PROBA, COSTS, 0.7, np.array([True, False, True]))
    assert chosen.tolist() == [2, 2]


def test_threshold_cost_tie_goes_to_higher_probability() -> None:
    chosen, _ = Policy("threshold").choose(np.array([[0.8, 0.9]]), np.array([[1.0, 1.0]]), 0.5)
    assert chosen.tolist() == [1]


@pytest.mark.parametrize(
    ("knob", "expected"),
    [
        (0.0, [0, 0]),  # infinite cost weight: the cheapest
        (1.0, [2, 2]),  # zero cost weight: the highest probability
        # reference cost 10, knob 0.5: lam = 0.1 per USD. Row 0 utilities 0.45, 0.60, 0.05;
        # row 1: 0.10, 0.10, -0.50, a tie that goes to the cheaper model.
        (0.5, [1, 0]),
    ],
)
def test_utility_by_hand(knob: float, expected: list[int]) -> None:
    chosen, met = Policy("utility", reference_cost_usd=10.0).choose(PROBA, COSTS, knob)
    assert chosen.tolist() == expected
    assert met.all()


def test_utility_cost_weight_formula() -> None:
    policy = Policy("utility", reference_cost_usd=4.0)
    assert policy.cost_weight(0.8) == pytest.approx((1 - 0.8) / (0.8 * 4.0))
    assert np.isinf(policy.cost_weight(0.0))
    assert policy.cost_weight(1.0) == 0.0


@pytest.mark.parametrize("knob", [0.0, 0.3, 1.0])
def test_utility_without_a_reference_cost_maximises_the_value(knob: float) -> None:
    # every price 0 (self-hosted models): lam = 0, the highest value; a tie goes to the cheaper
    policy = Policy("utility", reference_cost_usd=0.0)
    assert policy.cost_weight(knob) == 0.0
    chosen, _ = policy.choose(np.array([[0.5, 0.9, 0.9]]), np.zeros((1, 3)), knob)
    assert chosen.tolist() == [1]
    assert policy.rank(np.array([0.5, 0.9, 0.7]), np.zeros(3), np.ones(3, bool), knob) == [1, 2, 0]


def test_utility_spends_on_short_prompts_and_saves_on_long_ones() -> None:
    proba = np.array([[0.5, 0.9], [0.5, 0.9]])
    costs = np.array([[0.1, 0.3], [10.0, 30.0]])  # same models, a short and a long prompt
    chosen, _ = Policy("utility", reference_cost_usd=1.0).choose(proba, costs, 0.5)
    assert chosen.tolist() == [1, 0]


@pytest.mark.parametrize("name", ["threshold", "utility"])
def test_rank_puts_the_choice_first(name: str) -> None:
    policy = Policy(name, reference_cost_usd=10.0)
    allowed = np.array([True, True, True])
    for knob in (0.0, 0.3, 0.5, 0.7, 1.0):
        chosen, _ = policy.choose(PROBA, COSTS, knob)
        for row in range(len(PROBA)):
            order = policy.rank(PROBA[row], COSTS[row], allowed, knob)
            assert order[0] == chosen[row]
            assert sorted(order) == [0, 1, 2]


def test_threshold_rank_puts_confident_models_by_cost_then_the_rest_by_probability() -> None:
    policy = Policy("threshold")
    allowed = np.array([True, True, True])
    assert policy.rank(PROBA[0], COSTS[0], allowed, 0.7) == [1, 2, 0]
    assert policy.rank(PROBA[1], COSTS[1], allowed, 0.7) == [2, 1, 0]
    assert policy.rank(PROBA[0], COSTS[0], np.array([True, False, True]), 0.7) == [2, 0]


def test_grid_covers_both_ends() -> None:
    grid = confidence_grid()
    assert grid[0] == 0.0 and grid[-1] == 1.0 and np.all(np.diff(grid) > 0)


def test_utility_maximises_the_expected_score_when_given() -> None:
    # model 0 passes more often, model 1 scores higher on average: the utility follows the score
    proba = np.array([[0.6, 0.4]])
    expected = np.array([[0.6, 0.9]])
    costs = np.array([[1.0, 1.0]])
    policy = Policy("utility", reference_cost_usd=1.0)
    assert policy.choose(proba, costs, 0.9)[0].tolist() == [0]
    assert policy.choose(proba, costs, 0.9, expected_score=expected)[0].tolist() == [1]
    assert policy.rank(proba[0], costs[0], np.array([True, True]), 0.9, expected[0]) == [1, 0]
    # the threshold rule reads only P(pass)
    threshold = Policy("threshold")
    assert threshold.choose(proba, costs, 0.5, expected_score=expected)[0].tolist() == [0]
