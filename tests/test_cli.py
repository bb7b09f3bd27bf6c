"""The command line: help, version, and each subcommand's help."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sparktf import __version__
from sparktf.cli import COMMANDS, build_parser, main, output_level


def _subcommand_paths() -> list[list[str]]:
    parser = build_parser()
    paths: list[list[str]] = []

    def walk(p: object, prefix: list[str]) -> None:
        for action in getattr(p, "_actions", []):
            choices = getattr(action, "choices", None)
            if isinstance(choices, dict):
                for name, child in choices.items():
                    paths.append([*prefix, name])
                    walk(child, [*prefix, name])

    walk(parser, [])
    return paths


def test_console_script_help_and_version() -> None:
    exe = [sys.executable, "-m", "sparktf.cli"]
    out = subprocess.run([*exe, "--help"], capture_output=True, text=True, check=True)
    assert "tune" in out.stdout or "data" in out.stdout
    ver = subprocess.run([*exe, "--version"], capture_output=True, text=True, check=True)
    assert ver.stdout.strip() == f"sparktf {__version__}"


def test_every_command_is_registered() -> None:
    top = {p[0] for p in _subcommand_paths()}
    assert top == set(COMMANDS)


@pytest.mark.parametrize("path", _subcommand_paths(), ids=lambda p: " ".join(p))
def test_each_subcommand_help_exits_zero(path: list[str], capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exc:
        main([*path, "--help"])
    assert exc.value.code == 0
    assert "usage: sparktf" in capsys.readouterr().out


def test_unknown_flag_exits_2(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["data", "info", "mnist", "--frobnicate"])
    assert exc.value.code == 2
    assert "unrecognized arguments: --frobnicate" in capsys.readouterr().err


@pytest.mark.parametrize("path", _subcommand_paths(), ids=lambda p: " ".join(p))
def test_every_command_offers_the_output_flags(
    path: list[str], capsys: pytest.CaptureFixture
) -> None:
    with pytest.raises(SystemExit):
        main([*path, "--help"])
    out = capsys.readouterr().out
    assert "--verbose" in out and "--quiet" in out


@pytest.mark.parametrize(
    "argv",
    [
        ["--verbose", "data", "info", "mnist"],
        ["data", "--verbose", "info", "mnist"],
        ["data", "info", "mnist", "--verbose"],
        ["--quiet", "report", "run"],
        ["report", "run", "--quiet"],
        ["--quiet", "tune", "--model", "mnist_cnn"],
        ["tune", "--model", "mnist_cnn", "--verbose"],
    ],
)
def test_output_flags_count_before_or_after_the_command(argv: list[str]) -> None:
    args = build_parser().parse_args(argv)
    assert output_level(args) == ("--verbose" in argv, "--quiet" in argv)


def test_verbose_and_quiet_together_exit_2(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--verbose", "report", "run", "--quiet"])
    assert exc.value.code == 2
    assert "--verbose and --quiet exclude each other" in capsys.readouterr().err


@pytest.mark.parametrize("flag", ["--quiet", "--verbose"])
def test_main_called_in_a_program_leaves_the_program_s_output_level_as_it_was(
    flag: str, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    """A test or a program that runs ``sparktf.cli.main(... --quiet)`` keeps its own output:
    the next study of the program prints its lines again."""
    from sparktf.console import VERBOSE_ENV, is_quiet, is_verbose

    missing = tmp_path / "missing.keras"
    argv = ["predict", "--model", str(missing), "--input", str(tmp_path)]
    assert main([*argv, "--master", "spark://127.0.0.1:1", flag]) == 2
    assert "error: " in capsys.readouterr().err  # (an error prints even with --quiet)
    assert not is_quiet() and not is_verbose() and VERBOSE_ENV not in os.environ
