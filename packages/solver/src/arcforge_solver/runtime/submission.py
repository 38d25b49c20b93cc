"""The submission file: `{task_id: [{"attempt_1": grid, "attempt_2": grid}, ...]}`, one entry per test
input in order, for every task.

It is written atomically (a temporary file in the same folder, flushed to disk, then renamed over the
old one), so a reader, a crash or a kill never sees half a file. A run writes the fallback submission
first (each test input as its own guess) and then replaces a task's entries as the task finishes.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from arcforge_solver.engines.protocol import Candidate
from arcforge_solver.tasks.io import MAX_SIDE, grids_equal
from arcforge_solver.tasks.model import Grid, GridList, to_list

Entry = dict[str, GridList]
ATTEMPT_KEYS = ("attempt_1", "attempt_2")


def fallback_entries(test_inputs: Sequence[Grid | GridList]) -> list[Entry]:
    """Each test input as both attempts: valid, and right for the rare identity task."""
    return [{"attempt_1": _as_list(g), "attempt_2": _as_list(g)} for g in test_inputs]


def _as_list(grid: Grid | GridList) -> GridList:
    return (
        to_list(np.asarray(grid)) if isinstance(grid, np.ndarray) else [list(map(int, row)) for row in grid]
    )


@dataclass(frozen=True)
class ChosenAttempts:
    entries: list[Entry]
    distinct: int
    """How many distinct candidate-made attempts every test input got (0, 1 or 2)."""


def choose_attempts(candidates: Sequence[Candidate], test_inputs: Sequence[Grid]) -> ChosenAttempts:
    """attempt_1 and attempt_2 for each test input from candidates ranked best first.

    attempt_1 is the best candidate's valid prediction; attempt_2 is the next-ranked prediction that
    differs from it. Where candidates give fewer than two, the test input fills in (and where it would
    repeat attempt_1, attempt_1 is repeated).
    """
    entries: list[Entry] = []
    distinct_per_input: list[int] = []
    for index, test_input in enumerate(test_inputs):
        picked: list[Grid] = []
        for candidate in candidates:
            if index >= len(candidate.predictions):
                continue
            prediction = candidate.predictions[index]
            if prediction is None or not is_valid_grid(prediction):
                continue
            if any(grids_equal(prediction, chosen) for chosen in picked):
                continue
            picked.append(prediction)
            if len(picked) == 2:
                break
        distinct_per_input.append(len(picked))
        if not picked:
            picked.append(test_input)
        if len(picked) == 1:
            picked.append(test_input if not grids_equal(test_input, picked[0]) else picked[0])
        entries.append({"attempt_1": _as_list(picked[0]), "attempt_2": _as_list(picked[1])})
    return ChosenAttempts(entries, min(distinct_per_input, default=0))


def is_valid_grid(value: Any) -> bool:
    """A rectangular 1-30 x 1-30 grid of integers 0-9, as an array or nested lists."""
    try:
        array = np.asarray(value)
    except (ValueError, TypeError):
        return False
    if array.ndim != 2 or not (1 <= array.shape[0] <= MAX_SIDE and 1 <= array.shape[1] <= MAX_SIDE):
        return False
    if array.dtype == np.bool_ or not np.issubdtype(array.dtype, np.integer):
        return False
    return bool(((array >= 0) & (array <= 9)).all())


def write_json_atomic(path: str | Path, value: Any) -> None:
    """Write JSON so that `path` holds either the old or the new whole file, never a torn one."""
    write_text_atomic(path, json.dumps(value, separators=(",", ":")))


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write text through a temporary file in the same folder, flushed, then renamed over `path`."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise


class SubmissionFile:
    """The submission of a run, kept in memory in task order and rewritten atomically on each change."""

    def __init__(self, path: str | Path, fallbacks: Mapping[str, Sequence[Grid | GridList]]) -> None:
        self.path = Path(path)
        self.written = False
        """Whether this run has put a whole submission at `path`."""
        self.entries: dict[str, list[Entry]] = {
            task_id: fallback_entries(inputs) for task_id, inputs in fallbacks.items()
        }

    def set(self, task_id: str, entries: list[Entry]) -> None:
        if task_id not in self.entries:
            raise KeyError(f"task {task_id} is not part of this submission")
        if len(entries) != len(self.entries[task_id]):
            raise ValueError(
                f"task {task_id}: {len(entries)} entries for {len(self.entries[task_id])} test inputs"
            )
        self.entries[task_id] = entries

    def write(self) -> None:
        write_json_atomic(self.path, self.entries)
        self.written = True


def validate_submission(submission: Any, test_counts: Mapping[str, int]) -> list[str]:
    """Every problem with a submission against the challenges' test-input counts; empty when valid."""
    problems: list[str] = []
    if not isinstance(submission, Mapping):
        return [f"submission must be a JSON object of tasks by id, not {type(submission).__name__}"]
    for task_id, count in test_counts.items():
        if task_id not in submission:
            problems.append(f"task {task_id}: missing")
            continue
        entries = submission[task_id]
        if not isinstance(entries, list):
            problems.append(f"task {task_id}: must be a list of attempt objects, one per test input")
            continue
        if len(entries) != count:
            problems.append(f"task {task_id}: {len(entries)} entries for {count} test inputs")
        for i, entry in enumerate(entries):
            if not isinstance(entry, Mapping):
                problems.append(
                    f"task {task_id}: test input {i}: must be an object with attempt_1 and attempt_2"
                )
                continue
            for key in ATTEMPT_KEYS:
                if key not in entry:
                    problems.append(f"task {task_id}: test input {i}: missing {key}")
                elif not _is_valid_json_grid(entry[key]):
                    problems.append(
                        f"task {task_id}: test input {i}: {key} is not a rectangular 1-30 x 1-30 grid of integers 0-9"
                    )
    for task_id in submission:
        if task_id not in test_counts:
            problems.append(f"task {task_id}: not in the challenges")
    return problems


def _is_valid_json_grid(value: Any) -> bool:
    if not isinstance(value, list) or not value or not all(isinstance(row, list) for row in value):
        return False
    if any(isinstance(cell, bool) or not isinstance(cell, int) for row in value for cell in row):
        return False
    return len({len(row) for row in value}) == 1 and is_valid_grid(value)
