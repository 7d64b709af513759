"""The one place an encoder backend is chosen: sentence-transformers (torch) or ONNX."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

from router_ml.embedding.encoder import Encoder, EncoderIdentity
from router_ml.embedding.onnx_encoder import OnnxEncoder, OnnxSpec
from router_ml.errors import ArtifactError, ConfigError

Backend = Literal["onnx", "onnx-int8", "torch", "auto"]
#: What a user may ask ``serve`` and ``bench`` for; ``auto`` is for offline jobs (the report).
BACKENDS: tuple[Backend, ...] = ("onnx", "onnx-int8", "torch")


def _identity(recorded: dict[str, Any]) -> EncoderIdentity:
    return EncoderIdentity(
        recorded["name"], recorded["source"], recorded["weights_sha256"], recorded["max_seq_length"]
    )


def _torch_encoder(recorded: dict[str, Any], spec: str | Path | None, folder: Path) -> Encoder:
    resolved = Encoder(
        spec if spec is not None else recorded["source"],
        max_seq_length=recorded["max_seq_length"],
    )
    if resolved.identity.weights_sha256 != recorded["weights_sha256"]:
        raise ArtifactError(
            f"{folder}: encoder at {resolved.folder} differs from the one this router was trained "
            f"with ({recorded['name']}, sha256 {recorded['weights_sha256'][:12]}...)"
        )
    return resolved


def _onnx_encoder(
    recorded: dict[str, Any], folder: Path, threads: int | None, int8: bool
) -> OnnxEncoder:
    if "onnx" not in recorded:
        raise ArtifactError(
            f"{folder}: this version has no ONNX encoder; retrain it with `router-ml train`, "
            "or use the torch backend"
        )
    spec = OnnxSpec.from_dict(recorded["onnx"])
    if int8:
        if spec.int8_file is None:
            raise ArtifactError(
                f"{folder}: this version has no int8 ONNX encoder; retrain it with "
                "`router-ml train`, or use the onnx backend"
            )
        spec = replace(spec, file=spec.int8_file)
    return OnnxEncoder(folder, spec, _identity(recorded), threads=threads)


def load_encoder(
    backend: Backend,
    folder: Path,
    recorded: dict[str, Any],
    *,
    spec: str | Path | None = None,
    threads: int | None = None,
) -> Encoder | OnnxEncoder:
    """The encoder of the version in ``folder`` whose manifest records ``recorded``.

    Parameters
    ----------
    backend : ``torch`` (the sentence-transformers model, verified against the recorded weights
        hash), ``onnx`` (the version's own fp32 ONNX export, verified with the version's files)
        or ``onnx-int8`` (its int8 quantization: faster, not exact); ``auto``: ``onnx`` when the
        version has the export, else ``torch``.
    spec : where the sentence-transformers model is found (torch only; default: as recorded).
    threads : onnxruntime intra-op threads (onnx only; None: one per core).

    Raises
    ------
    ConfigError
        For an unknown backend.
    ArtifactError
        When the encoder differs from the recorded one, or the version has no ONNX export.
    """
    if backend == "auto":
        backend = "onnx" if "onnx" in recorded else "torch"
    if backend == "torch":
        return _torch_encoder(recorded, spec, folder)
    if backend in ("onnx", "onnx-int8"):
        return _onnx_encoder(recorded, folder, threads, int8=backend == "onnx-int8")
    raise ConfigError(
        f"The encoder backend must be one of {', '.join(BACKENDS)}. Got {backend!r} instead."
    )
