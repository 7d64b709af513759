"""Held-out splits that never put the same prompt text on both sides."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Literal

import numpy as np

from router_ml.data.dataset import RoutingDataset

logger = logging.getLogger(__name__)

SplitMethod = Literal["split_column", "time", "text_hash"]
#: ``split`` values (read in lower case) that mark a held-out row.
TEST_SPLITS = frozenset({"test", "eval", "holdout"})
FALLBACKS = {"time": "time (the latest prompts)", "text_hash": "a hash of the prompt text"}


@dataclass(frozen=True)
class Split:
    """Row positions of the training and held-out sides, and how they were chosen."""

    train: np.ndarray
    test: np.ndarray
    method: SplitMethod
    dropped_overlap: int = 0


def prompt_hash(text: str) -> str:
    """Stable identity of a prompt text (sha256 of its UTF-8 bytes, hex)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _hash_fraction(texts: list[str], salt: str) -> np.ndarray:
    digests = (hashlib.sha256(f"{salt}\x00{t}".encode()).digest()[:8] for t in texts)
    return np.array([int.from_bytes(d, "big") / 2**64 for d in digests])


def text_hash_split(texts: list[str], fraction: float, salt: str) -> tuple[np.ndarray, np.ndarray]:
    """Assign each text to the held-out side with probability ``fraction``, by a salted hash.

    The same text always lands on the same side, and adding rows never moves existing ones.
    """
    held_out = _hash_fraction(texts, salt) < fraction
    return np.flatnonzero(~held_out), np.flatnonzero(held_out)


def _without_overlap(
    dataset: RoutingDataset, train: np.ndarray, test: np.ndarray, method: SplitMethod
) -> Split:
    test_texts = {dataset.prompts[i] for i in test}
    keep = np.array([dataset.prompts[i] not in test_texts for i in train], dtype=bool)
    return Split(train[keep], test, method, dropped_overlap=int((~keep).sum()))


def holdout_split(dataset: RoutingDataset, fraction: float = 0.2, seed: int = 0) -> Split:
    """Choose the held-out test split.

    In order of preference: the log's own ``split`` column (rows marked ``test``, ``eval`` or
    ``holdout``); the latest ``fraction`` of prompts by time when every prompt has a timestamp;
    else a salted hash of the prompt text. Training prompts whose text also occurs on the test
    side are dropped. A ``split`` column that marks no prompt, or every prompt, as test is
    ignored with a warning.
    """
    positions = np.arange(len(dataset))
    marked = np.array([s in TEST_SPLITS for s in dataset.splits], dtype=bool)
    if marked.any() and not marked.all():
        return _without_overlap(dataset, positions[~marked], positions[marked], "split_column")
    split = _fallback_split(dataset, fraction, seed)
    _warn_ignored(dataset.splits, bool(marked.any()), split.method)
    return split


def _warn_ignored(splits: list[str | None], all_test: bool, method: SplitMethod) -> None:
    """Warn, when the log has a ``split`` column, that it was ignored and what replaced it."""
    values = sorted({s for s in splits if s is not None})
    if values:
        logger.warning(
            "the log's split column (values: %s) marks %s prompt as test; it is ignored, and the "
            "held-out split is by %s",
            ", ".join(values),
            "every" if all_test else "no",
            FALLBACKS[method],
        )


def _fallback_split(dataset: RoutingDataset, fraction: float, seed: int) -> Split:
    """The latest ``fraction`` of prompts when every prompt has a time, else a text hash split."""
    if len(dataset) and not np.isnan(dataset.timestamps).any():
        order = np.argsort(dataset.timestamps, kind="stable")
        cut = round(len(order) * (1 - fraction))
        return _without_overlap(dataset, np.sort(order[:cut]), np.sort(order[cut:]), "time")
    train, test = text_hash_split(dataset.prompts, fraction, salt=f"test:{seed}")
    return Split(train, test, "text_hash")
