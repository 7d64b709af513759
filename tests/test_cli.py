"""The command line's help texts and option checks, across every subcommand."""

from __future__ import annotations

import re

import pytest

from router_ml import cli


def _exit(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as stopped:
        cli.main(argv)
    out, err = capsys.readouterr()
    return stopped.value.code, " ".join(out.split()), err


@pytest.mark.parametrize("command", list(cli.COMMANDS))
def test_help_states_each_default_once(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, text, _ = _exit([command, "--help"], capsys)
    assert code == 0
    assert "(default: None)" not in text
    assert "(default: [])" not in text
    assert "(default: False)" not in text
    assert not re.search(r"default[^()]*\) \(default:", text), text


def test_help_still_states_a_default_the_text_does_not(capsys: pytest.CaptureFixture[str]) -> None:
    _, text, _ = _exit(["serve", "--help"], capsys)
    assert "--port PORT gRPC port (0: any free) (default: 50051)" in text
    assert "(default: 64)" in text  # --rpc-threads


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["train", "--data", "x", "--catalog", "y", "--out", "z", "--threshold", "2"],
            "argument --threshold: expected a number in [0, 1], got '2'",
        ),
        (
            ["retrain", "--registry", "r", "--history", "h", "--tolerance", "-0.1"],
            "argument --tolerance: expected a number >= 0, got '-0.1'",
        ),
        (
            ["retrain", "--registry", "r", "--history", "h", "--keep", "0"],
            "argument --keep: expected an integer >= 1, got '0'",
        ),
        (
            ["retrain", "--registry", "r", "--history", "h", "--keep", "1.5"],
            "argument --keep: expected an integer >= 1, got '1.5'",
        ),
        (
            ["retrain", "--registry", "r", "--history", "h", "--tolerance", "inf"],
            "argument --tolerance: expected a number >= 0, got 'inf'",
        ),
        (
            ["train", "--data", "x", "--catalog", "y", "--out", "z", "--threshold", "nan"],
            "argument --threshold: expected a number in [0, 1], got 'nan'",
        ),
        (
            ["retrain", "--registry", "r", "--history", "h", "--window-days", "0"],
            "argument --window-days: expected a number > 0, got '0'",
        ),
        (
            ["bench", "--model", "m", "--open-loop", "25", "0"],
            "argument --open-loop: expected a number > 0, got '0'",
        ),
        (
            ["bench", "--model", "m", "--open-loop", "25", "--deadline", "-1"],
            "argument --deadline: expected a number > 0, got '-1'",
        ),
        (
            ["bench", "--model", "m", "--startup-timeout", "0"],
            "argument --startup-timeout: expected a number > 0, got '0'",
        ),
    ],
)
def test_out_of_range_options_are_named(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = _exit(argv, capsys)
    assert code == 2
    assert err.splitlines()[-1].endswith(message)
