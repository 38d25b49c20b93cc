"""Shared fixtures of the solver suite: a few small hand-made tasks on disk, and a subprocess env."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


def flipped_task(grids: list[list[list[int]]], tests: list[list[list[int]]]) -> dict[str, Any]:
    """A task whose answer is the grid upside down (the test doubles solve it)."""
    return {
        "train": [{"input": g, "output": g[::-1]} for g in grids],
        "test": [{"input": g, "output": g[::-1]} for g in tests],
    }


def write_task_files(folder: Path, tasks: dict[str, Any]) -> Path:
    """One `<task id>.json` per task in a new folder; the folder."""
    folder.mkdir()
    for task_id, body in tasks.items():
        (folder / f"{task_id}.json").write_text(json.dumps(body))
    return folder


@pytest.fixture
def small_tasks(tmp_path: Path) -> Path:
    """A folder of five task files: three the test doubles solve, two they do not."""
    folder = tmp_path / "tasks"
    folder.mkdir()
    tasks = {
        "flip0": flipped_task([[[1, 2], [3, 4]], [[5, 0, 0], [0, 6, 0]]], [[[7, 8], [9, 1]]]),
        "flip1": flipped_task([[[1], [2], [3]], [[4, 4], [0, 5]]], [[[2, 3, 4]], [[1], [9]]]),
        "flip7": flipped_task([[[0, 1], [1, 0], [2, 2]]], [[[3, 3, 3], [0, 0, 0]]]),
        "hard5": {
            "train": [{"input": [[1, 2]], "output": [[3]]}, {"input": [[4, 4]], "output": [[8]]}],
            "test": [{"input": [[2, 5]], "output": [[7]]}],
        },
        "hard8": {
            "train": [{"input": [[1, 0], [0, 0]], "output": [[1, 1], [1, 1]]}],
            "test": [{"input": [[0, 2], [0, 0]], "output": [[2, 2], [2, 2]]}],
        },
    }
    for task_id, body in tasks.items():
        (folder / f"{task_id}.json").write_text(json.dumps(body))
    return folder


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    """Environment for `python -m arcforge_solver` subprocesses that use the test-double engines."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), env.get("PYTHONPATH", "")])
    env["ARCFORGE_STATE_DIR"] = str(tmp_path / "state")
    env.pop("ARCFORGE_DOUBLE_SLEEP", None)
    return env


PYTHON = sys.executable
DOUBLE = "tests.solver.doubles"
