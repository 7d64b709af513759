"""The ONNX backend against sentence-transformers on real prompts, and serving without torch."""

from __future__ import annotations

import filecmp
import itertools
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from router_ml import Router
from router_ml.embedding.backends import load_encoder
from router_ml.embedding.encoder import Encoder
from router_ml.embedding.onnx_encoder import (
    OnnxEncoder,
    _batches,
    _export_graph,
    _fuse,
    _head,
    copy_export,
    exported_encoder,
)
from router_ml.errors import ArtifactError, ConfigError


@pytest.fixture(scope="module")
def onnx_router(trained_registry: Path) -> Router:
    return Router.load(trained_registry, backend="onnx")


@pytest.fixture(scope="module")
def prompts(sample_rows: list[dict]) -> list[str]:
    return list(dict.fromkeys(r["prompt"] for r in sample_rows))


def test_onnx_embeddings_match_sentence_transformers(onnx_router, encoder, prompts):
    long_prompt = " ".join(prompts) * 3
    texts = [*prompts, long_prompt]
    cosine = (onnx_router.embed(texts) * encoder.encode(texts)).sum(axis=1)
    assert cosine.min() >= 0.99


def test_training_embeds_with_an_export_that_matches_and_is_copied_whole(
    encoder, prompts, tmp_path
):
    with exported_encoder(encoder) as export:
        scratch = export.folder
        cosine = (export.encode(prompts) * encoder.encode(prompts)).sum(axis=1)
        spec = copy_export(export, tmp_path)
        names = [spec.file, spec.int8_file, spec.tokenizer]
        assert all(filecmp.cmp(scratch / n, tmp_path / n, shallow=False) for n in names)
    assert cosine.min() >= 0.9999
    assert not scratch.exists()


def test_onnx_decisions_match_torch(onnx_router, router, prompts):
    onnx = [d.model for d in onnx_router.route_many(prompts)]
    torch = [d.model for d in router.route_many(prompts)]
    assert np.mean([a == b for a, b in zip(onnx, torch, strict=True)]) >= 0.99


def test_token_budget_batches_keep_order_and_values(onnx_router, prompts):
    texts = [*prompts[:12], " ".join(prompts) * 3, "short"]
    encoder = onnx_router.encoder
    one_at_a_time = np.vstack([encoder.encode([t]) for t in texts])
    budgeted = OnnxEncoder(
        encoder.folder, encoder.spec, encoder.identity, batch_size=4, max_batch_tokens=300
    )
    assert np.abs(budgeted.encode(texts) - one_at_a_time).max() < 1e-4


def test_batches_stay_within_rows_and_tokens():
    lengths = np.array([3, 5, 5, 9, 40, 100, 256])
    batches = _batches(lengths, batch_size=2, max_tokens=128, call_overhead=8)
    assert [(b.start, b.stop) for b in batches] == [(0, 2), (2, 4), (4, 5), (5, 6), (6, 7)]


def _cuts(lengths: list[int], call_overhead: int) -> list[tuple[int, int]]:
    return [(b.start, b.stop) for b in _batches(np.array(lengths), 32, 1024, call_overhead)]


def test_batches_split_where_padding_costs_more_than_a_call():
    lengths = [11, 12, 12, 13, 40, 44, 46]
    # one slice pads 7 x 46 = 322 tokens; two pad 4 x 13 + 3 x 46 = 190, for one more call
    assert _cuts(lengths, call_overhead=8) == [(0, 4), (4, 7)]
    # one slice costs 322 + o, two 190 + 2o: the cut goes once a call costs over 132 tokens
    assert _cuts(lengths, call_overhead=131) == [(0, 4), (4, 7)]
    assert _cuts(lengths, call_overhead=133) == [(0, 7)]
    # equal lengths are never split, even when a call costs nothing
    assert _cuts([20] * 9, call_overhead=0) == [(0, 9)]


def _brute_force_cost(lengths: list[int], call_overhead: int) -> int:
    """The cheapest split over every way of cutting the sorted rows (no row or token limits)."""
    best = None
    for mask in range(1 << (len(lengths) - 1)):
        bounds = [0, *(i + 1 for i in range(len(lengths) - 1) if mask >> i & 1), len(lengths)]
        cost = sum(call_overhead + (b - a) * lengths[b - 1] for a, b in itertools.pairwise(bounds))
        best = cost if best is None else min(best, cost)
    return best


def test_batches_are_the_cheapest_split():
    rng = np.random.default_rng(0)
    for _ in range(200):
        lengths = sorted(rng.integers(5, 120, size=int(rng.integers(1, 9))).tolist())
        overhead = int(rng.integers(0, 60))
        cuts = _cuts(lengths, overhead)
        cost = sum(overhead + (b - a) * lengths[b - 1] for a, b in cuts)
        assert cost == _brute_force_cost(lengths, overhead), (lengths, overhead, cuts)


def test_version_files_hold_the_onnx_exports(onnx_router):
    recorded = onnx_router.manifest["encoder"]["onnx"]
    files = json.loads((onnx_router.folder / "manifest.json").read_text())["files"]
    assert {recorded["file"], recorded["int8_file"], recorded["tokenizer"]} <= set(files)


