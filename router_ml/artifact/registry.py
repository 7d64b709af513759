"""A registry folder of router versions, with ``current`` pointing at the one to serve.

Versions are built in a hidden staging folder and renamed into place whole; ``current`` is a
symlink replaced atomically, so a reader sees either the old version or the new one, never a mix.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from router_ml.artifact.manifest import MANIFEST_NAME
from router_ml.errors import RegistryError

logger = logging.getLogger(__name__)

CURRENT = "current"
STAGING_PREFIX = ".staging-"


def new_version_name(now: datetime | None = None) -> str:
    """A sortable, unique version name such as ``20261201T084512Z-3f9a1c``."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{uuid.uuid4().hex[:6]}"


def resolve_version(path: str | Path) -> Path:
    """The version folder to load: ``path`` itself, or ``path/current`` for a registry."""
    path = Path(path)
    if (path / MANIFEST_NAME).is_file():
        return path.resolve()
    current = path / CURRENT
    if current.exists():
        return current.resolve()
    if not path.exists():
        raise RegistryError(f"{path}: no such registry or version folder")
    raise RegistryError(
        f"{path}: neither a router version (no {MANIFEST_NAME}) nor a registry with '{CURRENT}'"
    )


@contextlib.contextmanager
def staging(registry: Path) -> Iterator[Path]:
    """A fresh staging folder inside ``registry``, removed unless it was published."""
    registry.mkdir(parents=True, exist_ok=True)
    folder = registry / f"{STAGING_PREFIX}{uuid.uuid4().hex}"
    folder.mkdir()
    try:
        yield folder
    finally:
        if folder.exists():
            shutil.rmtree(folder, ignore_errors=True)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def publish(registry: Path, staged: Path, version: str) -> Path:
    """Rename a sealed staging folder to ``registry/version``."""
    target = registry / version
    if target.exists():
        raise RegistryError(f"{target}: version already exists")
    os.rename(staged, target)
    _fsync_dir(registry)
    return target


def set_current(registry: Path, version: str) -> None:
    """Point ``registry/current`` at ``version`` atomically."""
    if not (registry / version / MANIFEST_NAME).is_file():
        raise RegistryError(f"{registry / version}: no such version")
    link = registry / f".{CURRENT}-{uuid.uuid4().hex}"
    os.symlink(version, link)
    os.replace(link, registry / CURRENT)
    _fsync_dir(registry)


def current_version(registry: Path) -> str | None:
    """Name of the version ``current`` points at, or None."""
    link = registry / CURRENT
    return os.readlink(link) if link.is_symlink() else None


def list_versions(registry: Path) -> list[str]:
    """Published versions, oldest first (``current`` and other links are not versions)."""
    if not registry.is_dir():
        return []
    return sorted(
        p.name
        for p in registry.iterdir()
        if p.is_dir()
        and not p.is_symlink()
        and (p / MANIFEST_NAME).is_file()
        and not p.name.startswith(".")
    )


def clean_leftovers(registry: Path) -> int:
    """Remove staging folders and dangling links left by runs that died; returns how many."""
    removed = 0
    if not registry.is_dir():
        return removed
    for path in registry.iterdir():
        if path.name.startswith(STAGING_PREFIX) and path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
            removed += 1
        elif path.name.startswith(f".{CURRENT}-") and path.is_symlink():
            path.unlink()
            removed += 1
    if removed:
        logger.info("removed %d leftovers of interrupted runs in %s", removed, registry)
    return removed
