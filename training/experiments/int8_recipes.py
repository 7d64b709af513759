"""Can a partly quantized or statically calibrated int8 encoder give the fp32 decisions?

Usage (from the repository root; REGISTRY trained by ``router-ml train``, LOG its held-out
prompts)::

    HF_HUB_OFFLINE=1 .venv/bin/python training/experiments/int8_recipes.py REGISTRY LOG CATALOG

``router-ml train`` quantizes every MatMul and fused Attention dynamically (94% identical
decisions). Each recipe here quantizes the version's fp32 graph again, into a temporary folder:
fewer operator kinds, or static activation scales calibrated on 200 training prompts of the
bundled log (batch-independent, unlike dynamic scales). Printed per recipe: file size, cosine to
the fp32 export, the share of identical chosen models at the default knob with the version's
heads, and speed on the bench's short prompts (prompts/s in batches, ms for one prompt).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnx
from encoder_graphs import THREADS, timed
from onnxruntime.quantization import (
    CalibrationDataReader,
    QuantFormat,
    QuantType,
    quantize_dynamic,
    quantize_static,
)
from onnxruntime.quantization.shape_inference import quant_pre_process
from serving_precision import chosen

from router_ml.bench.run import BUNDLED, prompts_by_size
from router_ml.data.catalog import load_catalog
from router_ml.data.dataset import build_dataset
from router_ml.data.evallog import read_log, read_logs
from router_ml.embedding.onnx_encoder import OnnxEncoder, _padded
from router_ml.routing.router import Router

CALIBRATION_PROMPTS = 200
FLOAT_OUTPUTS = {"DefaultTensorType": onnx.TensorProto.FLOAT}


def matmuls(graph: Path, keep: Callable[[str], bool]) -> list[str]:
    """Names of the graph's MatMul nodes for which ``keep`` is false (to exclude)."""
    nodes = onnx.load(str(graph)).graph.node
    return [n.name for n in nodes if n.op_type == "MatMul" and not keep(n.name)]


Recipe = Callable[[Path, Path, OnnxEncoder], None]


def dynamic(ops: list[str], only: Callable[[str], bool] = lambda name: True) -> Recipe:
    """Dynamic int8 of the ``ops`` kinds, MatMuls only where ``only`` holds for their name."""

    def write(source: Path, target: Path, encoder: OnnxEncoder) -> None:
        quantize_dynamic(
            source,
            target,
            op_types_to_quantize=ops,
            nodes_to_exclude=matmuls(source, only),
            per_channel=True,
            weight_type=QuantType.QInt8,
            extra_options=FLOAT_OUTPUTS,
        )

    return write


class Calibration(CalibrationDataReader):
    """One tokenized prompt per call, as the graph's feeds."""

    def __init__(self, encoder: OnnxEncoder, prompts: list[str]) -> None:
        self.feeds: Iterator[dict[str, np.ndarray]] = (
            {
                name: _padded(encoder.tokenizer.encode_batch([p]))[name]
                for name in encoder.spec.inputs
            }
            for p in prompts
        )

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self.feeds, None)


def static(source: Path, target: Path, encoder: OnnxEncoder) -> None:
    """Static QDQ int8 of every MatMul, activation scales from the calibration prompts."""
    train = list(dict.fromkeys(o.prompt for o in read_log(BUNDLED) if o.split == "train"))
    rng = np.random.default_rng(0)
    prompts = [train[i] for i in rng.permutation(len(train))[:CALIBRATION_PROMPTS]]
    shaped = target.with_suffix(".shaped.onnx")
    quant_pre_process(str(source), str(shaped), skip_optimization=True)
    quantize_static(
        str(shaped),
        str(target),
        Calibration(encoder, prompts),
        quant_format=QuantFormat.QDQ,
        op_types_to_quantize=["MatMul"],
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        extra_options=FLOAT_OUTPUTS,
    )


RECIPES: dict[str, Recipe] = {
    "MatMul + Attention (kept)": dynamic(["MatMul", "Attention"]),
    "MatMul only": dynamic(["MatMul"]),
    "Attention only": dynamic(["Attention"]),
    "FFN input MatMuls only": dynamic(["MatMul"], lambda name: "intermediate" in name),
    "static, every MatMul": static,
}


def main(registry: str, log: str, catalog: str) -> None:
    router = Router.load(registry, backend="onnx")
    fp32 = router.encoder
    dataset = build_dataset(read_logs([Path(log)]), load_catalog(Path(catalog)), router.cost_rule)
    X = fp32.encode(dataset.prompts)
    costs = router.estimate_costs(dataset.prompts)
    expected = chosen(router, X, costs)
    short = prompts_by_size(BUNDLED, 96)["short"]
    rate, single, _ = timed(fp32.encode, short)
    print(f"{'fp32 (the export)':28s} {rate:5.0f} short/s {single:5.1f} ms", flush=True)
    for name, write in RECIPES.items():
        with tempfile.TemporaryDirectory() as scratch:
            folder = Path(scratch)
            shutil.copy(fp32.folder / fp32.spec.tokenizer, folder / fp32.spec.tokenizer)
            spec = replace(fp32.spec, file=fp32.spec.int8_file)
            write(fp32.folder / fp32.spec.file, folder / spec.file, fp32)
            graph = OnnxEncoder(folder, spec, fp32.identity, threads=THREADS)
            Xq = graph.encode(dataset.prompts)
            same = np.mean(
                [a == b for a, b in zip(expected, chosen(router, Xq, costs), strict=True)]
            )
            cosine = (X * Xq).sum(axis=1)
            rate, single, _ = timed(graph.encode, short)
            size = (folder / spec.file).stat().st_size / 1e6
            print(
                f"{name:28s} {rate:5.0f} short/s {single:5.1f} ms  {size:3.0f} MB  cosine min "
                f"{cosine.min():.4f} mean {cosine.mean():.4f}  identical {same:.3f}",
                flush=True,
            )


if __name__ == "__main__":
    main(*sys.argv[1:])
