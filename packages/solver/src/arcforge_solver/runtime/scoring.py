"""Scoring a submission against known solutions, three ways.

- kaggle: Kaggle's measure. Each test output counts 1 if either attempt matches it exactly; the score
  is the mean over all test outputs of all scored tasks.
- task_fraction: the mean over tasks of each task's fraction of correct test outputs.
- tasks_fully_solved: the share of tasks whose test outputs are all correct.

A task missing from the submission, or an entry that is not a grid, counts as wrong.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from arcforge_solver.tasks.io import grids_equal
from arcforge_solver.tasks.model import Grid


@dataclass(frozen=True)
class Scores:
    kaggle: float
    task_fraction: float
    tasks_fully_solved: float
    tasks: int
    outputs: int
    outputs_correct: int
    tasks_solved: int

    def as_event(self) -> dict[str, float]:
        """The `scores` object of docs/events.md."""
        return {
            "kaggle": self.kaggle,
            "task_fraction": self.task_fraction,
            "tasks_fully_solved": self.tasks_fully_solved,
        }

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def entry_correct(entry: Any, expected: Grid) -> bool:
    """Whether either attempt of one submission entry equals the expected grid."""
    if not isinstance(entry, Mapping):
        return False
    return any(_matches(entry.get(key), expected) for key in ("attempt_1", "attempt_2"))


def _matches(attempt: Any, expected: Grid) -> bool:
    try:
        return grids_equal(attempt, expected)
    except (ValueError, TypeError):  # ragged or non-numeric attempts are simply wrong
        return False


def task_correctness(entries: Any, expected: Sequence[Grid]) -> list[bool]:
    """Per test output, whether the submission got it; a missing or short entry list is wrong."""
    if not isinstance(entries, list):
        return [False] * len(expected)
    return [i < len(entries) and entry_correct(entries[i], grid) for i, grid in enumerate(expected)]


def score_submission(
    submission: Mapping[str, Any],
    solutions: Mapping[str, Sequence[Grid]],
    task_ids: Iterable[str] | None = None,
) -> Scores:
    """The three measures over `task_ids` (default: every task in the solutions)."""
    ids = list(task_ids) if task_ids is not None else list(solutions)
    outputs = correct = solved = 0
    fraction_sum = 0.0
    for task_id in ids:
        marks = task_correctness(submission.get(task_id), solutions[task_id])
        if not marks:
            continue
        outputs += len(marks)
        correct += sum(marks)
        fraction_sum += sum(marks) / len(marks)
        solved += all(marks)
    tasks = len(ids)
    return Scores(
        kaggle=correct / outputs if outputs else 0.0,
        task_fraction=fraction_sum / tasks if tasks else 0.0,
        tasks_fully_solved=solved / tasks if tasks else 0.0,
        tasks=tasks,
        outputs=outputs,
        outputs_correct=correct,
        tasks_solved=solved,
    )


def format_scores(scores: Scores) -> str:
    return (
        f"kaggle score        {scores.kaggle:.4f}  ({scores.outputs_correct}/{scores.outputs} test outputs)\n"
        f"per-task fraction   {scores.task_fraction:.4f}\n"
        f"tasks fully solved  {scores.tasks_fully_solved:.4f}  ({scores.tasks_solved}/{scores.tasks} tasks)"
    )
