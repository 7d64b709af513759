"""The encoder as an ONNX graph run by onnxruntime, with the ``tokenizers`` library: no torch.

:func:`export_onnx` writes, at training time, the sentence-transformers model's transformer as
ONNX (fp32) and its tokenizer into a version folder. :class:`OnnxEncoder`
embeds with them exactly as the sentence-transformers model does: its tokenizer truncated to
``max_seq_length``, the transformer, the model's pooling over the attention mask, L2 norm.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import numpy as np
from tqdm.auto import tqdm

from router_ml.embedding.encoder import Encoder, EncoderIdentity
from router_ml.errors import EncoderError

logger = logging.getLogger(__name__)

ONNX_FILE = "encoder.onnx"
INT8_FILE = "encoder.int8.onnx"
TOKENIZER_FILE = "tokenizer.json"
ONNX_OPSET = 17
MAX_BATCH_TOKENS = 1024
#: What one forward pass costs beyond its padded tokens, in padded tokens, by graph: measured on
#: 2 cores with MiniLM-L6, ~10 ms of CPU per call against ~0.35 ms per padded token (fp32; a
#: call reads all the weights) and ~2 ms against ~0.27 ms (int8).
CALL_OVERHEAD_TOKENS = {"fp32": 28, "int8": 8}
#: Characters of a long prompt's head tokenized per token kept (English runs ~4 per token).
HEAD_CHARS_PER_TOKEN = 16
FUSED_MODEL_TYPES = ("bert",)
FUSION_TOLERANCE = 1e-4
Pooling = Literal["mean", "cls"]


@dataclass(frozen=True)
class OnnxSpec:
    """What a version folder's ONNX encoder is; stored under the manifest's ``encoder.onnx``."""

    file: str
    tokenizer: str
    inputs: tuple[str, ...]
    pooling: Pooling
    max_seq_length: int
    dimension: int
    int8_file: str | None = None
    fused: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {**self.__dict__, "inputs": list(self.inputs)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> OnnxSpec:
        return cls(**{**data, "inputs": tuple(data["inputs"])})


def _onnxruntime() -> Any:
    try:
        import onnxruntime
    except ImportError as exc:
        raise EncoderError("the onnx backend needs onnxruntime: pip install onnxruntime") from exc
    return onnxruntime


def _pooling(model: Any) -> Pooling:
    config = model[1].get_config_dict()
    mode = config.get("pooling_mode")
    if mode is None:
        flags = [name for name, on in config.items() if name.startswith("pooling_mode_") and on]
        mode = {"pooling_mode_mean_tokens": "mean", "pooling_mode_cls_token": "cls"}.get(
            flags[0] if len(flags) == 1 else "", flags
        )
    if mode not in ("mean", "cls"):
        raise EncoderError(
            f"the onnx backend supports mean or CLS pooling only, this model has {mode}"
        )
    return mode


def _export_graph(model: Any, inputs: tuple[str, ...], path: Path) -> dict[str, np.ndarray]:
    """Export the transformer to ``path``; return the example inputs it was traced with.

    Attention is exported in its eager form, the pattern onnxruntime's fusions recognise; the
    default SDPA form is not fused, and long prompts encoded 14-15 against 17-20 per second
    once fused. The model's own setting is restored afterwards.
    """
    import torch

    transformer = model[0].auto_model.eval()

    class Hidden(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
            named = dict(zip(inputs, tensors, strict=True))
            return self.transformer(**named).last_hidden_state

    example = model.tokenizer(["an example prompt", "a second, longer example"], padding=True)
    tensors = tuple(torch.tensor(example[name]) for name in inputs)
    axes = {name: {0: "batch", 1: "tokens"} for name in (*inputs, "hidden")}
    attention = transformer.config._attn_implementation
    transformer.set_attn_implementation("eager")
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the exporter's deprecation and tracer notices
            torch.onnx.export(
                Hidden(),
                tensors,
                str(path),
                input_names=list(inputs),
                output_names=["hidden"],
                dynamic_axes=axes,
                opset_version=ONNX_OPSET,
                dynamo=False,
            )
    finally:
        transformer.set_attn_implementation(attention)
    return {name: np.asarray(example[name], dtype=np.int64) for name in inputs}


def _hidden(path: Path, feeds: dict[str, np.ndarray]) -> np.ndarray:
    session = _onnxruntime().InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, feeds)[0]


@contextlib.contextmanager
def _quiet_root_logger() -> Iterator[None]:
    """onnxruntime's quantizer and optimizer log advice on the root logger."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def _fuse(
    source: Path,
    target: Path,
    config: Any,
    feeds: dict[str, np.ndarray],
    tolerance: float = FUSION_TOLERANCE,
) -> bool:
    """Write ``source`` with onnxruntime's BERT fusions (attention, GELU, layer norms) to
    ``target``; True when fused, False (nothing written) for other architectures or when the
    fused graph's hidden states on ``feeds`` differ from the original's by more than
    ``tolerance``.

    Against eager attention alone it lowered an encoding process's RSS from 276 to 259 MB, at
    the same speed or better (``training/experiments/encoder_graphs.py``).
    """
    if config.model_type not in FUSED_MODEL_TYPES:
        return False
    from onnxruntime.transformers import optimizer

    with _quiet_root_logger():
        fused = optimizer.optimize_model(
            str(source),
            model_type="bert",
            num_heads=config.num_attention_heads,
            hidden_size=config.hidden_size,
            opt_level=0,
        )
    fused.save_model_to_file(str(target))
    difference = float(np.abs(_hidden(target, feeds) - _hidden(source, feeds)).max())
    if difference <= tolerance:
        return True
    target.unlink()
    logger.warning("the fused ONNX graph differs by %.2g; serving it unfused", difference)
    return False


