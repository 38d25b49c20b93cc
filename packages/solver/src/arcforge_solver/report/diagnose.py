"""Where a task's best program goes wrong: it is run again on each train pair, in the sandbox (a
journal is a file like any other, so its program text is not trusted), and compared cell by cell."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from arcforge_solver.report.run_view import TaskView, wrong_cells
from arcforge_solver.sandbox.pool import SandboxError, SandboxPool
from arcforge_solver.tasks.model import to_grid, to_list

SHOWN_CELLS = 6


@dataclass(frozen=True)
class PairVerdict:
    """What the program made of one train pair."""

    index: int
    right: bool
    why: str
    """Empty when right; else the shape, the wrong cells, or the program's error."""


def diagnose(task: TaskView, timeout_s: float = 5.0) -> list[PairVerdict] | str:
    """A verdict per train pair, or one sentence saying why the program could not be checked."""
    if not task.program:
        return "no program was recorded for this task"
    try:
        with SandboxPool(workers=1, timeout_s=timeout_s) as pool:
            run = pool.run_program(task.program, [to_grid(i) for i, _o in task.train])
    except SandboxError as exc:
        return f"the sandbox could not start: {exc}"
    verdicts = []
    for index, ((_input, expected), output, error) in enumerate(
        zip(task.train, run.outputs, run.errors, strict=True)
    ):
        if error is not None:
            verdicts.append(PairVerdict(index, False, f"{error.kind} error: {error.message}"))
            continue
        assert output is not None
        got = to_list(np.asarray(output))
        verdicts.append(_compare(index, got, expected))
    return verdicts


def _compare(index: int, got: list[list[int]], expected: list[list[int]]) -> PairVerdict:
    shape_got, shape_want = (len(got), len(got[0])), (len(expected), len(expected[0]))
    if shape_got != shape_want:
        return PairVerdict(
            index, False, f"wrong size: {shape_got[0]}x{shape_got[1]}, want {shape_want[0]}x{shape_want[1]}"
        )
    cells = sorted(wrong_cells(got, expected))
    if not cells:
        return PairVerdict(index, True, "")
    listed = ", ".join(f"({r},{c}) {got[r][c]} not {expected[r][c]}" for r, c in cells[:SHOWN_CELLS])
    more = f" and {len(cells) - SHOWN_CELLS} more" if len(cells) > SHOWN_CELLS else ""
    return PairVerdict(index, False, f"{len(cells)} wrong cells: {listed}{more}")
