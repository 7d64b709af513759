"""Small numpy helpers shared by several layers (labels, policies)."""

from __future__ import annotations

import numpy as np


def lexicographic_order(*keys: np.ndarray) -> np.ndarray:
    """Each row's columns sorted by ``keys[0]``, ties broken by ``keys[1]`` and so on, then column."""
    n_rows, n_cols = keys[0].shape
    columns = np.broadcast_to(np.arange(n_cols), (n_rows, n_cols))
    return np.lexsort([columns, *reversed(keys)], axis=-1)


def lexicographic_argmin(*keys: np.ndarray) -> np.ndarray:
    """Row-wise argmin over columns by ``keys[0]``, ties broken by ``keys[1]`` and so on, then column."""
    return lexicographic_order(*keys)[:, 0]
