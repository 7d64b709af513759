"""The shipped schedule examples call ``router-ml retrain`` with flags the command accepts."""

from __future__ import annotations

import shlex
from pathlib import Path

import yaml

from router_ml.cli import build_parser

TRAINING = Path(__file__).resolve().parents[2] / "training"


def _parse(argv: list[str]):
    return build_parser().parse_args(argv)


def test_cron_line_runs_a_valid_retrain() -> None:
    (line,) = [
        line
        for line in (TRAINING / "retrain.cron").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    words = shlex.split(line.split(">>")[0])
    args = _parse(words[words.index(".venv/bin/router-ml") + 1 :])
    assert (args.command, args.window_days, args.keep) == ("retrain", 30.0, 10)
    assert str(args.registry).startswith("/srv/router-ml/")


def test_kubernetes_cronjob_runs_a_valid_retrain_on_a_shared_volume() -> None:
    document = yaml.safe_load(
        (TRAINING / "k8s" / "retrain-cronjob.yaml").read_text(encoding="utf-8")
    )
    assert document["kind"] == "CronJob"
    pod = document["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["command"] == ["router-ml"]
    args = _parse(container["args"])
    mount = container["volumeMounts"][0]["mountPath"]
    assert all(str(p).startswith(mount) for p in (args.registry, args.history))
    assert {"name": "ROUTER_ML_CACHE", "value": f"{mount}/cache"} in container["env"]
    assert pod["volumes"][0]["persistentVolumeClaim"]["claimName"]
    assert document["spec"]["concurrencyPolicy"] == "Forbid"