def _quantize_int8(source: Path, target: Path) -> None:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with _quiet_root_logger():
        quantize_dynamic(
            source,
            target,
            op_types_to_quantize=["MatMul", "Attention"],
            per_channel=True,
            weight_type=QuantType.QInt8,
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},  # fused ops' outputs
        )


def export_onnx(encoder: Encoder, folder: Path) -> OnnxSpec:
    """Write ``encoder``'s transformer as fp32 and int8 ONNX, and its tokenizer, into ``folder``.

    Both are fused for BERT-type encoders (:func:`_fuse`). fp32 is the exact one (cosine 1.0000
    to sentence-transformers, the same decisions). int8 (dynamic, per-channel weights of the
    matrix products and attention; 58 MB against 90 MB) encoded 1.2-1.7x faster on this
    AVX2 machine but is not exact: cosine ~0.993, 93-94% identical decisions, savings moved by
    0.01-0.02 (README, "Serving performance"); serving uses it only when asked
    (``--backend onnx-int8``).

    Raises
    ------
    EncoderError
        When the model's pooling is neither mean nor CLS, or the export fails.
    """
    model = encoder.model
    inputs = tuple(model.tokenizer.model_input_names)
    pooling = _pooling(model)
    model.tokenizer.backend_tokenizer.save(str(folder / TOKENIZER_FILE))
    with tempfile.TemporaryDirectory() as scratch:
        exported, fused = Path(scratch) / "exported.onnx", Path(scratch) / "fused.onnx"
        quantized = Path(scratch) / "int8.onnx"
        try:
            feeds = _export_graph(model, inputs, exported)
            is_fused = _fuse(exported, fused, model[0].auto_model.config, feeds)
            graph = fused if is_fused else exported
            _quantize_int8(graph, quantized)
        except Exception as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise EncoderError(f"cannot export {encoder.name} to ONNX: {first}") from exc
        os.replace(graph, folder / ONNX_FILE)
        os.replace(quantized, folder / INT8_FILE)
    logger.info("exported %s to ONNX (fp32 and int8%s)", encoder.name, ", fused" * is_fused)
    return OnnxSpec(
        ONNX_FILE,
        TOKENIZER_FILE,
        inputs,
        pooling,
        int(model.max_seq_length),
        encoder.dimension,
        INT8_FILE,
        is_fused,
    )


