"""The on-disk embedding cache with the real encoder: a second embed embeds nothing."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from router_ml.embedding.cache import EmbeddingCache, default_cache_dir, embed_prompts
from router_ml.embedding.encoder import Encoder


class Spy:
    """Wraps ``Encoder.encode`` and records the texts of every call."""

    def __init__(self, encoder: Encoder) -> None:
        self.encode, self.calls = encoder.encode, []

    def __call__(self, texts: list[str], **kwargs: object) -> np.ndarray:
        self.calls.append(list(texts))
        return self.encode(texts, **kwargs)


@pytest.fixture
def spy(encoder: Encoder, monkeypatch: pytest.MonkeyPatch) -> Spy:
    wrapper = Spy(encoder)
    monkeypatch.setattr(encoder, "encode", wrapper)
    return wrapper


@pytest.fixture(scope="module")
def prompts(sample_rows: list[dict]) -> list[str]:
    """Five distinct real prompts, shortest first."""
    return sorted(dict.fromkeys(r["prompt"] for r in sample_rows), key=len)[:5]


def _cache(root: Path, encoder: Encoder) -> EmbeddingCache:
    return EmbeddingCache(root, encoder.identity.cache_key)


def test_second_embed_embeds_nothing(
    tmp_path: Path, encoder: Encoder, spy: Spy, prompts: list[str]
) -> None:
    first, newly = embed_prompts(prompts, encoder, _cache(tmp_path, encoder))
    assert newly == len(prompts) and spy.calls == [prompts]
    again, newly = embed_prompts(prompts, encoder, _cache(tmp_path, encoder))
    assert newly == 0 and len(spy.calls) == 1
    np.testing.assert_array_equal(again, first)


def test_cached_vectors_are_the_encoders(
    tmp_path: Path, encoder: Encoder, prompts: list[str]
) -> None:
    embed_prompts(prompts, encoder, _cache(tmp_path, encoder))
    cached, _ = embed_prompts(prompts, encoder, _cache(tmp_path, encoder))
    np.testing.assert_allclose(cached, encoder.encode(prompts), atol=1e-6)
    assert cached.shape == (len(prompts), encoder.dimension)


def test_only_new_prompts_are_embedded(
    tmp_path: Path, encoder: Encoder, spy: Spy, prompts: list[str]
) -> None:
    embed_prompts(prompts[:3], encoder, _cache(tmp_path, encoder))
    batch = [prompts[4], *prompts[:3], prompts[3], prompts[4]]
    vectors, newly = embed_prompts(batch, encoder, _cache(tmp_path, encoder))
    assert newly == 2
    assert spy.calls[-1] == [prompts[4], prompts[3]]
    assert vectors.shape == (len(batch), encoder.dimension)
    np.testing.assert_array_equal(vectors[0], vectors[-1])


def test_other_max_seq_length_has_its_own_key(
    tmp_path: Path, encoder: Encoder, sample_rows: list[dict]
) -> None:
    long_prompt = max((r["prompt"] for r in sample_rows), key=len)
    short = Encoder(max_seq_length=32)
    assert short.identity.cache_key != encoder.identity.cache_key
    embed_prompts([long_prompt], encoder, _cache(tmp_path, encoder))
    truncated, newly = embed_prompts([long_prompt], short, _cache(tmp_path, short))
    assert newly == 1
    assert not np.allclose(truncated, encoder.encode([long_prompt]), atol=1e-3)


def _valid_chunk(folder: Path) -> bytes:
    return next(folder.glob("*.npz")).read_bytes()


@pytest.mark.parametrize(
    "corrupt",
    [
        pytest.param(lambda good: good[: len(good) // 2], id="truncated"),
        pytest.param(lambda good: b"", id="empty"),
        pytest.param(lambda good: b"not an npz file at all", id="garbage"),
    ],
)
def test_corrupt_chunk_is_ignored_with_a_warning(
    tmp_path: Path,
    encoder: Encoder,
    prompts: list[str],
    caplog: pytest.LogCaptureFixture,
    corrupt,
) -> None:
    cache = _cache(tmp_path, encoder)
    embed_prompts(prompts[:2], encoder, cache)
    (cache.folder / "corrupt.npz").write_bytes(corrupt(_valid_chunk(cache.folder)))
    with caplog.at_level(logging.WARNING, logger="router_ml.embedding.cache"):
        _, newly = embed_prompts(prompts[:3], encoder, _cache(tmp_path, encoder))
    assert newly == 1
    assert "corrupt.npz" in caplog.text and "ignoring" in caplog.text


def test_default_cache_dir_follows_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROUTER_ML_CACHE", str(tmp_path / "explicit"))
    assert default_cache_dir() == tmp_path / "explicit"
    monkeypatch.delenv("ROUTER_ML_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "router-ml"
