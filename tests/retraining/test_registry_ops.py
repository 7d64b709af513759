"""Registry operations of the retrain job: the lock, promote, rollback and pruning."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from pipeline_helpers import registry_state
from retrain_helpers import fake_version, run_cli

from router_ml.artifact.manifest import MANIFEST_NAME
from router_ml.artifact.registry import (
    STAGING_PREFIX,
    current_version,
    list_versions,
    promote,
    prune,
    registry_lock,
    rollback,
    rollback_target,
    set_current,
)
from router_ml.errors import ArtifactError, ConfigError, RegistryError, RegistryLockedError

V = [f"20261101T00000{i}Z-00000{i}" for i in range(6)]


@pytest.fixture
def registry(tmp_path: Path) -> Path:
    """Six versions, the third and fifth rejected by a retrain; ``current`` is the fourth."""
    root = tmp_path / "registry"
    for i, name in enumerate(V):
        fake_version(root, name, "rejected" if i in (2, 4) else "promoted" if i else None)
    set_current(root, V[3])
    return root


def test_rollback_target_skips_rejected_versions(registry: Path) -> None:
    assert rollback_target(registry) == V[1]


def test_rollback_moves_current_to_the_previous_promoted_version(registry: Path) -> None:
    assert rollback(registry) == V[1]
    assert current_version(registry) == V[1]
    assert rollback(registry) == V[0]  # a version made by `router-ml train` (no gate field)
    with pytest.raises(RegistryError, match="nothing to roll back to"):
        rollback(registry)
    assert current_version(registry) == V[0]


def test_rollback_of_a_registry_without_current_says_so(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(
        RegistryError, match=r"empty: no current version; nothing to roll back from"
    ):
        rollback(tmp_path / "empty")


def test_rollback_skips_a_version_that_fails_verification(registry: Path) -> None:
    manifest_path = registry / V[1] / MANIFEST_NAME
    manifest_path.write_text(manifest_path.read_text().replace(V[1], V[1] + "-edited", 1))
    assert rollback_target(registry) == V[0]
    assert rollback(registry) == V[0]


def test_promote_verifies_and_moves_current(registry: Path) -> None:
    assert promote(registry, V[4]) == V[3]  # a person may promote a rejected version
    assert current_version(registry) == V[4]
    assert rollback_target(registry) == V[3]


def test_promote_refuses_unknown_and_altered_versions(registry: Path) -> None:
    before = registry_state(registry)
    with pytest.raises(RegistryError, match=r"no version '\.\./elsewhere'; versions: "):
        promote(registry, "../elsewhere")
    (registry / V[5] / "payload.bin").write_bytes(b"tampered")
    with pytest.raises(ArtifactError, match="does not match the manifest"):
        promote(registry, V[5])
    assert current_version(registry) == V[3]
    assert registry_state(registry).keys() == before.keys()


def test_prune_keeps_the_newest_and_never_current_or_its_rollback_target(registry: Path) -> None:
    assert prune(registry, keep=2) == [V[0], V[2]]
    assert list_versions(registry) == [V[1], V[3], V[4], V[5]]
    assert prune(registry, keep=1) == [V[4]]
    assert list_versions(registry) == [V[1], V[3], V[5]]
    assert not [p for p in registry.iterdir() if p.name.startswith(STAGING_PREFIX)]


def test_prune_refuses_keep_below_one(registry: Path) -> None:
    with pytest.raises(ConfigError, match=r"'keep' parameter must be an integer >= 1\. Got 0"):
        prune(registry, keep=0)


def test_lock_is_exclusive_and_names_its_holder(registry: Path) -> None:
    with (
        registry_lock(registry),
        pytest.raises(RegistryLockedError, match=rf"locked by pid {os.getpid()} since "),
        registry_lock(registry),
    ):
        pass
    with registry_lock(registry):
        pass  # released


def test_lock_of_a_killed_process_is_released(registry: Path) -> None:
    holder = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from router_ml.artifact.registry import registry_lock
        with registry_lock(Path({str(registry)!r})):
            print("locked", flush=True)
            time.sleep(600)
        """
    )
    command = [sys.executable, "-c", holder]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout.readline().strip() == "locked"
            with (
                pytest.raises(RegistryLockedError, match=f"pid {process.pid}"),
                registry_lock(registry),
            ):
                pass
        finally:
            process.send_signal(signal.SIGKILL)
    with registry_lock(registry):
        pass


@pytest.mark.parametrize(
    "argv", [["promote", "{r}", V[1]], ["rollback", "{r}"]], ids=["promote", "rollback"]
)
def test_promote_and_rollback_exit_75_while_locked(registry: Path, argv: list[str]) -> None:
    with registry_lock(registry):
        code, out, err = run_cli([a.format(r=registry) for a in argv])
    assert (code, out) == (75, "")
    assert err.startswith(f"Error: {registry} is locked by pid {os.getpid()}")
    assert current_version(registry) == V[3]


def test_promote_and_rollback_commands(registry: Path) -> None:
    assert run_cli(["rollback", str(registry)]) == (
        0,
        f"rolled back: current is now {V[1]} (was {V[3]})\n",
        "",
    )
    assert run_cli(["promote", str(registry), V[5]]) == (
        0,
        f"current is now {V[5]} (was {V[1]})\n",
        "",
    )
    code, out, err = run_cli(["promote", str(registry), "nope"])
    assert (code, out) == (1, "")
    assert err.startswith(f"Error: {registry}: no version 'nope'; versions: {V[0]}, ")
    code, _, err = run_cli(["rollback", str(registry / "missing")])
    assert (code, err) == (1, f"Error: {registry / 'missing'}: no such registry folder\n")