@contextlib.contextmanager
def exported_encoder(encoder: Encoder) -> Iterator[OnnxEncoder]:
    """``encoder`` exported (:func:`export_onnx`) into a temporary folder, as the fp32
    :class:`OnnxEncoder` that training embeds with: the same vectors (cosine 1.0000) about twice
    as fast as sentence-transformers here, on 400 prompts of either shared data set. A version
    copies the folder's files (:func:`copy_export`) rather than exporting again."""
    with tempfile.TemporaryDirectory(prefix="router-ml-onnx-") as scratch:
        folder = Path(scratch)
        yield OnnxEncoder(folder, export_onnx(encoder, folder), encoder.identity)


def copy_export(export: OnnxEncoder, folder: Path) -> OnnxSpec:
    """Copy ``export``'s graphs and tokenizer into ``folder``; returns their spec."""
    spec = export.spec
    for name in (spec.file, spec.int8_file, spec.tokenizer):
        if name is not None:
            shutil.copyfile(export.folder / name, folder / name)
    return spec


class OnnxEncoder:
    """Embeds prompts with a version folder's ONNX encoder into L2-normalised vectors.

    Parameters
    ----------
    folder : the version folder holding the ONNX file and the tokenizer.
    spec : the manifest's description of them.
    identity : the sentence-transformers encoder they were exported from.
    threads : onnxruntime intra-op threads (None: onnxruntime's default, one per core).
    batch_size : most prompts per forward pass (prompts are sorted by length first).
    max_batch_tokens : most padded tokens (rows x longest row) per forward pass. It bounds what
        onnxruntime's memory arena grows to: measured int8, the default arena with 1,024 tokens
        kept 270 MB resident after batches of long prompts, 560 MB with 4,096, at the same
        throughput; without the arena, int8 encoded 25-30% fewer short prompts per second.
    """

    def __init__(
        self,
        folder: Path,
        spec: OnnxSpec,
        identity: EncoderIdentity,
        *,
        threads: int | None = None,
        batch_size: int = 32,
        max_batch_tokens: int = MAX_BATCH_TOKENS,
    ) -> None:
        self.folder = folder
        self.spec = spec
        self.identity = identity
        self.name = identity.name
        self.threads = threads
        self.batch_size = batch_size
        self.max_batch_tokens = max_batch_tokens

    @property
    def dimension(self) -> int:
        return self.spec.dimension

    @cached_property
    def tokenizer(self) -> Any:
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(self.folder / self.spec.tokenizer))
        tokenizer.enable_truncation(max_length=self.spec.max_seq_length)
        tokenizer.no_padding()
        return tokenizer

    @cached_property
    def session(self) -> Any:
        ort = _onnxruntime()
        options = ort.SessionOptions()
        options.inter_op_num_threads = 1
        if self.threads is not None:
            options.intra_op_num_threads = self.threads
        return ort.InferenceSession(
            str(self.folder / self.spec.file), options, providers=["CPUExecutionProvider"]
        )

    def _forward(self, encodings: list[Any]) -> np.ndarray:
        arrays = _padded(encodings)
        (hidden,) = self.session.run(None, {name: arrays[name] for name in self.spec.inputs})
        if self.spec.pooling == "cls":
            pooled = hidden[:, 0]
        else:
            mask = arrays["attention_mask"][:, :, None].astype(np.float32)
            pooled = (hidden * mask).sum(axis=1) / np.maximum(mask.sum(axis=1), 1e-9)
        return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)

    def tokenize(self, texts: list[str]) -> list[Any]:
        """Each text's tokens, truncated to ``max_seq_length``, from its head alone when that
        yields the same tokens: a 1 MB prompt took 1.5 s to tokenize whole, its head 2 ms.

        The head is cut at a whitespace (tokenizers split words there, so its tokens begin the
        text's) about ``HEAD_CHARS_PER_TOKEN`` characters per kept token in; it is used only when
        it already fills ``max_seq_length``, else the whole text is tokenized.
        """
        heads = [_head(t, self.spec.max_seq_length * HEAD_CHARS_PER_TOKEN) for t in texts]
        encodings = self.tokenizer.encode_batch(heads)
        for i, (text, head) in enumerate(zip(texts, heads, strict=True)):
            if head is not text and not encodings[i].overflowing:
                encodings[i] = self.tokenizer.encode(text)
        return encodings

    def encode(self, texts: list[str], *, show_progress_bar: bool = False) -> np.ndarray:
        """Embed ``texts`` as float32 rows of unit length, in order.

        Texts are tokenized once, sorted by length and run in batches of at most ``batch_size``
        rows and ``max_batch_tokens`` padded tokens, so little is spent on padding and a batch of
        long prompts cannot blow up the activations' memory.
        """
        encodings = self.tokenize(texts)
        lengths = np.array([len(e.ids) for e in encodings], dtype=np.int64)
        order = np.argsort(lengths, kind="stable")
        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        overhead = CALL_OVERHEAD_TOKENS["int8" if self.spec.file == self.spec.int8_file else "fp32"]
        batches = _batches(lengths[order], self.batch_size, self.max_batch_tokens, overhead)
        for rows in tqdm(batches, desc="embedding", unit="batch", disable=not show_progress_bar):
            vectors[order[rows]] = self._forward([encodings[i] for i in order[rows]])
        return vectors


