"""Held-out splits that never put the same prompt text on both sides."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

import numpy as np

from router_ml.data.dataset import RoutingDataset

SplitMethod = Literal["split_column", "time", "text_hash"]


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

    In order of preference: the log's own ``split`` column (rows marked ``test``); the latest
    ``fraction`` of prompts by time when every prompt has a timestamp; else a salted hash of the
    prompt text. Training prompts whose text also occurs on the test side are dropped.
    """
    positions = np.arange(len(dataset))
    marked = np.array([s == "test" for s in dataset.splits], dtype=bool)
    if marked.any() and not marked.all():
        return _without_overlap(dataset, positions[~marked], positions[marked], "split_column")
    if len(dataset) and not np.isnan(dataset.timestamps).any():
        order = np.argsort(dataset.timestamps, kind="stable")
        cut = round(len(order) * (1 - fraction))
        return _without_overlap(dataset, np.sort(order[:cut]), np.sort(order[cut:]), "time")
    train, test = text_hash_split(dataset.prompts, fraction, salt=f"test:{seed}")
    return Split(train, test, "text_hash")
