"""Test doubles for the solver runtime: engines that return fixed program text.

These are NOT shipped engines. Tests select them with `--engine tests.solver.doubles:ClassName`,
the plug-in path form of `--engine`, so the runtime drives them exactly as it drives real engines.
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np

from arcforge_solver.engines.protocol import Candidate, Deadline, EngineContext, EngineResult
from arcforge_solver.tasks.model import Grid, Task

FIXED_PROGRAMS = (
    "def solve(grid):\n    return np.rot90(grid, 2)\n",
    "def solve(grid):\n    return grid[::-1]\n",
    "def solve(grid):\n    return grid[:, ::-1]\n",
    "def solve(grid):\n    return grid.T\n",
)


def run_trusted(source: str, grid: Grid) -> Grid | None:
    """Run a fixed (trusted) program in-process, as a search engine runs its own programs."""
    namespace: dict[str, Any] = {"np": np}
    exec(source, namespace)
    try:
        out = np.asarray(namespace["solve"](grid.copy()), dtype=np.int8)
    except Exception:
        return None
    return out if out.ndim == 2 else None


def rank_programs(task: Task, programs: tuple[str, ...]) -> list[Candidate]:
    candidates = []
    for order, source in enumerate(programs):
        exact = 0
        for pair in task.train:
            out = run_trusted(source, pair.input)
            exact += out is not None and pair.output is not None and np.array_equal(out, pair.output)
        predictions = tuple(run_trusted(source, grid) for grid in task.test_inputs)
        candidates.append(
            Candidate(
                source=source,
                trusted=True,
                train_fitness=exact / len(task.train),
                train_exact=exact,
                predictions=predictions,
                complexity=order,
                origin="test-double",
            )
        )
    candidates.sort(key=lambda c: (-c.train_fitness, c.complexity))
    return candidates


class FixedProgramEngine:
    """Test double: ranks four fixed programs (rotate 180, flips, transpose) by train fitness."""

    name = "fixed-program-double"
    parallel = True

    def __init__(self, **options: Any) -> None:
        self.options = options
        builds = os.environ.get("ARCFORGE_DOUBLE_BUILDS")
        if builds:  # one line per engine built, by process: a test counts builds per worker
            with open(os.path.join(builds, str(os.getpid())), "a") as log:
                log.write("built\n")

    def solve(self, task: Task, deadline: Deadline, context: EngineContext) -> EngineResult:
        if context.emit is not None:
            remaining = context.run.tasks_remaining
            context.emit(
                "log", level="info", message=f"double solving {task.task_id}, {remaining} tasks remaining"
            )
        if any(pair.output is not None for pair in task.test):
            raise AssertionError("the runtime leaked test outputs to an engine")
        return EngineResult(
            task.task_id, rank_programs(task, FIXED_PROGRAMS), {"evaluations": len(FIXED_PROGRAMS)}
        )


class SequentialFixedProgramEngine(FixedProgramEngine):
    """Test double: as FixedProgramEngine, but asks to run in the runtime's own process."""

    parallel = False


class SlowEngine(FixedProgramEngine):
    """Test double: uses its whole deadline (or ARCFORGE_DOUBLE_SLEEP seconds) before answering.
    With ARCFORGE_DOUBLE_PIDS set to a folder, it first writes `<task id>.<pid>` there, so that a
    test can find (and kill) the worker process solving a task."""

    def solve(self, task: Task, deadline: Deadline, context: EngineContext) -> EngineResult:
        pids = os.environ.get("ARCFORGE_DOUBLE_PIDS")
        if pids:
            open(os.path.join(pids, f"{task.task_id}.{os.getpid()}"), "w").close()
        pause = float(os.environ.get("ARCFORGE_DOUBLE_SLEEP", "0") or 0) or deadline.remaining()
        time.sleep(min(pause, deadline.remaining()))
        return super().solve(task, deadline, context)


class SlowSequentialEngine(SlowEngine):
    """Test double: SlowEngine, run in the runtime's own process."""

    parallel = False


class CrashingEngine(FixedProgramEngine):
    """Test double: raises on every task whose id ends in a digit below 5, answers the others.
    ARCFORGE_DOUBLE_CRASH=0 cures it (to test that a rerun retries failed tasks)."""

    def solve(self, task: Task, deadline: Deadline, context: EngineContext) -> EngineResult:
        if os.environ.get("ARCFORGE_DOUBLE_CRASH", "1") == "1" and task.task_id[-1] in "01234":
            raise RuntimeError(f"double crashed on {task.task_id}")
        return super().solve(task, deadline, context)


class HangingEngine(FixedProgramEngine):
    """Test double: ignores its deadline and never returns."""

    def solve(self, task: Task, deadline: Deadline, context: EngineContext) -> EngineResult:
        while True:
            time.sleep(1)


class SandboxedEngine(FixedProgramEngine):
    """Test double: evaluates its fixed programs through the runtime's sandbox pool, as an LLM engine
    evaluates untrusted programs."""

    def solve(self, task: Task, deadline: Deadline, context: EngineContext) -> EngineResult:
        assert context.sandbox is not None
        candidates = []
        for order, source in enumerate(FIXED_PROGRAMS):
            train = context.sandbox.run_program(source, [p.input for p in task.train])
            exact = sum(
                out is not None and pair.output is not None and np.array_equal(out, pair.output)
                for out, pair in zip(train.outputs, task.train, strict=True)
            )
            test = context.sandbox.run_program(source, list(task.test_inputs))
            candidates.append(
                Candidate(source, False, exact / len(task.train), exact, test.outputs, order, "test-double")
            )
        candidates.sort(key=lambda c: (-c.train_fitness, c.complexity))
        return EngineResult(task.task_id, candidates)


class BrokenOptionsEngine(FixedProgramEngine):
    """Test double: cannot be built (like an engine given a wrong model folder)."""

    def __init__(self, **options: Any) -> None:
        raise ValueError("double: no model here")


class ErrorMessageEngine(FixedProgramEngine):
    """Test double: fails every task with the text of ARCFORGE_DOUBLE_ERROR (which may hold a secret)."""

    def solve(self, task: Task, deadline: Deadline, context: EngineContext) -> EngineResult:
        raise RuntimeError(os.environ.get("ARCFORGE_DOUBLE_ERROR", "double error"))
