"""Encoder speed in one process: sentence-transformers fp32 against the ONNX graphs: exported
with the model's own SDPA attention (what versions held before the fused export), with eager
attention, and eager + onnxruntime's BERT fusions (what ``router-ml train`` writes now).

Usage (from the repository root)::

    HF_HUB_OFFLINE=1 .venv/bin/python training/experiments/encoder_graphs.py

Builds the graphs from the default encoder in a temporary folder, as ``router-ml train``
does, and times each on distinct short, medium and long prompts of the bundled log (the bench's
sizes): prompts/s in batches, median ms for one prompt, and cosine to sentence-transformers.
Then each ONNX graph encodes the same prompts alone in a fresh process, whose resident memory
after that (``rss``) is what the graph and onnxruntime's arena cost, with no server around it.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from router_ml.bench.run import BUNDLED, prompts_by_size, rss_mb
from router_ml.embedding.encoder import Encoder, EncoderIdentity
from router_ml.embedding.onnx_encoder import (
    OnnxEncoder,
    OnnxSpec,
    _export_graph,
    _fuse,
    _pooling,
    _quantize_int8,
)

THREADS = 2


@contextlib.contextmanager
def own_attention(transformer: Any) -> Iterator[None]:
    """Make ``_export_graph`` keep the model's attention (it switches to eager otherwise)."""
    cls = type(transformer)
    switch = cls.set_attn_implementation
    cls.set_attn_implementation = lambda self, name: None
    try:
        yield
    finally:
        cls.set_attn_implementation = switch


def graphs(encoder: Encoder, folder: Path) -> dict[str, str]:
    """Write the SDPA, eager and fused graphs, int8 of the first and last, and the tokenizer."""
    model = encoder.model
    inputs = tuple(model.tokenizer.model_input_names)
    model.tokenizer.backend_tokenizer.save(str(folder / "tokenizer.json"))
    with own_attention(model[0].auto_model):
        _export_graph(model, inputs, folder / "sdpa.onnx")
    feeds = _export_graph(model, inputs, folder / "eager.onnx")
    assert _fuse(folder / "eager.onnx", folder / "fused.onnx", model[0].auto_model.config, feeds)
    for name in ("sdpa", "fused"):
        _quantize_int8(folder / f"{name}.onnx", folder / f"{name}.int8.onnx")
    return {
        "fp32 sdpa (before)": "sdpa.onnx",
        "fp32 eager": "eager.onnx",
        "fp32 fused (now)": "fused.onnx",
        "int8 sdpa (before)": "sdpa.int8.onnx",
        "int8 fused (now)": "fused.int8.onnx",
    }


def timed(encode, texts: list[str]) -> tuple[float, float, np.ndarray]:
    """Prompts/s over ``texts`` (median of 3), median ms for one prompt, and the vectors."""
    encode(texts[:8])
    runs = []
    for _ in range(3):
        start = time.perf_counter()
        vectors = encode(texts)
        runs.append(time.perf_counter() - start)
    single = []
    for text in texts[:30]:
        start = time.perf_counter()
        encode([text])
        single.append(time.perf_counter() - start)
    return len(texts) / statistics.median(runs), 1000 * statistics.median(single), vectors


def resident_mb(
    folder: Path, spec: OnnxSpec, identity: EncoderIdentity, prompts: dict[str, list[str]]
) -> float:
    """RSS (MB) of this process after the graph ``spec`` embedded every prompt; run it in a fresh
    process."""
    graph = OnnxEncoder(folder, spec, identity, threads=THREADS)
    for texts in prompts.values():
        graph.encode(texts)
    return rss_mb(os.getpid())


def main() -> None:
    encoder = Encoder()
    prompts = prompts_by_size(BUNDLED, 96)
    print(f"{'encoder':20s} " + "  ".join(f"{size:>32s}" for size in prompts))
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        spec = OnnxSpec(
            "",
            "tokenizer.json",
            tuple(encoder.model.tokenizer.model_input_names),
            _pooling(encoder.model),
            int(encoder.model.max_seq_length),
            encoder.dimension,
        )
        candidates = {"sentence-transformers": encoder.encode}
        onnx = {
            name: OnnxEncoder(
                folder,
                OnnxSpec(**{**spec.__dict__, "file": file}),
                encoder.identity,
                threads=THREADS,
            )
            for name, file in graphs(encoder, folder).items()
        }
        candidates |= {name: graph.encode for name, graph in onnx.items()}
        reference = {size: encoder.encode(texts) for size, texts in prompts.items()}
        for name, encode in candidates.items():
            cells = []
            for size, texts in prompts.items():
                rate, single, vectors = timed(encode, texts)
                cosine = (vectors * reference[size]).sum(axis=1).min()
                cells.append(f"{rate:5.0f}/s {single:5.1f} ms min cos {cosine:.4f}")
            print(f"{name:20s} " + "  ".join(cells), flush=True)
        spawn = multiprocessing.get_context("spawn")
        for name, graph in onnx.items():
            with spawn.Pool(1) as alone:
                rss = alone.apply(resident_mb, (folder, graph.spec, encoder.identity, prompts))
            print(f"{name:20s} rss {rss:.0f} MB", flush=True)


if __name__ == "__main__":
    main()
