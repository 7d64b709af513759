"""Hatch build hook: compile protos/ into router_ml/v1/ at build and install time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class ProtoBuildHook(BuildHookInterface):
    """Run grpc_tools.protoc so the generated modules import as ``router_ml.v1.*``."""

    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        import grpc_tools
        from grpc_tools import protoc

        well_known = Path(grpc_tools.__file__).parent / "_proto"

        root = Path(self.root)
        protos = sorted(
            str(p.relative_to(root / "protos")) for p in (root / "protos").rglob("*.proto")
        )
        if not protos:
            return
        args = [
            "grpc_tools.protoc",
            f"-I{root / 'protos'}",
            f"-I{well_known}",
            f"--python_out={root}",
            f"--pyi_out={root}",
            f"--grpc_python_out={root}",
            *protos,
        ]
        if protoc.main(args) != 0:
            raise RuntimeError(f"protoc failed on {protos}")
