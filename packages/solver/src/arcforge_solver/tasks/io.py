"""Reading ARC tasks and their solutions from disk, with one clear error per bad task.

Three inputs are understood:
- a folder of per-task JSON files (`<task id>.json` holding `{"train": [...], "test": [...]}`);
- a single task file of that shape;
- Kaggle's combined `*_challenges.json` (`{task_id: {"train", "test"}}`), with the matching
  `*_solutions.json` (`{task_id: [output, ...]}`) picked up from beside it when present.

Every grid is checked: rectangular, 1-30 x 1-30, integers 0-9. A bad task is reported and left out;
the others load. Where a bad task's test inputs are still valid grids, they are kept so that the
submission can carry fallback entries for it.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from arcforge_solver.tasks.model import Grid, GridList, Pair, Task, to_grid, to_list

MAX_SIDE = 30
MAX_JSON_DEPTH = 16
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_OPENERS = np.frombuffer(b"[{", dtype=np.uint8)
_CLOSERS = np.frombuffer(b"]}", dtype=np.uint8)
CHALLENGES_SUFFIX = "_challenges.json"
SOLUTIONS_SUFFIX = "_solutions.json"


class TaskFormatError(ValueError):
    """One thing wrong with one task: names the file, the task, the place and the fault."""

    def __init__(self, file: str, task_id: str | None, where: str, problem: str) -> None:
        self.file = file
        self.task_id = task_id
        self.where = where
        self.problem = problem
        parts = [file]
        if task_id is not None:
            parts.append(f"task {task_id}")
        if where:
            parts.append(where)
        super().__init__(": ".join(parts) + f": {problem}")


class TaskSourceError(OSError):
    """The input as a whole cannot be read (missing path, unreadable or not JSON at all)."""


@dataclass(frozen=True)
class TaskProblem:
    """A task left out of the run, and what the submission can still say for it."""

    error: TaskFormatError
    fallback_inputs: tuple[GridList, ...] | None = None
    """Its test inputs when they are valid grids, so the submission stays complete."""


@dataclass
class LoadedTasks:
    tasks: list[Task] = field(default_factory=list)
    problems: list[TaskProblem] = field(default_factory=list)
    solutions: dict[str, list[Grid]] = field(default_factory=dict)
    """Known test outputs by task id (from the task files or a solutions file)."""
    solutions_source: str = ""

    @property
    def has_solutions(self) -> bool:
        return bool(self.solutions)


def check_grid(value: Any, file: str, task_id: str | None, where: str) -> Grid:
    """The grid as an int8 array, or a TaskFormatError saying what is wrong with it."""
    if not isinstance(value, list) or not value:
        raise TaskFormatError(file, task_id, where, "grid must be a non-empty list of rows")
    if len(value) > MAX_SIDE:
        raise TaskFormatError(file, task_id, where, f"grid has {len(value)} rows; at most {MAX_SIDE} allowed")
    width = None
    for r, row in enumerate(value):
        if not isinstance(row, list) or not row:
            raise TaskFormatError(file, task_id, where, f"row {r} must be a non-empty list")
        if width is None:
            width = len(row)
        elif len(row) != width:
            raise TaskFormatError(
                file,
                task_id,
                where,
                f"grid is not rectangular: row {r} has {len(row)} cells, row 0 has {width}",
            )
        for c, cell in enumerate(row):
            if isinstance(cell, bool) or not isinstance(cell, int) or not 0 <= cell <= 9:
                raise TaskFormatError(
                    file, task_id, where, f"cell [{r}][{c}] is {cell!r}; colours are integers 0-9"
                )
    assert width is not None
    if width > MAX_SIDE:
        raise TaskFormatError(file, task_id, where, f"grid has {width} columns; at most {MAX_SIDE} allowed")
    return to_grid(value)


def parse_task(task_id: str, body: Any, file: str) -> Task:
    """A Task from `{"train": [{input, output}], "test": [{input, output?}]}`, checked."""
    if not isinstance(body, Mapping):
        raise TaskFormatError(
            file, task_id, "", f"task must be an object with train and test, not {type(body).__name__}"
        )
    for key in ("train", "test"):
        if key not in body:
            raise TaskFormatError(file, task_id, "", f"missing {key!r}")
        if not isinstance(body[key], list) or not body[key]:
            raise TaskFormatError(file, task_id, key, "must be a non-empty list of pairs")
    train = tuple(
        _parse_pair(pair, file, task_id, f"train pair {i}", need_output=True)
        for i, pair in enumerate(body["train"])
    )
    test = tuple(
        _parse_pair(pair, file, task_id, f"test pair {i}", need_output=False)
        for i, pair in enumerate(body["test"])
    )
    return Task(task_id=task_id, train=train, test=test, source=file)


def _parse_pair(pair: Any, file: str, task_id: str, where: str, need_output: bool) -> Pair:
    if not isinstance(pair, Mapping):
        raise TaskFormatError(file, task_id, where, "must be an object with input and output")
    if "input" not in pair:
        raise TaskFormatError(file, task_id, where, "missing 'input'")
    grid_in = check_grid(pair["input"], file, task_id, f"{where} input")
    if "output" not in pair or pair["output"] is None:
        if need_output:
            raise TaskFormatError(file, task_id, where, "missing 'output'")
        return Pair(grid_in)
    return Pair(grid_in, check_grid(pair["output"], file, task_id, f"{where} output"))


def _fallback_inputs(body: Any) -> tuple[GridList, ...] | None:
    """The raw test inputs of a bad task, when each one is still a valid grid."""
    try:
        tests = body["test"]
        return tuple(to_list(check_grid(pair["input"], "", None, "")) for pair in tests) or None
    except (TypeError, KeyError, IndexError, TaskFormatError):
        return None


def nesting_depth(text: str) -> int:
    """How deep the brackets of a JSON text nest, outside strings (vectorised: task files are MBs)."""
    brackets = _JSON_STRING.sub("", text).encode("utf-8", "replace")
    codes = np.frombuffer(brackets, dtype=np.uint8)
    steps = np.isin(codes, _OPENERS).astype(np.int32) - np.isin(codes, _CLOSERS).astype(np.int32)
    return int(np.cumsum(steps).max(initial=0))


def read_json(path: Path) -> Any:
    """The parsed JSON of one file; any fault is one TaskSourceError that names the file.

    The nesting is bounded before parsing: ARC files nest 6 deep, and a 100,000-deep `[[[…]]]` would
    otherwise raise RecursionError out of the parser."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TaskSourceError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TaskSourceError(f"{path}: cannot read: {exc}") from None
    depth = nesting_depth(text)
    if depth > MAX_JSON_DEPTH:
        raise TaskSourceError(
            f"{path}: JSON nested {depth} levels deep; ARC files nest at most {MAX_JSON_DEPTH}"
        )
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise TaskSourceError(
            f"{path}: not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None


def is_challenges_file(path: Path, body: Any = None) -> bool:
    """Kaggle's combined shape: by name, or an object of task objects instead of one task."""
    if path.name.endswith(CHALLENGES_SUFFIX):
        return True
    return isinstance(body, Mapping) and "train" not in body and "test" not in body and bool(body)


def solutions_beside(challenges: Path) -> Path | None:
    if not challenges.name.endswith(CHALLENGES_SUFFIX):
        return None
    candidate = challenges.with_name(challenges.name[: -len(CHALLENGES_SUFFIX)] + SOLUTIONS_SUFFIX)
    return candidate if candidate.is_file() else None


def load_tasks(path: str | Path, solutions: str | Path | None = None) -> LoadedTasks:
    """Load a folder of task files, one task file, or a Kaggle challenges file (see the module doc).

    `solutions` names a Kaggle-style solutions file; without it, a `*_solutions.json` beside a
    challenges file is used, and test outputs inside task files count as solutions.
    Raises TaskSourceError when the input as a whole is unusable; bad tasks go to `.problems`.
    """
    root = Path(path)
    loaded = LoadedTasks()
    if root.is_dir():
        files = sorted(p for p in root.iterdir() if p.suffix == ".json" and p.is_file())
        if not files:
            raise TaskSourceError(f"{root}: no .json task files in this folder")
        for file in files:
            try:
                body = read_json(file)
            except TaskSourceError as exc:
                loaded.problems.append(
                    TaskProblem(TaskFormatError(str(file), file.stem, "", str(exc).split(": ", 1)[-1]))
                )
                continue
            _add_task(loaded, file.stem, body, str(file))
    elif root.is_file():
        body = read_json(root)
        if is_challenges_file(root, body):
            if not isinstance(body, Mapping):
                raise TaskSourceError(f"{root}: a challenges file must be an object of tasks by id")
            for task_id, task_body in body.items():
                _add_task(loaded, str(task_id), task_body, str(root))
            beside = solutions_beside(root)
            if solutions is None and beside is not None:
                solutions = beside
        else:
            _add_task(loaded, root.stem, body, str(root))
    else:
        raise TaskSourceError(f"{root}: no such file or folder")
    if solutions is not None and Path(solutions).is_dir():
        loaded.solutions, loaded.solutions_source = read_solutions(solutions)
    elif solutions is not None:
        loaded.solutions = load_solutions(solutions, loaded.tasks)
        loaded.solutions_source = str(solutions)
    elif loaded.solutions:
        loaded.solutions_source = str(root)
    return loaded


def _add_task(loaded: LoadedTasks, task_id: str, body: Any, file: str) -> None:
    try:
        task = parse_task(task_id, body, file)
    except TaskFormatError as exc:
        loaded.problems.append(TaskProblem(exc, _fallback_inputs(body)))
        return
    loaded.tasks.append(task)
    outputs = [pair.output for pair in task.test]
    if all(out is not None for out in outputs):
        loaded.solutions[task_id] = [out for out in outputs if out is not None]


def load_solutions(path: str | Path, tasks: Iterable[Task] = ()) -> dict[str, list[Grid]]:
    """Kaggle's `{task_id: [output, ...]}`; checks each grid and, given tasks, the count of outputs."""
    file = Path(path)
    body = read_json(file)
    if not isinstance(body, Mapping):
        raise TaskSourceError(f"{file}: a solutions file must be an object of output lists by task id")
    by_id = {task.task_id: task for task in tasks}
    result: dict[str, list[Grid]] = {}
    for task_id, outputs in body.items():
        if not isinstance(outputs, list) or not outputs:
            raise TaskFormatError(
                str(file), task_id, "", "solutions must be a non-empty list of output grids"
            )
        grids = [check_grid(out, str(file), task_id, f"test output {i}") for i, out in enumerate(outputs)]
        task = by_id.get(task_id)
        if task is not None and len(grids) != len(task.test):
            raise TaskFormatError(
                str(file), task_id, "", f"{len(grids)} solution grids for {len(task.test)} test inputs"
            )
        result[str(task_id)] = grids
    return result


def is_solutions_body(body: Any) -> bool:
    """Kaggle's solutions shape by content: an object whose every value is a list of grids (a
    challenges file holds task objects instead, a task file has train and test)."""
    if not isinstance(body, Mapping) or not body or "train" in body or "test" in body:
        return False
    return all(
        isinstance(outputs, list) and all(isinstance(grid, list) for grid in outputs)
        for outputs in body.values()
    )


def read_solutions(path: str | Path) -> tuple[dict[str, list[Grid]], str]:
    """Known test outputs from any file or folder, told apart by content, not by name: a solutions
    file, or tasks (a folder, a task file, a challenges file) whose test pairs carry outputs.
    Returns the solutions and what they were read from."""
    source = Path(path)
    if source.is_file() and is_solutions_body(read_json(source)):
        return load_solutions(source), str(source)
    loaded = load_tasks(source)
    return loaded.solutions, loaded.solutions_source or str(source)


def without_test_outputs(task: Task) -> Task:
    """The task as an engine may see it: test outputs removed, so fitness can use train pairs only."""
    if all(pair.output is None for pair in task.test):
        return task
    return Task(
        task_id=task.task_id,
        train=task.train,
        test=tuple(Pair(pair.input) for pair in task.test),
        source=task.source,
        meta=dict(task.meta),
    )


def task_fingerprint(task: Task) -> str:
    """A short hash of a task's train pairs and test inputs: a resumed run reuses a result only
    for the very same task."""
    digest = hashlib.sha256()
    grids = [g for pair in task.train for g in (pair.input, pair.output)] + [pair.input for pair in task.test]
    for grid in grids:
        if grid is None:
            continue
        array = np.ascontiguousarray(grid, dtype=np.int8)
        digest.update(f"{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()[:16]


def task_to_json(task: Task) -> dict[str, Any]:
    return {
        "train": [
            {"input": to_list(p.input), "output": to_list(p.output)}
            for p in task.train
            if p.output is not None
        ],
        "test": [{"input": to_list(p.input)} for p in task.test],
    }


def grids_equal(a: Grid | GridList | None, b: Grid | GridList | None) -> bool:
    if a is None or b is None:
        return False
    left, right = np.asarray(a), np.asarray(b)
    return left.shape == right.shape and bool(np.array_equal(left, right))


def format_problems(problems: Sequence[TaskProblem]) -> list[str]:
    return [str(problem.error) for problem in problems]
