"""A registry folder of router versions, with ``current`` pointing at the one to serve.

Versions are built in a hidden staging folder and renamed into place whole; ``current`` is a
symlink replaced atomically, so a reader sees either the old version or the new one, never a mix.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from router_ml.artifact.manifest import MANIFEST_NAME, read_verified
from router_ml.errors import ArtifactError, ConfigError, RegistryError, RegistryLockedError

logger = logging.getLogger(__name__)

CURRENT = "current"
STAGING_PREFIX = ".staging-"
LOCK_FILE = ".lock"
#: Manifest field a retrain writes: ``{"decision": "promoted" | "rejected", "reason": ...}``.
GATE_FIELD = "gate"
REJECTED = "rejected"


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


@contextlib.contextmanager
def registry_lock(registry: Path) -> Iterator[None]:
    """Hold ``registry``'s lock file (``.lock``) while the block runs.

    The lock is an ``fcntl`` lock on an open file, so the kernel drops it when its process dies:
    a killed run never leaves the registry locked. The file itself stays.

    Raises
    ------
    RegistryLockedError
        When another process holds the lock; the message names it.
    RegistryError
        When ``registry`` is not a folder.
    """
    if not registry.is_dir():
        raise RegistryError(f"{registry}: no such registry folder")
    with (registry / LOCK_FILE).open("a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "another process"
            raise RegistryLockedError(
                f"{registry} is locked by {holder}: a train, retrain, promote or rollback is "
                "running; try again when it has finished"
            ) from None
        handle.truncate(0)
        handle.write(f"pid {os.getpid()} since {datetime.now(UTC).isoformat(timespec='seconds')}")
        handle.flush()
        yield


def check_registry_path(registry: Path) -> None:
    """Fail when ``registry`` cannot be a registry folder: it, or the nearest existing path
    above it, is something other than a folder, or a symbolic link to nothing.

    Raises
    ------
    RegistryError
        Naming the path that is in the way.
    """
    for path in (registry, *registry.parents):
        should_be = "the registry" if path == registry else f"a folder above {registry}"
        if path.is_symlink() and not path.exists():
            raise RegistryError(f"{path}: a symbolic link to nothing (it should be {should_be})")
        if path.exists():
            if not path.is_dir():
                raise RegistryError(
                    f"{path}: exists and is not a folder (it should be {should_be})"
                )
            return


@contextlib.contextmanager
def writing_registry(registry: Path) -> Iterator[None]:
    """Hold ``registry``'s lock, creating the folder first when it is absent.

    When this call created the folder (its ``mkdir`` succeeded, so no one else had) and the
    block fails before any version was published, the folder is removed again, still under the
    lock, so a mistyped path is not left behind as an empty registry. Parent folders it created
    stay.

    Raises
    ------
    RegistryLockedError
        When another process holds the lock.
    RegistryError
        When the path, or one above it, is not a folder.
    """
    check_registry_path(registry)
    registry.parent.mkdir(parents=True, exist_ok=True)
    try:
        registry.mkdir()
        created = True
    except FileExistsError:
        created = False
    with registry_lock(registry):
        try:
            yield
        except BaseException:
            if created and not list_versions(registry):
                shutil.rmtree(registry, ignore_errors=True)
            raise


def check_unlocked(registry: Path) -> None:
    """Fail fast when ``registry`` is not a usable path or its lock is held, by another process
    or by this one (no lock to check if the registry is absent).

    Raises
    ------
    RegistryLockedError
        When the lock is held; the message names its holder.
    RegistryError
        When the path, or one above it, is not a folder.
    """
    check_registry_path(registry)
    if registry.is_dir():
        with registry_lock(registry):
            pass


def _promotable(registry: Path, version: str) -> bool:
    """Whether ``version``'s files verify and a retrain's gate did not mark it rejected."""
    try:
        manifest = read_verified(registry / version)
    except ArtifactError:
        return False
    return manifest.get(GATE_FIELD, {}).get("decision") != REJECTED


def rollback_target(registry: Path) -> str | None:
    """The newest version older than ``current`` whose files verify and that a retrain did not
    reject, or None."""
    versions = list_versions(registry)
    current = current_version(registry)
    earlier = versions[: versions.index(current)] if current in versions else []
    return next((v for v in reversed(earlier) if _promotable(registry, v)), None)


def promote(registry: Path, version: str) -> str | None:
    """Verify every file of ``version``, then point ``current`` at it; returns the previous current.

    Raises
    ------
    RegistryError
        When ``version`` is not a version of ``registry`` (the message lists them).
    ArtifactError
        When a file of ``version`` is missing or altered.
    """
    versions = list_versions(registry)
    if version not in versions:
        raise RegistryError(
            f"{registry}: no version {version!r}; versions: {', '.join(versions) or 'none'}"
        )
    read_verified(registry / version)
    previous = current_version(registry)
    set_current(registry, version)
    return previous


def rollback(registry: Path) -> str:
    """Point ``current`` back at :func:`rollback_target` (which has verified its files); returns
    that version.

    Raises
    ------
    RegistryError
        When no earlier version was promoted.
    """
    current = current_version(registry)
    if current is None:
        raise RegistryError(f"{registry}: no current version; nothing to roll back from")
    target = rollback_target(registry)
    if target is None:
        raise RegistryError(
            f"{registry}: no version older than current ({current}) that was promoted; nothing "
            "to roll back to"
        )
    set_current(registry, target)
    return target


def prune(registry: Path, keep: int) -> list[str]:
    """Delete all but the newest ``keep`` versions, never ``current`` nor its rollback target.

    Each version is first renamed to a hidden staging name (atomic), then removed, so a killed
    prune leaves only a leftover that :func:`clean_leftovers` removes. Returns the deleted names.
    """
    if keep < 1:
        raise ConfigError(f"The 'keep' parameter must be an integer >= 1. Got {keep} instead.")
    protected = {current_version(registry), rollback_target(registry)}
    doomed = [v for v in list_versions(registry)[:-keep] if v not in protected]
    for version in doomed:
        trash = registry / f"{STAGING_PREFIX}{uuid.uuid4().hex}"
        os.rename(registry / version, trash)
        shutil.rmtree(trash, ignore_errors=True)
    if doomed:
        _fsync_dir(registry)
        logger.info("pruned %d versions of %s: %s", len(doomed), registry, ", ".join(doomed))
    return doomed
