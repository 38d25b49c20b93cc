"""The `arcforge-tui` command line: help, and clear refusals before any screen opens."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from arcforge_tui.cli import build_parser, main


def test_every_flag_has_help() -> None:
    parser = build_parser()
    for action in parser._actions:
        assert action.help, action.dest
    args = parser.parse_args(["--state-dir", "x", "--replay"])
    assert (args.state_dir, args.replay, args.poll) == ("x", True, 0.25)


def test_python_m_help_runs() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "arcforge_tui", "--help"], capture_output=True, text=True, check=True
    )
    assert "--state-dir" in result.stdout and "--replay" in result.stdout


def test_replay_of_an_empty_state_dir_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--state-dir", str(tmp_path), "--replay"]) == 2
    err = capsys.readouterr().err
    assert "nothing to replay" in err and str(tmp_path) in err and "test-run.jsonl" in err


def test_state_dir_that_is_a_file_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    not_a_dir = tmp_path / "state"
    not_a_dir.write_text("")
    assert main(["--state-dir", str(not_a_dir)]) == 2
    assert "is not a folder" in capsys.readouterr().err


def test_poll_must_be_positive(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--state-dir", str(tmp_path), "--poll", "0"]) == 2
    assert "--poll" in capsys.readouterr().err
