"""Embedding up to 512 tokens of a prompt instead of 256::

    HF_HUB_OFFLINE=1 .venv/bin/python training/experiments/max_seq_length.py

all-MiniLM-L6-v2 was trained at 256 tokens but has 512 positions. Prompts of at most 256 tokens
embed the same either way, so only the longer ones are re-embedded (with the fp32 ONNX export,
cosine 1.0000 to sentence-transformers; cached under the 512-token encoder's key). The default
heads, utility policy and Platt calibration are fitted on each variant.
"""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
from harness import THRESHOLD, Split, figures_with, fmt, inner_split, load_split

from router_ml.embedding.cache import EmbeddingCache, default_cache_dir, embed_prompts
from router_ml.embedding.encoder import Encoder
from router_ml.embedding.onnx_encoder import OnnxEncoder, export_onnx
from router_ml.routing.heads import PassProbabilityModel
from router_ml.routing.policy import Policy

LONGER = 512


def lengthened(split: Split, encoder: OnnxEncoder, cache: EmbeddingCache) -> Split:
    """``split`` with the prompts over the model's usual length re-embedded at ``LONGER``."""
    tokenizer = encoder.tokenizer
    X = []
    for prompts, rows in ((split.train.prompts, split.X_train), (split.test.prompts, split.X_test)):
        tokenizer.no_truncation()
        long = [i for i, e in enumerate(tokenizer.encode_batch(prompts)) if len(e.ids) > 256]
        tokenizer.enable_truncation(max_length=LONGER)
        rows = rows.copy()
        if long:
            rows[long], _ = embed_prompts(
                [prompts[i] for i in long], encoder, cache, show_progress_bar=True
            )
        print(f"  {len(long)} of {len(prompts)} prompts over 256 tokens", flush=True)
        X.append(rows)
    return replace(split, X_train=X[0], X_test=X[1])


def evaluate(name: str, variant: str, evaluation: Split) -> None:
    for side, split in (("val", inner_split(evaluation)), ("test", evaluation)):
        policy = Policy("utility", float(np.median(split.train.costs.max(axis=1))))
        model = PassProbabilityModel().fit(
            split.X_train, split.train.passes(THRESHOLD), split.train.scores
        )
        proba, expected = model.predict_proba_and_score(split.X_test)
        figures = figures_with(proba, split.test, policy, expected)
        print(f"{name:13s} {side:4s} {variant:10s} {fmt(figures)}", flush=True)


def main() -> None:
    encoder = Encoder()
    longer_key = Encoder(max_seq_length=LONGER).identity.cache_key
    cache = EmbeddingCache(default_cache_dir(), longer_key)
    with tempfile.TemporaryDirectory() as scratch:
        spec = export_onnx(encoder, Path(scratch))
        onnx = OnnxEncoder(Path(scratch), replace(spec, max_seq_length=LONGER), encoder.identity)
        for name in ("llmrouter_dc", "mmlu_pro"):
            split = load_split(name, encoder)
            evaluate(name, "256", split)
            evaluate(name, str(LONGER), lengthened(split, onnx, cache))


if __name__ == "__main__":
    main()
