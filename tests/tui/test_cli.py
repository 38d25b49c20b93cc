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


def run_without_a_terminal(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "arcforge_tui", *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_without_a_terminal_it_says_so_and_exits(tmp_path: Path) -> None:
    """Issue 19: no full screen on a pipe; one line that names the way out."""
    result = run_without_a_terminal("--state-dir", str(tmp_path))
    assert result.returncode == 2
    assert "needs a terminal" in result.stderr and "--replay" in result.stderr
    assert "\x1b[" not in result.stdout + result.stderr  # no escape codes: the app never started


def test_replay_without_a_terminal_prints_a_plain_summary(tmp_path: Path) -> None:
    from tests.tui import scenario

    scenario.write_all(tmp_path)
    (tmp_path / "test-run.jsonl").open("ab").write(b"not an event\n")
    result = run_without_a_terminal("--state-dir", str(tmp_path), "--replay")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "\x1b[" not in out
    lines = out.splitlines()
    assert lines[0] == f"arcforge state in {tmp_path}"
    assert f"download  ok in 2m13s  (run {scenario.DOWNLOAD_RUN})" in lines
    assert "  google/gemma-3-1b-it@9f2a5c1e7b3d: 4 of 4 files, 6.4 GB of 6.4 GB" in lines
    assert (
        "  kaggle kernel arcfan/arcforge-solver: ERROR v7 (CUDA out of memory: lower --max-model-len or pick a smaller model)"
        in lines
    )
    assert "  6 of 6 tasks done with search, 3 solved" in lines
    assert "  scores: kaggle 0.500, task_fraction 0.500, tasks_fully_solved 0.500" in lines
    assert "  not solved: 017c7c7b (done), 025d127b (timeout), 045e512c (failed)" in lines
    assert "lines skipped (not events): test-run.jsonl 1" in lines
