"""``manifest.json`` of a router version: what it was made from, with a sha256 of every file.

The manifest also carries a sha256 of its own fields (``manifest_sha256``), so an edit after
sealing, such as a changed default knob, is refused like an altered file. This guards against
accidents and corruption, not against someone who recomputes the hashes.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

from router_ml.errors import ArtifactError

MANIFEST_NAME = "manifest.json"
#: The manifest's field holding the sha256 of all its other fields (canonical JSON).
SELF_HASH = "manifest_sha256"
FORMAT_VERSION = 1
TRACKED_LIBRARIES = (
    "router-ml",
    "numpy",
    "scikit-learn",
    "joblib",
    "sentence-transformers",
    "torch",
    "transformers",
)


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def library_versions() -> dict[str, str]:
    """Versions of Python and the libraries a fitted router depends on."""
    versions = {"python": platform.python_version()}
    for name in TRACKED_LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def write_json(path: Path, document: Any) -> None:
    """Write JSON and fsync it, so a later rename publishes complete bytes."""
    with path.open("w", encoding="utf-8") as handle:
        json.dump(document, handle, indent=2, sort_keys=False)
        handle.write("\n")
        handle.flush()
        os.fsync(handle.fileno())


def fields_sha256(manifest: dict[str, Any]) -> str:
    """Hex sha256 of the manifest's fields but :data:`SELF_HASH`, as sorted, compact JSON."""
    fields = {k: v for k, v in manifest.items() if k != SELF_HASH}
    canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def seal(folder: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """Add the sha256 of every other file in ``folder`` and of the manifest's own fields, and
    write ``manifest.json``."""
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.name != MANIFEST_NAME)
    fields = {k: v for k, v in manifest.items() if k != SELF_HASH}
    sealed = {
        "format_version": FORMAT_VERSION,
        **fields,
        "files": {p.name: sha256_file(p) for p in files},
    }
    sealed[SELF_HASH] = fields_sha256(sealed)
    write_json(folder / MANIFEST_NAME, sealed)
    return sealed


def _check_self_hash(path: Path, manifest: dict[str, Any]) -> None:
    """Refuse a manifest whose fields changed after sealing (one sealed before the field: as is)."""
    recorded = manifest.get(SELF_HASH)
    if recorded is not None and recorded != fields_sha256(manifest):
        raise ArtifactError(
            f"{path}: edited after it was sealed (its fields no longer match {SELF_HASH}); "
            "refusing a version whose settings the manifest does not vouch for"
        )


def read_verified(folder: Path) -> dict[str, Any]:
    """Read ``manifest.json`` and check every listed file's sha256 before anything is unpickled.

    Raises
    ------
    ArtifactError
        When the manifest is missing, unreadable or edited after sealing, a listed file is
        missing, or a hash differs.
    """
    path = folder / MANIFEST_NAME
    if not path.is_file():
        raise ArtifactError(f"{folder}: not a router version (no {MANIFEST_NAME})")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ArtifactError(f"{path}: unreadable manifest: {exc}") from exc
    if not isinstance(manifest, dict):
        raise ArtifactError(f"{path}: unreadable manifest: not a JSON object")
    _check_self_hash(path, manifest)
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        raise ArtifactError(f"{path}: manifest lists no files")
    for name, expected in files.items():
        target = folder / name
        if not target.is_file():
            raise ArtifactError(f"{target}: listed in the manifest but missing")
        actual = sha256_file(target)
        if actual != expected:
            raise ArtifactError(
                f"{target}: sha256 {actual[:12]}... does not match the manifest's {expected[:12]}...; "
                "refusing to load a file the manifest does not vouch for"
            )
    return manifest
