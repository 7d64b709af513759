"""Embedding drift on real embeddings: prompts like the training ones pass, a shifted batch is flagged."""

from __future__ import annotations

import random

import numpy as np
import pytest

from router_ml.retraining.drift import (
    DRIFT_SHIFT,
    drift_threshold,
    farther_shift,
    measure_drift,
    nearest_similarity,
)


@pytest.fixture(scope="module")
def prompts(sample_rows: list[dict]) -> list[str]:
    texts = list(dict.fromkeys(r["prompt"] for r in sample_rows))
    random.Random(1).shuffle(texts)
    return texts


@pytest.fixture(scope="module")
def reference(encoder, prompts: list[str]) -> np.ndarray:
    """Embeddings of 200 real prompts: the champion's training prompts."""
    return encoder.encode(prompts[:200])


def _gateway_logs(n: int) -> list[str]:
    """A different task family: error lines of a service log, as if a client sent its logs."""
    rng = random.Random(5)
    return [
        f"2026-11-{rng.randint(10, 28)} 12:{rng.randint(10, 59)}:0{rng.randint(0, 9)} ERROR "
        f"worker-{rng.randint(1, 9)} connection reset by peer (errno {rng.randint(100, 120)}) "
        f"retry {rng.randint(1, 5)}/5"
        for _ in range(n)
    ]


def _gibberish(n: int) -> list[str]:
    rng = random.Random(6)
    letters = "bcdfghjklmnpqrstvwxz0123456789"
    return [
        " ".join(
            "".join(rng.choice(letters) for _ in range(rng.randint(3, 9)))
            for _ in range(rng.randint(8, 30))
        )
        for _ in range(n)
    ]


def test_prompts_like_the_training_ones_are_not_flagged(encoder, prompts, reference) -> None:
    drift = measure_drift(encoder.encode(prompts[200:260]), reference)
    assert (drift.n_new, drift.n_reference) == (60, 200)
    assert drift.threshold == drift_threshold(60, 200) > DRIFT_SHIFT
    assert drift.shift < drift.threshold
    assert not drift.flagged


@pytest.mark.parametrize("make", [_gateway_logs, _gibberish], ids=["service-logs", "gibberish"])
def test_a_shifted_batch_is_flagged(encoder, reference, make) -> None:
    drift = measure_drift(encoder.encode(make(40)), reference)
    assert drift.flagged
    assert drift.shift > drift.threshold > DRIFT_SHIFT
    assert drift.new_quantiles["p50"] < drift.reference_quantiles["p50"]


def test_a_partly_shifted_batch_is_flagged_from_a_third_on(encoder, prompts, reference) -> None:
    same = encoder.encode(prompts[200:300])
    shifted = encoder.encode(_gateway_logs(60))
    mild = measure_drift(np.vstack([same[:90], shifted[:10]]), reference)
    strong = measure_drift(np.vstack([same[:60], shifted[:40]]), reference)
    assert not mild.flagged
    assert strong.flagged


def test_the_threshold_is_the_critical_value_until_samples_are_large() -> None:
    assert drift_threshold(20, 200) == pytest.approx(0.3559, abs=1e-4)  # sqrt(ln 100 / 2 * 0.055)
    assert drift_threshold(10, 200) > drift_threshold(20, 200) > drift_threshold(60, 200)
    assert drift_threshold(3000, 5000) == DRIFT_SHIFT


def test_a_small_batch_of_similar_prompts_is_not_flagged(encoder, prompts, reference) -> None:
    assert not measure_drift(encoder.encode(prompts[260:268]), reference).flagged


def test_nothing_to_compare_is_none(reference) -> None:
    assert measure_drift(reference[:0], reference) is None
    assert measure_drift(reference, reference[:1]) is None


def test_nearest_similarity_skips_the_row_itself(reference) -> None:
    rows = np.arange(len(reference))
    assert np.allclose(nearest_similarity(reference, reference), 1.0, atol=1e-5)
    within = nearest_similarity(reference, reference, skip=rows)
    assert (within < 0.9999).all()


def test_farther_shift_is_the_one_sided_ks_statistic() -> None:
    reference = np.linspace(0.0, 1.0, 101)
    assert farther_shift(reference, reference) == pytest.approx(0.0, abs=0.011)
    assert farther_shift(reference - 0.3, reference) == pytest.approx(0.3, abs=0.011)
    assert farther_shift(reference + 0.3, reference) == pytest.approx(0.0, abs=0.011)
