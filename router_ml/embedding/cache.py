"""On-disk embedding cache keyed by encoder identity and prompt hash.

Each encoder has its own folder of append-only ``.npz`` chunks (written to a temporary name and
renamed into place), so concurrent or interrupted runs never leave a corrupt cache behind.
"""

from __future__ import annotations

import logging
import os
import tempfile
import uuid
import zipfile
from pathlib import Path

import numpy as np

from router_ml.data.splits import prompt_hash
from router_ml.embedding.encoder import Encoder

logger = logging.getLogger(__name__)


def default_cache_dir() -> Path:
    """``$ROUTER_ML_CACHE``, else ``$XDG_CACHE_HOME/router-ml``, else ``~/.cache/router-ml``."""
    if "ROUTER_ML_CACHE" in os.environ:
        return Path(os.environ["ROUTER_ML_CACHE"])
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "router-ml"


class EmbeddingCache:
    """Embeddings of one encoder, stored under ``root/embeddings/<encoder key>/``."""

    def __init__(self, root: str | Path, encoder_key: str) -> None:
        self.folder = Path(root) / "embeddings" / encoder_key
        self._vectors: dict[str, np.ndarray] | None = None

    def _load(self) -> dict[str, np.ndarray]:
        if self._vectors is None:
            self._vectors = {}
            for chunk in sorted(self.folder.glob("*.npz")):
                try:
                    with chunk.open("rb") as handle, np.load(handle) as data:
                        self._vectors.update(
                            zip(data["hashes"].tolist(), data["vectors"], strict=True)
                        )
                except (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile) as exc:
                    logger.warning("ignoring unreadable embedding cache chunk %s: %s", chunk, exc)
        return self._vectors

    def get(self, hashes: list[str]) -> dict[str, np.ndarray]:
        """The cached vectors among ``hashes``."""
        vectors = self._load()
        return {h: vectors[h] for h in hashes if h in vectors}

    def put(self, hashes: list[str], vectors: np.ndarray) -> None:
        """Add vectors to the cache in one new chunk."""
        if not hashes:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=self.folder, suffix=".tmp", delete=False) as handle:
            np.savez(handle, hashes=np.array(hashes), vectors=vectors)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(handle.name, self.folder / f"{uuid.uuid4().hex}.npz")
        self._load().update(zip(hashes, vectors, strict=True))

    def __len__(self) -> int:
        return len(self._load())


def embed_prompts(
    prompts: list[str],
    encoder: Encoder,
    cache: EmbeddingCache | None = None,
    *,
    show_progress_bar: bool = False,
) -> tuple[np.ndarray, int]:
    """Embed prompts, reusing cached vectors; returns ``(embeddings, n_newly_embedded)``."""
    if not prompts:
        return np.zeros((0, encoder.dimension), dtype=np.float32), 0
    hashes = [prompt_hash(p) for p in prompts]
    found = cache.get(hashes) if cache is not None else {}
    missing = list(dict.fromkeys(h for h in hashes if h not in found))
    if missing:
        text_of = dict(zip(hashes, prompts, strict=True))
        fresh = encoder.encode([text_of[h] for h in missing], show_progress_bar=show_progress_bar)
        found.update(zip(missing, fresh, strict=True))
        if cache is not None:
            cache.put(missing, fresh)
    logger.info("embedded %d prompts, %d from the cache", len(missing), len(prompts) - len(missing))
    return np.stack([found[h] for h in hashes]).astype(np.float32), len(missing)
