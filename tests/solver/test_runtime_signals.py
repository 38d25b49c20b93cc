"""A run stopped by Ctrl-C, SIGTERM or SIGKILL leaves a valid submission, no stray processes, and
resumes when rerun."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from arcforge_solver.runtime.submission import validate_submission
from tests.solver.conftest import DOUBLE, PYTHON

COUNTS = {"flip0": 1, "flip1": 2, "flip7": 1, "hard5": 1, "hard8": 1}


def start_run(
    tmp_path: Path, tasks: Path, env: dict[str, str], workers: int = 1, engine: str = "SlowEngine"
) -> subprocess.Popen[str]:
    env = {**env, "ARCFORGE_DOUBLE_SLEEP": "0.6"}
    return subprocess.Popen(
        [
            PYTHON,
            "-m",
            "arcforge_solver",
            "run",
            str(tasks),
            "--out",
            str(tmp_path / "submission.json"),
            "--engine",
            f"{DOUBLE}:{engine}",
            "--workers",
            str(workers),
            "--time-per-task",
            "30",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own group, as a terminal's foreground job is
    )


def wait_for_journal_lines(tmp_path: Path, count: int, process: subprocess.Popen[str]) -> None:
    journal = tmp_path / "submission.journal.jsonl"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if journal.exists() and len(journal.read_text().splitlines()) >= count:
            return
        assert process.poll() is None, process.communicate()
        time.sleep(0.05)
    pytest.fail("the run finished no task within a minute")


def last_run(state: Path) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in (state / "test-run.jsonl").read_text().splitlines()]
    start = max(i for i, e in enumerate(lines) if e["kind"] == "start")
    return lines[start:]


def children_of(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "State:\tZ" not in status


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_leaves_a_valid_submission_and_rerun_resumes(
    tmp_path: Path, small_tasks: Path, cli_env: dict[str, str], signum: int
) -> None:
    process = start_run(tmp_path, small_tasks, cli_env)
    wait_for_journal_lines(tmp_path, 1, process)
    os.killpg(process.pid, signum)  # Ctrl-C reaches the whole foreground group
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "Rerun the same command to resume" in err
    submission = json.loads((tmp_path / "submission.json").read_text())
    assert validate_submission(submission, COUNTS) == []
    state = Path(cli_env["ARCFORGE_STATE_DIR"])
    end = last_run(state)[-1]
    assert end["kind"] == "end" and end["data"]["status"] == "interrupted"
    done_before = end["data"]["done"]
    assert 1 <= done_before < 5
    rerun = subprocess.run(
        [
            PYTHON,
            "-m",
            "arcforge_solver",
            "run",
            str(small_tasks),
            "--out",
            str(tmp_path / "submission.json"),
            "--engine",
            f"{DOUBLE}:FixedProgramEngine",
            "--workers",
            "1",
        ],
        env=cli_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert rerun.returncode == 0, rerun.stderr
    # The slow double and the fixed double are different engines: resuming is per engine.
    assert last_run(state)[0]["data"]["resumed"] == 0
    resumed = subprocess.run(
        [
            PYTHON,
            "-m",
            "arcforge_solver",
            "run",
            str(small_tasks),
            "--out",
            str(tmp_path / "submission.json"),
            "--engine",
            f"{DOUBLE}:SlowEngine",
            "--workers",
            "1",
        ],
        env={**cli_env, "ARCFORGE_DOUBLE_SLEEP": "0.01"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert last_run(state)[0]["data"]["resumed"] >= done_before
    assert "tasks fully solved  0.6000  (3/5 tasks)" in resumed.stderr


def test_sigkill_mid_run_leaves_a_valid_submission_and_no_workers(
    tmp_path: Path, small_tasks: Path, cli_env: dict[str, str]
) -> None:
    process = start_run(tmp_path, small_tasks, cli_env, workers=2)
    wait_for_journal_lines(tmp_path, 1, process)
    workers = children_of(process.pid)
    assert workers, "expected task worker processes"
    process.kill()
    process.communicate(timeout=30)
    submission = json.loads((tmp_path / "submission.json").read_text())
    assert validate_submission(submission, COUNTS) == []
    deadline = time.monotonic() + 20
    while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in workers if alive(pid)], "task workers outlived the killed run"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".submission.json.")]  # no temp files


def test_sigkill_before_any_task_finishes_still_leaves_the_fallback(
    tmp_path: Path, small_tasks: Path, cli_env: dict[str, str]
) -> None:
    process = start_run(tmp_path, small_tasks, cli_env)
    target = tmp_path / "submission.json"
    deadline = time.monotonic() + 60
    while not target.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    process.kill()
    process.communicate(timeout=30)
    submission = json.loads(target.read_text())
    assert validate_submission(submission, COUNTS) == []


def test_ctrl_c_stops_an_in_process_engine_too(
    tmp_path: Path, small_tasks: Path, cli_env: dict[str, str]
) -> None:
    process = start_run(tmp_path, small_tasks, cli_env, engine="SlowSequentialEngine")
    wait_for_journal_lines(tmp_path, 1, process)
    os.killpg(process.pid, signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    submission = json.loads((tmp_path / "submission.json").read_text())
    assert validate_submission(submission, COUNTS) == []
    assert last_run(Path(cli_env["ARCFORGE_STATE_DIR"]))[-1]["data"]["status"] == "interrupted"
