"""Checking a fetched submission.json: with the solver's own validator against the tasks, or by its shape."""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from arcforge_kaggle_publish.errors import PublishError

# The copy of the challenges arcforge's notebook answered, written beside submission.json.
CHALLENGES_COPY = "arcforge-challenges.json"
MAX_GRID_SIDE = 30  # ARC grids are 1x1 to 30x30, cells 0-9
MAX_DEPTH = 64


def solver_command() -> list[str]:
    """How to run the solver's CLI: arcforge-solve beside this interpreter, on PATH, or `python -m`."""
    beside = Path(sys.executable).parent / ("arcforge-solve.exe" if os.name == "nt" else "arcforge-solve")
    if beside.is_file():
        return [str(beside)]
    on_path = shutil.which("arcforge-solve")
    if on_path:
        return [on_path]
    if importlib.util.find_spec("arcforge_solver") is not None:  # finds it without importing it
        return [sys.executable, "-m", "arcforge_solver"]
    raise PublishError(
        "arcforge-solve is not installed, so the submission cannot be validated",
        code="config",
        advice="pip install arcforge-solver (or the workspace: pip install -r requirements.txt)",
    )


def validate_submission(submission: Path, tasks: Path) -> str:
    """Run `arcforge-solve validate`; its output on success, a PublishError with its words on failure."""
    done = subprocess.run(
        [*solver_command(), "validate", str(submission), "--tasks", str(tasks)],
        capture_output=True,
        text=True,
        check=False,
    )
    words = (done.stdout + done.stderr).strip()
    if done.returncode != 0:
        raise PublishError(f"{submission} is not a valid submission: {words}", code="invalid_submission")
    return words


def read_submission(path: Path) -> dict[str, Any]:
    """submission.json as a dict; a PublishError naming the file when it is not JSON or not an object."""
    try:
        text = path.read_text(encoding="utf-8")
        if _nesting(text) > MAX_DEPTH:
            raise ValueError(f"nested deeper than {MAX_DEPTH} levels")
        data = json.loads(text)
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise PublishError(f"{path} is not JSON: {exc}", code="invalid_submission") from None
    if not isinstance(data, dict):
        raise PublishError(f"{path} is not a JSON object of task ids", code="invalid_submission")
    return data


def _nesting(text: str) -> int:
    depth = deepest = 0
    for char in text:
        if char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _grid_problem(grid: object) -> str | None:
    if not isinstance(grid, list) or not 1 <= len(grid) <= MAX_GRID_SIDE:
        return "is not a list of 1-30 rows"
    width = len(grid[0]) if isinstance(grid[0], list) else -1
    for row in grid:
        if not isinstance(row, list) or len(row) != width or not 1 <= width <= MAX_GRID_SIDE:
            return "has rows that are not lists of one common width (1-30)"
        if not all(type(cell) is int and 0 <= cell <= 9 for cell in row):
            return "has a cell that is not an integer 0-9"
    return None


def check_structure(submission: dict[str, Any], path: Path) -> None:
    """Kaggle's ARC submission shape: task id → one {attempt_1, attempt_2} grid pair per test input."""
    if not submission:
        raise PublishError(f"{path} holds no tasks", code="invalid_submission")
    for task_id, answers in submission.items():
        if not isinstance(answers, list) or not answers:
            raise PublishError(f"{path}: task {task_id} is not a list of answers", code="invalid_submission")
        for index, pair in enumerate(answers):
            if not isinstance(pair, dict) or set(pair) != {"attempt_1", "attempt_2"}:
                raise PublishError(
                    f"{path}: task {task_id} answer {index} is not {{attempt_1, attempt_2}}",
                    code="invalid_submission",
                )
            for attempt in ("attempt_1", "attempt_2"):
                problem = _grid_problem(pair[attempt])
                if problem:
                    raise PublishError(
                        f"{path}: task {task_id} answer {index} {attempt} {problem}",
                        code="invalid_submission",
                    )
