"""How fast training embeds prompts: sentence-transformers fp32 against its fp32 ONNX export::

    HF_HUB_OFFLINE=1 .venv/bin/python training/experiments/training_embedding_speed.py LOG [N]

``router-ml train`` exports the encoder first and embeds with the export
(:func:`~router_ml.embedding.onnx_encoder.exported_encoder`). This times both on ``N`` (default
400) distinct prompts of LOG (any log ``router-ml train`` reads) drawn at random, in one
process, each after a warm-up, and prints prompts/s, their ratio, the lowest cosine between the
two, and the time each would take for all of LOG's distinct prompts (a cold embedding cache).
"""

from __future__ import annotations

import sys
import time

import numpy as np

from router_ml.data.evallog import read_log
from router_ml.embedding.encoder import Encoder
from router_ml.embedding.onnx_encoder import exported_encoder


def rate(encode, texts: list[str]) -> tuple[float, np.ndarray]:
    """Prompts/s of ``encode`` over ``texts`` after a warm-up call, and the vectors."""
    encode(texts[:8])
    started = time.perf_counter()
    vectors = encode(texts)
    return len(texts) / (time.perf_counter() - started), vectors


def main(log: str, n: int = 400) -> None:
    prompts = list(dict.fromkeys(outcome.prompt for outcome in read_log(log)))
    sample = [prompts[i] for i in np.random.default_rng(0).permutation(len(prompts))[:n]]
    print(
        f"{len(prompts)} distinct prompts; {n} drawn, mean {np.mean([len(p) for p in sample]):.0f} chars"
    )
    encoder = Encoder()
    with exported_encoder(encoder) as export:
        onnx_rate, onnx_vectors = rate(export.encode, sample)
    torch_rate, torch_vectors = rate(encoder.encode, sample)
    cosine = (onnx_vectors * torch_vectors).sum(axis=1).min()
    print(
        f"ONNX fp32 {onnx_rate:.1f} prompts/s, sentence-transformers {torch_rate:.1f} prompts/s, "
        f"ratio {onnx_rate / torch_rate:.2f}, lowest cosine {cosine:.6f}"
    )
    print(
        f"all {len(prompts)} prompts: ONNX {len(prompts) / onnx_rate / 60:.1f} min, "
        f"sentence-transformers {len(prompts) / torch_rate / 60:.1f} min"
    )


if __name__ == "__main__":
    main(sys.argv[1], *(int(a) for a in sys.argv[2:]))