def _head(text: str, chars: int) -> str:
    """``text`` up to its last whitespace before ``chars`` characters; ``text`` itself when it is
    no longer than that or has no whitespace there."""
    if len(text) <= chars:
        return text
    cut = next((i for i in range(chars, 0, -1) if text[i].isspace()), 0)
    return text[:cut] if cut else text


def _padded(encodings: list[Any]) -> dict[str, np.ndarray]:
    """Right-padded ``input_ids``, ``attention_mask`` and ``token_type_ids`` arrays."""
    width = max(len(e.ids) for e in encodings)
    arrays = {
        name: np.zeros((len(encodings), width), dtype=np.int64)
        for name in ("input_ids", "attention_mask", "token_type_ids")
    }
    for row, encoding in enumerate(encodings):
        n = len(encoding.ids)
        arrays["input_ids"][row, :n] = encoding.ids
        arrays["attention_mask"][row, :n] = encoding.attention_mask
        arrays["token_type_ids"][row, :n] = encoding.type_ids
    return arrays


def _batches(
    sorted_lengths: np.ndarray, batch_size: int, max_tokens: int, call_overhead: int
) -> list[slice]:
    """Consecutive slices of length-sorted rows within ``batch_size`` rows and ``max_tokens``
    padded tokens (a single longer row is its own slice), splitting where padding costs more
    than another forward pass.

    The slices minimise the padded tokens (rows x longest row) plus ``call_overhead`` tokens per
    slice (:data:`CALL_OVERHEAD_TOKENS`), by dynamic programming over the cut points.
    """
    total = len(sorted_lengths)
    cost = [0.0] + [np.inf] * total
    cut = [0] * (total + 1)
    for end in range(1, total + 1):
        width = int(sorted_lengths[end - 1])
        for start in range(end - 1, max(end - batch_size, 0) - 1, -1):
            rows = end - start
            if rows > 1 and rows * width > max_tokens:
                break
            candidate = cost[start] + call_overhead + rows * width
            if candidate <= cost[end]:  # on a tie, the longer last slice: fewer calls
                cost[end], cut[end] = candidate, start
    slices, end = [], total
    while end:
        slices.append(slice(cut[end], end))
        end = cut[end]
    return slices[::-1]
