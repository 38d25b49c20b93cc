"""Submissions: distinct attempts, fallbacks, atomic writes and `arcforge-solve validate`."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from arcforge_solver.engines.protocol import Candidate
from arcforge_solver.runtime.submission import (
    SubmissionFile,
    choose_attempts,
    fallback_entries,
    validate_submission,
    write_json_atomic,
)
from tests.solver.conftest import PYTHON

TEST_IN = np.array([[5, 5], [5, 0]], dtype=np.int8)


def cand(*predictions: list[list[int]] | None, fitness: float = 1.0) -> Candidate:
    preds = tuple(None if p is None else np.array(p, dtype=np.int8) for p in predictions)
    return Candidate("def solve(grid):\n    return grid\n", True, fitness, 0, preds)


def test_attempts_are_the_two_best_distinct_predictions() -> None:
    ranked = [cand([[1]]), cand([[1]]), cand([[2]]), cand([[3]])]
    chosen = choose_attempts(ranked, [TEST_IN])
    assert chosen.entries == [{"attempt_1": [[1]], "attempt_2": [[2]]}]
    assert chosen.distinct == 2


def test_missing_and_invalid_predictions_are_skipped_and_the_input_fills_in() -> None:
    ranked = [cand(None, [[7]]), cand([[10]], [[7]]), cand([[4]], [[7]])]
    chosen = choose_attempts(ranked, [TEST_IN, TEST_IN])
    assert chosen.entries[0] == {"attempt_1": [[4]], "attempt_2": TEST_IN.tolist()}
    assert chosen.entries[1] == {"attempt_1": [[7]], "attempt_2": TEST_IN.tolist()}
    assert chosen.distinct == 1
    empty = choose_attempts([], [TEST_IN])
    assert empty.entries == fallback_entries([TEST_IN]) and empty.distinct == 0


def test_validate_finds_every_kind_of_problem() -> None:
    good = {"a": [{"attempt_1": [[1]], "attempt_2": [[2, 3]]}], "b": fallback_entries([TEST_IN, TEST_IN])}
    assert validate_submission(good, {"a": 1, "b": 2}) == []
    bad = {
        "a": [{"attempt_1": [[1], [2, 3]], "attempt_2": [[1]]}],
        "b": [{"attempt_1": [[1]]}],
        "c": [{"attempt_1": [[1.5]], "attempt_2": [[1]]}],
        "extra": [],
    }
    problems = validate_submission(bad, {"a": 1, "b": 2, "c": 1, "d": 1})
    assert "task a: test input 0: attempt_1 is not a rectangular 1-30 x 1-30 grid of integers 0-9" in problems
    assert "task b: 1 entries for 2 test inputs" in problems
    assert "task b: test input 0: missing attempt_2" in problems
    assert "task c: test input 0: attempt_1 is not a rectangular 1-30 x 1-30 grid of integers 0-9" in problems
    assert "task d: missing" in problems
    assert "task extra: not in the challenges" in problems
    assert validate_submission([], {"a": 1}) == ["submission must be a JSON object of tasks by id, not list"]


def test_atomic_write_leaves_old_file_when_serialising_fails(tmp_path: Path) -> None:
    target = tmp_path / "sub.json"
    write_json_atomic(target, {"a": 1})
    with pytest.raises(TypeError):
        write_json_atomic(target, {"a": object()})
    assert json.loads(target.read_text()) == {"a": 1}
    assert os.listdir(tmp_path) == ["sub.json"]  # no temporary file left behind


def test_submission_file_keeps_fallbacks_until_set(tmp_path: Path) -> None:
    sub = SubmissionFile(tmp_path / "s.json", {"t": [TEST_IN], "u": [[[1]]]})
    sub.write()
    assert json.loads((tmp_path / "s.json").read_text())["u"] == [{"attempt_1": [[1]], "attempt_2": [[1]]}]
    sub.set("t", [{"attempt_1": [[9]], "attempt_2": [[8]]}])
    sub.write()
    assert json.loads((tmp_path / "s.json").read_text())["t"][0]["attempt_1"] == [[9]]
    with pytest.raises(ValueError, match="2 entries for 1 test inputs"):
        sub.set("t", fallback_entries([TEST_IN, TEST_IN]))


def test_validate_cli_exit_codes(tmp_path: Path, small_tasks: Path) -> None:
    submission = tmp_path / "submission.json"
    counts = {"flip0": 1, "flip1": 2, "flip7": 1, "hard5": 1, "hard8": 1}
    submission.write_text(json.dumps({k: fallback_entries([[[1]]] * n) for k, n in counts.items()}))
    ok = subprocess.run(
        [PYTHON, "-m", "arcforge_solver", "validate", str(submission), "--tasks", str(small_tasks)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    assert "valid: 5 tasks, 6 test inputs" in ok.stdout
    data = json.loads(submission.read_text())
    del data["hard8"]
    data["flip1"] = data["flip1"][:1]
    submission.write_text(json.dumps(data))
    bad = subprocess.run(
        [PYTHON, "-m", "arcforge_solver", "validate", str(submission), "--tasks", str(small_tasks)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 1
    assert "task hard8: missing" in bad.stderr and "task flip1: 1 entries for 2 test inputs" in bad.stderr