def test_bert_encoders_are_exported_fused(onnx_router):
    import onnx

    folder = onnx_router.folder
    recorded = onnx_router.manifest["encoder"]["onnx"]
    ops = {
        key: {node.op_type for node in onnx.load(folder / recorded[key]).graph.node}
        for key in ("file", "int8_file")
    }
    assert recorded["fused"] is True
    assert {"Attention", "SkipLayerNormalization", "BiasGelu"} <= ops["file"]
    assert {"QAttention", "MatMulInteger"} <= ops["int8_file"]


def test_fusion_is_refused_when_its_output_differs(encoder, tmp_path, caplog):
    """Fused kernels round differently (not bit-exact): a zero tolerance refuses the fusion."""
    config = encoder.model[0].auto_model.config
    exported, fused = tmp_path / "exported.onnx", tmp_path / "fused.onnx"
    feeds = _export_graph(encoder.model, tuple(encoder.model.tokenizer.model_input_names), exported)
    assert config._attn_implementation != "eager", "the model's own attention is restored"
    assert _fuse(exported, fused, config, feeds, tolerance=0.0) is False and not fused.exists()
    other = config.__class__(**{**config.to_dict(), "model_type": "mpnet"})
    assert _fuse(exported, fused, other, feeds) is False and not fused.exists()
    assert _fuse(exported, fused, config, feeds) is True and fused.exists()
    assert "differs by" in caplog.text


def test_int8_export_is_close_to_sentence_transformers(trained_registry, encoder, prompts):
    int8 = Router.load(trained_registry, backend="onnx-int8")
    assert int8.encoder.spec.file == int8.manifest["encoder"]["onnx"]["int8_file"]
    cosine = (int8.embed(prompts) * encoder.encode(prompts)).sum(axis=1)
    assert 0.97 <= cosine.min() < 0.9999


def test_version_without_int8_is_refused_by_the_int8_backend(onnx_router):
    recorded = dict(onnx_router.manifest["encoder"])
    recorded["onnx"] = {k: v for k, v in recorded["onnx"].items() if k != "int8_file"}
    with pytest.raises(ArtifactError, match="no int8 ONNX encoder"):
        load_encoder("onnx-int8", onnx_router.folder, recorded)


def test_unknown_backend_lists_the_choices(onnx_router):
    with pytest.raises(ConfigError, match="onnx, onnx-int8, torch"):
        load_encoder("tensorrt", onnx_router.folder, onnx_router.manifest["encoder"])


def test_version_without_onnx_is_refused_by_the_onnx_backend(onnx_router):
    recorded = {k: v for k, v in onnx_router.manifest["encoder"].items() if k != "onnx"}
    with pytest.raises(ArtifactError, match="no ONNX encoder"):
        load_encoder("onnx", onnx_router.folder, recorded)
    assert isinstance(load_encoder("auto", onnx_router.folder, recorded), Encoder)
    assert isinstance(
        load_encoder("auto", onnx_router.folder, onnx_router.manifest["encoder"]), OnnxEncoder
    )


@pytest.mark.slow
def test_serving_with_onnx_never_imports_torch_or_scikit_learn(trained_registry):
    script = textwrap.dedent(
        f"""
        import sys
        import grpc
        from router_ml.serving import create_server
        from router_ml.serving.config import ServerConfig
        from router_ml.v1 import router_pb2, router_pb2_grpc

        config = ServerConfig(model={str(trained_registry)!r}, port=0, metrics_port=0)
        server, port = create_server(config)
        server.start()
        assert server.wait_until_ready(120)
        with grpc.insecure_channel(f"127.0.0.1:{{port}}") as channel:
            reply = router_pb2_grpc.RouterStub(channel).Route(
                router_pb2.RouteRequest(prompt="What is 2 + 2?"), timeout=30
            )
        server.stop(0)
        heavy = ("torch", "sentence_transformers", "transformers", "sklearn", "scipy", "pandas")
        heavy = sorted(m for m in heavy if m in sys.modules)
        print(reply.model, heavy)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=180, check=True
    )
    assert done.stdout.strip().endswith("[]"), done.stdout


def test_long_prompts_are_tokenized_from_their_head_with_the_same_tokens(onnx_router, prompts):
    encoder = onnx_router.encoder
    english = "\n\n".join(prompts) * 20
    texts = [
        english,
        english.replace(" ", "\t"),
        "x" * 9000 + " " + english,  # no whitespace in the head: the whole text
        "a " + "y" * 9000,  # a head that does not fill max_seq_length: the whole text
        "北京是中国的首都。" * 2000,  # no whitespace at all
        "short prompt",
    ]
    whole = encoder.tokenizer.encode_batch(texts)
    assert [e.ids for e in encoder.tokenize(texts)] == [e.ids for e in whole]
    assert [len(e.ids) == encoder.spec.max_seq_length for e in whole] == [1, 1, 1, 0, 1, 0]
    assert len(_head(english, 4096)) <= 4096 and english.startswith(_head(english, 4096))
    assert _head("x" * 5000, 4096) == "x" * 5000
