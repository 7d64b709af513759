"""Every report figure against values computed by hand on a tiny hand-made log.

Three models A, B, C cost 1, 2 and 4 USD on every prompt (logged ``cost_usd``, and the router's
estimate too, except in ``test_routes_decide_with_estimates_and_cost_what_was_logged``);
threshold 1.

    prompt  task   scores A B C     P(pass) A    B     C     card label   oracle label
    p1      x      1    1   1       0.9   0.9  0.95    A            A
    p2      x      0    1   1       0.3   0.7  0.9     B            B
    p3      y      0    0   1       0.2   0.55 0.7     B            C
    p4      y      0    0.9 0       0.1   0.6  0.5     A            A (none passes: cheapest)

Sweep grid 0, 0.5, 0.75, 1 (routes: AAAA, ABBB, ACCB, CCCB); default ``min_confidence`` 0.75.
The zero router's P(pass) is A 0.3, B 0.6, C 0.8 for every prompt (routes: A, B, C, C).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from pipeline_helpers import write_jsonl

from router_ml import ConfigError
from router_ml.data.catalog import load_catalog
from router_ml.data.dataset import RoutingDataset, build_dataset
from router_ml.data.evallog import read_logs
from router_ml.evaluation.bootstrap import (
    Interval,
    percentile_interval,
    resample_counts,
    savings_draws,
)
from router_ml.evaluation.curves import aiq, apgr, nondecreasing_hull, shared_cost_range
from router_ml.evaluation.metrics import (
    RoutingFigures,
    curve_choices,
    headline_savings,
    single_models,
    sweep,
)
from router_ml.report.compute import RoutingReport, compute_report
from router_ml.routing.policy import Policy

MODELS = ["A", "B", "C"]
COSTS = {"A": 1.0, "B": 2.0, "C": 4.0}
SCORES = {"p1": (1, 1, 1), "p2": (0, 1, 1), "p3": (0, 0, 1), "p4": (0, 0.9, 0)}
TASKS = {"p1": "x", "p2": "x", "p3": "y", "p4": "y"}
PROBA = np.array([[0.9, 0.9, 0.95], [0.3, 0.7, 0.9], [0.2, 0.55, 0.7], [0.1, 0.6, 0.5]])
CARD_LABELS = np.array([0, 1, 1, 0])
PRIOR = np.array([0.3, 0.6, 0.8])
GRID = np.array([0.0, 0.5, 0.75, 1.0])
THRESHOLD = Policy("threshold")


@pytest.fixture(scope="module")
def hand_dataset(tmp_path_factory: pytest.TempPathFactory) -> RoutingDataset:
    folder = tmp_path_factory.mktemp("hand")
    rows = [
        {
            "prompt_id": pid,
            "prompt": f"hand-made prompt {pid}",
            "model": model,
            "score": score,
            "cost_usd": COSTS[model],
            "task": TASKS[pid],
        }
        for pid, scores in SCORES.items()
        for model, score in zip(MODELS, scores, strict=True)
    ]
    log = write_jsonl(folder / "hand.jsonl", rows)
    catalog = folder / "catalog.toml"
    catalog.write_text(
        "".join(f'[models."{m}"]\ninput_per_mtok = 1.0\noutput_per_mtok = 1.0\n' for m in MODELS)
    )
    dataset = build_dataset(read_logs([log]), load_catalog(catalog))
    return replace(dataset, estimated_costs=dataset.costs.copy())


def _hand_report(dataset: RoutingDataset, **options: object) -> RoutingReport:
    """The report of ``PROBA`` at ``min_confidence`` 0.75 with the threshold rule on ``GRID``."""
    return compute_report(
        dataset, PROBA, CARD_LABELS, PRIOR, 1.0, 0.75, policy=THRESHOLD, grid=GRID, **options
    )


@pytest.fixture(scope="module")
def report(hand_dataset: RoutingDataset) -> RoutingReport:
    return _hand_report(hand_dataset, n_bootstrap=200, seed=3)


def figures(quality: float, pass_rate: float, cost: float) -> RoutingFigures:
    return RoutingFigures(pytest.approx(quality), pytest.approx(pass_rate), pytest.approx(cost))


def test_hand_dataset_is_as_written(hand_dataset: RoutingDataset) -> None:
    assert hand_dataset.models == MODELS
    assert hand_dataset.prompt_ids == list(SCORES)
    np.testing.assert_array_equal(hand_dataset.costs, np.tile([1.0, 2.0, 4.0], (4, 1)))


def test_single_models_oracle_and_random_router(report: RoutingReport) -> None:
    assert report.n_prompts == 4 and report.threshold == 1.0 and report.models == MODELS
    assert report.singles == {
        "A": figures(0.25, 0.25, 4.0),
        "B": figures(2.9 / 4, 0.5, 8.0),
        "C": figures(0.75, 0.75, 16.0),
    }
    assert (report.best_single, report.cheapest_single) == ("C", "A")
    # oracle: p1 A (1), p2 B (1), p3 C (1), p4 no model passes -> cheapest A (0)
    assert report.oracle == figures(0.75, 0.75, 1 + 2 + 4 + 1)
    assert report.oracle_share == {"A": 0.5, "B": 0.25, "C": 0.25}
    # router at 0.75 sends p1 A, p2 C, p3 C (none clears 0.75: argmax), p4 B (argmax)
    assert report.router == figures(3.9 / 4, 0.75, 1 + 4 + 4 + 2)
    assert report.traffic_share == {"A": 0.25, "B": 0.25, "C": 0.5}
    # expected figures of A, B, C at random with shares 1/4, 1/4, 1/2
    assert report.random_router == figures(
        0.25 * 0.25 + 0.25 * 0.725 + 0.5 * 0.75, 0.25 * 0.25 + 0.25 * 0.5 + 0.5 * 0.75, 11.0
    )


def test_routes_decide_with_estimates_and_cost_what_was_logged(
    hand_dataset: RoutingDataset,
) -> None:
    # estimated A 4, B 2, C 1: at 0.75 the router sends p1 C (cheapest confident), p2 C, p3 C and
    # p4 B (argmax), at logged costs 4 + 4 + 4 + 2; singles and the oracle keep logged costs
    reversed_estimates = replace(hand_dataset, estimated_costs=np.tile([4.0, 2.0, 1.0], (4, 1)))
    report = _hand_report(reversed_estimates, n_bootstrap=10)
    assert report.router == figures(3.9 / 4, 0.75, 4 + 4 + 4 + 2)
    assert report.learned.curve[0].cost_usd == 16.0  # knob 0: the cheapest estimate, C
    assert report.oracle == figures(0.75, 0.75, 1 + 2 + 4 + 1)
    assert report.singles["A"] == figures(0.25, 0.25, 4.0)


def test_curve_and_savings(report: RoutingReport) -> None:
    curve = [(p.min_confidence, p.quality, p.pass_rate, p.cost_usd) for p in report.learned.curve]
    assert curve == [
        (0.0, 0.25, 0.25, 4.0),
        (0.5, pytest.approx(2.9 / 4), 0.5, 7.0),
        (0.75, pytest.approx(3.9 / 4), 0.75, 11.0),
        (1.0, pytest.approx(3.9 / 4), 0.75, 14.0),
    ]
    # quality >= 0.75 first at cost 11; >= 0.95 * 0.75 = 0.7125 first at cost 7; best costs 16
    assert report.learned.savings_at_best_quality == pytest.approx(1 - 11 / 16)
    assert report.learned.savings_at_95pct_quality == pytest.approx(1 - 7 / 16)
    assert report.learned.highest_quality == pytest.approx(3.9 / 4)


def test_savings_are_none_when_never_reached() -> None:
    scores = np.array([[0.0, 1.0], [0.0, 1.0]])
    curve = sweep(np.zeros((2, 2)), scores, np.ones((2, 2)), 1.0, policy=THRESHOLD, grid=GRID)
    assert headline_savings(curve, RoutingFigures(1.0, 1.0, 2.0)) == (None, None)


def test_a_sweep_among_allowed_models_is_the_sweep_without_the_others(
    hand_dataset: RoutingDataset,
) -> None:
    scores, costs, allowed = hand_dataset.scores, hand_dataset.costs, np.array([True, True, False])
    for policy in (THRESHOLD, Policy("utility", reference_cost_usd=4.0)):
        choices = curve_choices(PROBA, costs, GRID, policy=policy, allowed=allowed)
        assert (choices != 2).all()
        among = sweep(PROBA, scores, costs, 1.0, policy=policy, grid=GRID, allowed=allowed)
        without = sweep(PROBA[:, :2], scores[:, :2], costs[:, :2], 1.0, policy=policy, grid=GRID)
        assert among == without


def test_apgr(report: RoutingReport) -> None:
    # normalised cost x = (c - 4) / 12, PGR = (q - 0.25) / 0.5; points (0, 0), (1/4, 0.95),
    # (7/12, 1.45), (10/12, 1.45): a step function 0 on [0, 1/4), 0.95 to 7/12, 1.45 to 1
    assert report.learned.apgr == pytest.approx(0.95 * (7 / 12 - 1 / 4) + 1.45 * (1 - 7 / 12))
    # zero router points (0, 0), (1/3, 0.95), (1, 1), (1, 1)
    assert report.zero_router.apgr == pytest.approx(0.95 * (2 / 3))


def test_apgr_without_a_gap_and_without_a_point_in_budget() -> None:
    same = RoutingFigures(0.5, 0.5, 1.0)
    assert apgr([(1.0, 0.5)], same, same) is None
    cheap, best = RoutingFigures(0.0, 0.0, 0.0), RoutingFigures(1.0, 1.0, 10.0)
    # nothing costs <= 5 (PGR counts 0 there); from x = 0.5 on, PGR 0.8
    assert apgr([(5.0, 0.8)], cheap, best) == pytest.approx(0.4)


def test_hull_and_aiq(report: RoutingReport) -> None:
    assert report.cost_range == (4.0, 16.0)
    assert report.learned.hull == [(4.0, 0.25), (7.0, pytest.approx(0.725)), (11.0, 0.975)]
    # trapezoids 4-7, 7-11, then flat at 0.975 to 16, over a range of 12
    router_area = (0.25 + 0.725) / 2 * 3 + (0.725 + 0.975) / 2 * 4 + 0.975 * 5
    assert report.learned.aiq == pytest.approx(router_area / 12)
    assert report.single_model_hull == [(4.0, 0.25), (8.0, pytest.approx(0.725)), (16.0, 0.75)]
    single_area = (0.25 + 0.725) / 2 * 4 + (0.725 + 0.75) / 2 * 8
    assert report.single_model_aiq == pytest.approx(single_area / 12)
    assert report.zero_router.aiq == pytest.approx(single_area / 12)


def test_hull_drops_points_below_it_and_is_flat_after_the_peak() -> None:
    points = [(0.0, 0.0), (1.0, 0.2), (2.0, 1.0), (3.0, 0.5), (2.0, 0.1)]
    assert nondecreasing_hull(points) == [(0.0, 0.0), (2.0, 1.0)]
    assert aiq(points, (0.0, 3.0)) == pytest.approx((1.0 + 1.0) / 3)
    assert aiq(points, (1.0, 1.0)) is None
    assert shared_cost_range([(0.0, 0.0), (3.0, 1.0)], [(1.0, 0.5), (2.0, 0.6)]) == (1.0, 3.0)


def test_ece_and_reliability(report: RoutingReport) -> None:
    bins = report.learned.reliability
    assert [b.count for b in bins] == [0, 1, 1, 1, 0, 2, 1, 2, 0, 4]
    assert bins[5].mean_probability == pytest.approx(0.525) and bins[5].observed_rate == 0.0
    assert bins[9].mean_probability == pytest.approx(0.9125) and bins[9].observed_rate == 1.0
    assert bins[0].mean_probability is None and bins[0].observed_rate is None
    # |p - observed| x count per bin: .1 + .2 + .3 + 1.05 + .6 + .6 + .35 over 12 probabilities
    assert report.learned.ece == pytest.approx(3.2 / 12)
    # zero router: A 0.3 vs 1/4 passes, B 0.6 vs 2/4, C 0.8 vs 3/4, four prompts each
    assert report.zero_router.ece == pytest.approx((0.05 + 0.1 + 0.05) * 4 / 12)


def test_zero_router_savings(report: RoutingReport) -> None:
    assert [p.cost_usd for p in report.zero_router.curve] == [4.0, 8.0, 16.0, 16.0]
    assert report.zero_router.savings_at_best_quality == pytest.approx(0.0)
    assert report.zero_router.savings_at_95pct_quality == pytest.approx(0.5)
    assert report.zero_router.highest_quality == 0.75


def test_label_classifier(report: RoutingReport) -> None:
    card = report.label_classifier
    assert card.outcome == figures(0.5, 0.5, 1 + 2 + 2 + 1)
    assert card.accuracy == 0.75
    assert card.accuracy_solvable == pytest.approx(2 / 3)
    # F1 per class: A 1, B 2/3 (precision 1/2, recall 1), C 0
    assert card.macro_f1 == pytest.approx((1 + 2 / 3 + 0) / 3)
    assert card.confusion == [[2, 0, 0], [0, 1, 0], [0, 1, 0]]


def test_per_task(report: RoutingReport) -> None:
    x, y = report.tasks["x"], report.tasks["y"]
    assert list(report.tasks) == ["x", "y"]
    assert (x.n_prompts, y.n_prompts) == (2, 2)
    assert x.router == figures(1.0, 1.0, 5.0)
    assert x.oracle == figures(1.0, 1.0, 3.0)
    assert x.best_single == "B"  # B and C both score 1 on x; B is cheaper
    assert x.models["A"] == figures(0.5, 0.5, 2.0)
    assert y.router == figures(0.95, 0.5, 6.0)
    assert y.oracle == figures(0.5, 0.5, 5.0)
    assert y.best_single == "C"


def test_bootstrap_intervals(report: RoutingReport, hand_dataset: RoutingDataset) -> None:
    boot = report.bootstrap
    assert (boot.n_resamples, boot.seed, boot.level) == (200, 3, 0.95)
    assert 0.0 <= boot.router_quality.low <= report.router.quality <= boot.router_quality.high
    assert boot.router_cost_usd.low <= report.router.cost_usd <= boot.router_cost_usd.high
    again = _hand_report(hand_dataset, n_bootstrap=200, seed=3)
    assert again.bootstrap == boot


def test_bootstrap_draws_match_recomputing_each_resample(hand_dataset: RoutingDataset) -> None:
    counts = resample_counts(4, 30, seed=5)
    assert counts.shape == (30, 4) and (counts.sum(axis=1) == 4).all()
    scores, costs = hand_dataset.scores, hand_dataset.costs
    choices = curve_choices(PROBA, costs, GRID, policy=THRESHOLD)
    draws = savings_draws(counts, choices, GRID, scores, costs, 1.0)
    for b, row in enumerate(counts):
        index = np.repeat(np.arange(4), row)
        curve = sweep(PROBA[index], scores[index], costs[index], 1.0, policy=THRESHOLD, grid=GRID)
        singles = single_models(scores[index], costs[index], 1.0)
        best = max(singles, key=lambda s: (s.quality, -s.cost_usd))
        expected = [np.nan if s is None else s for s in headline_savings(curve, best)]
        np.testing.assert_allclose([draws.at_best_quality[b], draws.at_95pct_quality[b]], expected)


def test_percentile_interval_ranks_missing_draws_lowest() -> None:
    assert percentile_interval(np.arange(1.0, 101.0)) == Interval(3.0, 98.0)
    with_missing = np.concatenate([np.full(5, np.nan), np.arange(95.0)])
    assert percentile_interval(with_missing) == Interval(None, 92.0)


def test_the_routers_policy_is_used(hand_dataset: RoutingDataset) -> None:
    # utility at 0.5 with reference cost 4: lam = 0.5 / (0.5 x 4) = 0.25 per USD, so P - 0.25 x cost
    # is highest for A on p1 (0.65), B on p2 (0.2), p3 (0.05) and p4 (0.1)
    policy = Policy("utility", reference_cost_usd=4.0)
    report = compute_report(
        hand_dataset, PROBA, CARD_LABELS, PRIOR, 1.0, 0.5, policy=policy, grid=GRID, n_bootstrap=10
    )
    assert report.policy == policy
    assert report.router == figures(2.9 / 4, 0.5, 1 + 2 + 2 + 2)
    assert report.learned.curve == sweep(
        PROBA, hand_dataset.scores, hand_dataset.costs, 1.0, policy=policy, grid=GRID
    )


def test_the_utility_weighs_the_expected_score(hand_dataset: RoutingDataset) -> None:
    # ignoring cost (knob 1), P(pass) sends p3 to C (score 1); an expected score that ranks B
    # above C there sends it to B (score 0): the curve and the router follow the expected score,
    # the reliability figures stay those of P(pass)
    policy = Policy("utility", reference_cost_usd=4.0)
    expected = PROBA.copy()
    expected[2] = [0.2, 0.8, 0.7]
    common = dict(policy=policy, grid=GRID, n_bootstrap=10)
    plain = compute_report(hand_dataset, PROBA, CARD_LABELS, PRIOR, 1.0, 1.0, **common)
    graded = compute_report(
        hand_dataset, PROBA, CARD_LABELS, PRIOR, 1.0, 1.0, expected_score=expected, **common
    )
    assert plain.router.quality - graded.router.quality == pytest.approx(1 / 4)
    assert graded.learned.curve == sweep(
        PROBA,
        hand_dataset.scores,
        hand_dataset.costs,
        1.0,
        policy=policy,
        grid=GRID,
        expected_score=expected,
    )
    assert graded.learned.ece == plain.learned.ece
    # the zero router weighs the training mean scores when given: B's 0.95 beats C's 0.8
    zero = compute_report(
        hand_dataset,
        PROBA,
        CARD_LABELS,
        PRIOR,
        1.0,
        1.0,
        prior_mean_scores=np.array([0.3, 0.95, 0.8]),
        **common,
    )
    assert zero.zero_router.curve[-1].cost_usd == 4 * 2.0
    assert plain.zero_router.curve[-1].cost_usd == 4 * 4.0


@pytest.mark.parametrize(
    ("keywords", "message"),
    [
        ({"n_bootstrap": 0}, "The 'n_bootstrap' parameter must be an integer >= 1. Got 0 instead."),
        ({"level": 1.0}, "The 'level' parameter must be in (0, 1). Got 1.0 instead."),
    ],
)
def test_bad_resampling_is_named(
    hand_dataset: RoutingDataset, keywords: dict, message: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        _hand_report(hand_dataset, **keywords)
    assert str(raised.value) == message
