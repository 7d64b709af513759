"""The registry: versions appear whole or not at all, and ``current`` only moves to a sealed one."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import joblib
import pytest
from pipeline_helpers import registry_state

from router_ml import cli
from router_ml.artifact.registry import (
    CURRENT,
    clean_leftovers,
    current_version,
    list_versions,
    publish,
    resolve_version,
    set_current,
    staging,
    writing_registry,
)
from router_ml.errors import RegistryError
from router_ml.training.pipeline import TrainConfig, train


@pytest.fixture
def registry(tmp_path: Path, trained_registry: Path) -> Path:
    """A copy of the session's trained registry: one version, ``current`` pointing at it."""
    return Path(shutil.copytree(trained_registry, tmp_path / "registry", symlinks=True))


def _fail_on_call(number: int, exc: BaseException):
    calls = []

    def fail(*args: object, **kwargs: object) -> None:
        calls.append(args)
        if len(calls) == number:
            raise exc

    return fail


def test_resolve_version_of_a_registry_is_its_current(registry: Path) -> None:
    (version,) = list_versions(registry)
    assert current_version(registry) == version
    assert resolve_version(registry) == (registry / version).resolve()


def test_resolve_version_of_a_version_folder_is_itself(registry: Path) -> None:
    version = registry / list_versions(registry)[0]
    assert resolve_version(version) == version.resolve()


@pytest.mark.parametrize(
    ("make", "pattern"),
    [
        (lambda p: p, "no such registry or version folder"),
        (lambda p: p.mkdir() or p, "neither a router version .* nor a registry with 'current'"),
    ],
    ids=["missing", "empty"],
)
def test_resolve_version_refuses_other_folders(tmp_path: Path, make, pattern: str) -> None:
    with pytest.raises(RegistryError, match=pattern):
        resolve_version(make(tmp_path / "elsewhere"))


@pytest.mark.parametrize(
    ("target", "call"),
    [
        ("router_ml.training.pipeline.seal", 1),
        # the second dump: pass_model.joblib is already in the staging folder
        ("joblib.dump", 2),
    ],
    ids=["seal", "second-joblib-dump"],
)
def test_failed_write_leaves_the_registry_as_it_was(
    registry: Path,
    small_log: Path,
    catalog_path: Path,
    cache_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    target: str,
    call: int,
) -> None:
    before = registry_state(registry)
    monkeypatch.setattr(target, _fail_on_call(call, OSError("disk full")))
    config = TrainConfig(
        data=(small_log,),
        catalog=catalog_path,
        out=registry,
        cache_dir=cache_dir,
        show_progress=False,
    )
    with pytest.raises(OSError, match="disk full"):
        train(config)
    assert registry_state(registry) == before


def test_interrupted_train_leaves_the_registry_as_it_was(
    registry: Path,
    small_log: Path,
    catalog_path: Path,
    cache_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    before = registry_state(registry)
    monkeypatch.setattr(joblib, "dump", _fail_on_call(2, KeyboardInterrupt()))
    argv = ["train", "--data", str(small_log), "--catalog", str(catalog_path)]
    argv += ["--out", str(registry), "--cache-dir", str(cache_dir), "--no-progress"]
    assert cli.main(argv) == 130
    assert capsys.readouterr().err.strip() == "Error: interrupted"
    assert registry_state(registry) == before


def test_publish_never_replaces_a_version(registry: Path) -> None:
    (version,) = list_versions(registry)
    before = registry_state(registry)
    with staging(registry) as staged, pytest.raises(RegistryError, match="already exists"):
        (staged / "manifest.json").write_text("{}", encoding="utf-8")
        publish(registry, staged, version)
    assert registry_state(registry) == before


def test_set_current_refuses_an_unknown_version(registry: Path) -> None:
    before = registry_state(registry)
    with pytest.raises(RegistryError, match="no such version"):
        set_current(registry, "20990101T000000Z-nope")
    assert registry_state(registry) == before


def test_clean_leftovers_removes_staging_folders_and_dangling_links(registry: Path) -> None:
    before = registry_state(registry)
    (registry / ".staging-dead").mkdir()
    (registry / ".staging-dead" / "pass_model.joblib").write_bytes(b"half")
    os.symlink("gone", registry / f".{CURRENT}-dead")
    assert clean_leftovers(registry) == 2
    assert registry_state(registry) == before


def _fail_inside(registry: Path, exc: BaseException) -> None:
    with pytest.raises(type(exc)), writing_registry(registry):
        raise exc


@pytest.mark.parametrize("exc", [RuntimeError("failed"), KeyboardInterrupt()])
def test_a_registry_this_run_created_is_removed_when_it_fails(
    tmp_path: Path, exc: BaseException
) -> None:
    _fail_inside(tmp_path / "parent" / "new", exc)
    assert not (tmp_path / "parent" / "new").exists()
    assert (tmp_path / "parent").is_dir()  # parents it created stay


def test_an_existing_folder_is_never_removed_however_it_is_spelled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "important").mkdir()
    (tmp_path / "important" / "notes.txt").write_text("keep me", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    _fail_inside(Path("typo") / ".." / "important", RuntimeError("failed"))
    _fail_inside(tmp_path / "important", RuntimeError("failed"))
    assert (tmp_path / "important" / "notes.txt").read_text(encoding="utf-8") == "keep me"


def test_a_registry_that_published_a_version_stays(tmp_path: Path) -> None:
    registry = tmp_path / "new"
    with pytest.raises(RuntimeError), writing_registry(registry):
        with staging(registry) as staged:
            (staged / "manifest.json").write_text("{}", encoding="utf-8")
            publish(registry, staged, "v1")
        raise RuntimeError("failed after publishing")
    assert list_versions(registry) == ["v1"]


def test_a_dangling_link_as_the_registry_is_refused(tmp_path: Path) -> None:
    (tmp_path / "link").symlink_to(tmp_path / "gone")
    refused = pytest.raises(RegistryError, match=r"link: a symbolic link to nothing")
    with refused, writing_registry(tmp_path / "link"):
        pass
    assert not (tmp_path / "gone").exists()
