"""Embed the head and the tail of long prompts instead of the head alone (not kept)::

    HF_HUB_OFFLINE=1 .venv/bin/python training/experiments/head_tail.py llmrouter_dc mmlu_pro

Prompts over 1,000 characters (about the encoder's 256 tokens) are embedded as their first 300
and last 700 characters; shorter ones are unchanged (and come from the cache).
"""

from __future__ import annotations

import sys

import numpy as np
from harness import Split, figures_with, fmt, inner_split, load_split

from router_ml.embedding.cache import EmbeddingCache, default_cache_dir, embed_prompts
from router_ml.embedding.encoder import Encoder
from router_ml.routing.heads import PassProbabilityModel
from router_ml.routing.policy import Policy

HEAD, TAIL, LIMIT = 300, 700, 1000


def head_tail(prompt: str) -> str:
    return prompt if len(prompt) <= LIMIT else prompt[:HEAD] + " ... " + prompt[-TAIL:]


def score(split: Split) -> list[dict[str, float | None]]:
    results = []
    for side in (inner_split(split), split):
        policy = Policy("utility", float(np.median(side.train.costs.max(axis=1))))
        proba = (
            PassProbabilityModel()
            .fit(side.X_train, side.train.passes(1.0))
            .predict_proba(side.X_test)
        )
        results.append(figures_with(proba, side.test, policy))
    return results


def main(names: list[str]) -> None:
    encoder = Encoder()
    cache = EmbeddingCache(default_cache_dir(), encoder.identity.cache_key)
    for name in names:
        split = load_split(name, encoder)
        X_train, _ = embed_prompts([head_tail(p) for p in split.train.prompts], encoder, cache)
        X_test, _ = embed_prompts([head_tail(p) for p in split.test.prompts], encoder, cache)
        variants = {
            "head only": split,
            "head+tail": Split(name, split.train, split.test, X_train, X_test),
        }
        for label, variant in variants.items():
            validation, test = score(variant)
            print(f"{name:13s} {label:10s} val {fmt(validation)} | test {fmt(test)}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
