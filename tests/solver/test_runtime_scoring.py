"""The three scores on hand-made cases, in-process and through `arcforge-solve score`."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from arcforge_solver.runtime.scoring import score_submission
from tests.solver.conftest import PYTHON

A, B, C = [[1]], [[2]], [[3, 3]]
SOLUTIONS = {
    "one": [np.array(A)],  # one output
    "two": [np.array(A), np.array(B)],  # two outputs
    "three": [np.array(C), np.array(A), np.array(B)],  # three outputs
}


def entry(first: list[list[int]], second: list[list[int]]) -> dict[str, list[list[int]]]:
    return {"attempt_1": first, "attempt_2": second}


def test_either_attempt_counts_and_the_three_measures_differ() -> None:
    submission = {
        "one": [entry(B, A)],  # right on attempt_2: 1/1
        "two": [entry(A, A), entry(C, C)],  # 1/2
        "three": [entry(B, B), entry(B, B), entry(A, A)],  # 0/3
    }
    scores = score_submission(submission, SOLUTIONS)
    assert scores.outputs == 6 and scores.outputs_correct == 2
    assert scores.kaggle == pytest.approx(2 / 6)
    assert scores.task_fraction == pytest.approx((1 + 0.5 + 0) / 3)
    assert scores.tasks_fully_solved == pytest.approx(1 / 3)
    assert scores.tasks_solved == 1


def test_all_right_and_all_wrong() -> None:
    right = {
        "one": [entry(A, B)],
        "two": [entry(A, C), entry(C, B)],
        "three": [entry(C, C), entry(A, B), entry(B, A)],
    }
    assert score_submission(right, SOLUTIONS).as_event() == {
        "kaggle": 1.0,
        "task_fraction": 1.0,
        "tasks_fully_solved": 1.0,
    }
    wrong = {task_id: [entry(C, C)] * len(outs) for task_id, outs in SOLUTIONS.items()}
    wrong["three"] = [entry(A, A), entry(C, C), entry(C, C)]
    assert score_submission(wrong, SOLUTIONS).as_event() == {
        "kaggle": 0.0,
        "task_fraction": 0.0,
        "tasks_fully_solved": 0.0,
    }


def test_missing_tasks_short_lists_and_junk_entries_are_wrong_not_errors() -> None:
    submission = {"two": [entry(A, A)], "three": [{"attempt_1": "x"}, None, entry([[2, 2], [3]], B)]}
    scores = score_submission(submission, SOLUTIONS)
    assert scores.outputs_correct == 2  # "two"[0] and "three"[2] via attempt_2
    assert scores.kaggle == pytest.approx(2 / 6)
    assert scores.tasks_fully_solved == 0.0


def test_shape_matters_not_just_values() -> None:
    scores = score_submission({"one": [entry([[1, 1]], [[1], [1]])]}, {"one": [np.array([[1]])]})
    assert scores.kaggle == 0.0


def test_score_cli_json_and_text(tmp_path: Path) -> None:
    solutions = tmp_path / "arc_solutions.json"
    solutions.write_text(json.dumps({k: [g.tolist() for g in v] for k, v in SOLUTIONS.items()}))
    submission = tmp_path / "submission.json"
    submission.write_text(json.dumps({"one": [entry(B, A)], "two": [entry(A, A), entry(C, C)]}))
    done = subprocess.run(
        [PYTHON, "-m", "arcforge_solver", "score", str(submission), str(solutions), "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    scores = json.loads(done.stdout)
    assert scores["kaggle"] == pytest.approx(2 / 6)
    assert scores["task_fraction"] == pytest.approx(1.5 / 3)
    assert scores["tasks_fully_solved"] == pytest.approx(1 / 3)
    text = subprocess.run(
        [PYTHON, "-m", "arcforge_solver", "score", str(submission), str(solutions)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "kaggle score        0.3333  (2/6 test outputs)" in text
    assert "tasks fully solved  0.3333  (1/3 tasks)" in text


def test_score_cli_bad_inputs_exit_nonzero(tmp_path: Path) -> None:
    (tmp_path / "s.json").write_text("[1, 2]")
    (tmp_path / "x_solutions.json").write_text('{"a": [[[1]]]}')
    done = subprocess.run(
        [
            PYTHON,
            "-m",
            "arcforge_solver",
            "score",
            str(tmp_path / "s.json"),
            str(tmp_path / "x_solutions.json"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode != 0 and "must be a JSON object" in done.stderr
    missing = subprocess.run(
        [
            PYTHON,
            "-m",
            "arcforge_solver",
            "score",
            str(tmp_path / "nope.json"),
            str(tmp_path / "x_solutions.json"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert missing.returncode == 2 and "nope.json: no such file" in missing.stderr
