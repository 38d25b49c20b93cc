"""One typed view of a finished (or interrupted) run, gathered from the files it left.

A run leaves a submission, a journal beside it and a `test-run.jsonl` event file, and it read a task
file. A Kaggle run fetched with `arcforge-publish output` leaves the same, with the tasks as
`arcforge-challenges.json` and the events as `test-run.jsonl` beside the submission. The journal says
what the solver found (state, seconds, fitness, program, engine); the events fill in what the journal
lacks (a skipped task, a task still running when the run was stopped); the tasks give the grids.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from arcforge_events import latest_run, read_events, resolve_state_dir
from arcforge_solver.runtime.journal import Journal, JournalError, JournalRecord, journal_path_for
from arcforge_solver.runtime.run import bundled_sample
from arcforge_solver.runtime.scoring import Scores, score_submission, task_correctness
from arcforge_solver.tasks.io import LoadedTasks, TaskFormatError, TaskSourceError, load_tasks, read_json
from arcforge_solver.tasks.model import to_list

GridList = list[list[int]]
KAGGLE_CHALLENGES_COPY = "arcforge-challenges.json"
EVENTS_FILE = "test-run.jsonl"


class ReportInputError(ValueError):
    """The run's files cannot make a report: names the file and what is wrong."""


@dataclass(frozen=True)
class TestView:
    """One test input of a task, what the submission answered and, when known, the answer."""

    input: GridList
    attempts: tuple[GridList | None, GridList | None]
    expected: GridList | None = None
    correct: bool | None = None


@dataclass(frozen=True)
class TaskView:
    task_id: str
    state: str
    """done, timeout, failed, skipped, running (when the run stopped) or not run."""
    train: tuple[tuple[GridList, GridList], ...]
    tests: tuple[TestView, ...]
    seconds: float | None = None
    fitness: float | None = None
    train_solved: bool = False
    correct: bool | None = None
    engine: str | None = None
    found_by: str | None = None
    """The engine part or DSL operator that produced the best program."""
    program: str | None = None
    error: str | None = None

    @property
    def outcome(self) -> str:
        """The report's filter class: solved, failed, timeout or other."""
        if self.correct is True or (self.correct is None and self.train_solved and self.state == "done"):
            return "solved"
        if self.state == "timeout":
            return "timeout"
        if self.state in ("done", "failed"):
            return "failed"
        return "other"


@dataclass
class RunView:
    submission: Path
    tasks: list[TaskView]
    scores: Scores | None
    sources: dict[str, str] = field(default_factory=dict)
    """What each part was read from: tasks, solutions, journal, events."""
    warnings: list[str] = field(default_factory=list)

    def task(self, task_id: str) -> TaskView:
        for view in self.tasks:
            if view.task_id == task_id:
                return view
        known = ", ".join(v.task_id for v in self.tasks[:8])
        raise ReportInputError(f"{self.submission}: no task {task_id!r} in this run (tasks: {known}, …)")


def load_run_view(
    submission: Path,
    tasks: Path | None = None,
    solutions: Path | None = None,
    journal: Path | None = None,
    events: Path | None = None,
) -> RunView:
    """Gather the run that wrote `submission`; every missing or bad part is a warning, except the
    submission and the tasks, without which there is nothing to draw."""
    entries = _read_submission(submission)
    warnings: list[str] = []
    with _tasks_source(submission, tasks, entries) as (tasks_path, tasks_label):
        try:
            loaded = load_tasks(tasks_path, solutions)
        except (TaskSourceError, TaskFormatError) as exc:
            raise ReportInputError(str(exc)) from None
    warnings.extend(f"bad task left out: {problem.error}" for problem in loaded.problems)
    records = _journal_records(journal or journal_path_for(submission), warnings)
    items = _event_items(submission, events, warnings)
    views = [_task_view(task, entries.get(task.task_id), loaded, records, items) for task in loaded.tasks]
    # A run given --limit or stopped early covers part of the file: score what it ran, as the run did.
    ran = {view.task_id for view in views if view.state != "not run"}
    ids = [task.task_id for task in loaded.tasks if task.task_id in loaded.solutions]
    if ran and len(ran) < len(ids):
        warnings.append(f"the run covered {len(ran)} of {len(views)} tasks; scores are over those it ran")
        ids = [task_id for task_id in ids if task_id in ran]
    missing = [task_id for task_id in entries if task_id not in {t.task_id for t in loaded.tasks}]
    if missing:
        warnings.append(f"{len(missing)} submission tasks are not in {tasks_label}: {', '.join(missing[:5])}")
    scores = score_submission(entries, loaded.solutions, ids) if ids else None
    sources = {"tasks": tasks_label, "journal": str(journal or journal_path_for(submission))}
    if loaded.solutions_source:
        sources["solutions"] = loaded.solutions_source
    if items.source:
        sources["events"] = items.source
    return RunView(submission, views, scores, sources, warnings)


def _read_submission(path: Path) -> dict[str, Any]:
    try:
        body = read_json(path)
    except TaskSourceError as exc:
        raise ReportInputError(str(exc)) from None
    if not isinstance(body, Mapping):
        raise ReportInputError(f"{path}: a submission must be a JSON object of tasks by id")
    return dict(body)


@contextlib.contextmanager
def _tasks_source(
    submission: Path, tasks: Path | None, entries: Mapping[str, Any]
) -> Iterator[tuple[Path, str]]:
    """The tasks the run answered: as named, else the Kaggle output's copy beside the submission, else
    the bundled sample when every submitted task is one of its tasks."""
    if tasks is not None:
        yield tasks, str(tasks)
        return
    beside = submission.with_name(KAGGLE_CHALLENGES_COPY)
    if beside.is_file():
        yield beside, str(beside)
        return
    with bundled_sample() as sample:
        sample_ids = set(read_json(sample))
        if entries and set(entries) <= sample_ids:
            yield sample, "the bundled sample"
            return
    raise ReportInputError(
        f"{submission}: which tasks does it answer? Name them with --tasks (the challenges file or task "
        f"folder of the run); a Kaggle output holds them as {KAGGLE_CHALLENGES_COPY}"
    )


def _journal_records(path: Path, warnings: list[str]) -> dict[str, JournalRecord]:
    """The latest record per task, whatever its engine (the report shows what the file holds)."""
    journal = Journal(path)
    try:
        records = journal.load()
    except JournalError as exc:
        warnings.append(str(exc))
        return {}
    if not path.exists():
        warnings.append(f"{path}: no journal, so no programs or train fitness")
    for problem in journal.problems[:3]:
        warnings.append(f"{path} line {problem.line} skipped: {problem.problem}")
    return {record.task_id: record for record in records}


@dataclass
class _Items:
    by_task: dict[str, dict[str, Any]] = field(default_factory=dict)
    source: str = ""


def _event_items(submission: Path, events: Path | None, warnings: list[str]) -> _Items:
    """The last `item` event per task of the run that wrote this submission."""
    candidates: list[tuple[Path, bool]] = []
    if events is not None:
        candidates.append((events, False))
    else:
        candidates.append((submission.with_name(EVENTS_FILE), False))
        candidates.append((resolve_state_dir() / EVENTS_FILE, True))
    for path, must_match in candidates:
        if not path.is_file():
            continue
        run = latest_run(read_events(path).events)
        start = next((e for e in run if e.kind == "start"), None)
        if must_match and (start is None or not _same_file(start.data.get("out"), submission)):
            continue  # the state dir's last run wrote another submission
        items = _Items(source=str(path))
        for event in run:
            if event.kind == "item" and isinstance(event.data.get("task_id"), str):
                items.by_task.setdefault(event.data["task_id"], {}).update(event.data)
        return items
    if events is not None:
        warnings.append(f"{events}: no such events file")
    return _Items()


def _same_file(written: Any, submission: Path) -> bool:
    if not isinstance(written, str):
        return False
    with contextlib.suppress(OSError):
        return Path(written).resolve() == submission.resolve()
    return False


def _task_view(
    task: Any,
    entries: Any,
    loaded: LoadedTasks,
    records: Mapping[str, JournalRecord],
    items: _Items,
) -> TaskView:
    task_id = task.task_id
    record = records.get(task_id)
    item = items.by_task.get(task_id, {})
    expected = loaded.solutions.get(task_id)
    marks = task_correctness(entries, expected) if expected is not None else None
    tests = []
    for index, pair in enumerate(task.test):
        entry = entries[index] if isinstance(entries, list) and index < len(entries) else {}
        tests.append(
            TestView(
                input=to_list(pair.input),
                attempts=(_grid_or_none(entry, "attempt_1"), _grid_or_none(entry, "attempt_2")),
                expected=to_list(expected[index]) if expected is not None and index < len(expected) else None,
                correct=marks[index] if marks is not None else None,
            )
        )
    state = record.state if record is not None else str(item.get("state") or "not run")
    program = record.program if record is not None else item.get("program")
    return TaskView(
        task_id=task_id,
        state=state,
        train=tuple((to_list(p.input), to_list(p.output)) for p in task.train if p.output is not None),
        tests=tuple(tests),
        seconds=record.seconds if record is not None else _number(item.get("seconds")),
        fitness=record.fitness if record is not None else _number(item.get("fitness")),
        train_solved=record.train_solved if record is not None else bool(item.get("train_solved")),
        correct=all(marks) if marks and state != "not run" else None,
        engine=record.engine if record is not None else None,
        found_by=_found_by(record, program),
        program=program if isinstance(program, str) else None,
        error=record.error if record is not None else _text(item.get("error")),
    )


def _found_by(record: JournalRecord | None, program: Any) -> str | None:
    """The origin the engine recorded, else the outermost DSL call of the program's return line."""
    if record is not None and isinstance(record.stats.get("origin"), str):
        return str(record.stats["origin"])
    if not isinstance(program, str):
        return None
    for line in reversed(program.splitlines()):
        stripped = line.strip()
        if stripped.startswith("return ") and "(" in stripped:
            return stripped[len("return ") :].split("(", 1)[0].strip() or None
    return None


def _grid_or_none(entry: Any, key: str) -> GridList | None:
    value = entry.get(key) if isinstance(entry, Mapping) else None
    if isinstance(value, list) and value and all(isinstance(row, list) for row in value):
        return [[int(c) if isinstance(c, int) else -1 for c in row] for row in value]
    return None


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def wrong_cells(
    attempt: Sequence[Sequence[int]] | None, expected: Sequence[Sequence[int]] | None
) -> set[tuple[int, int]]:
    """The cells of `attempt` that differ from `expected` (all of them when the shapes differ)."""
    if attempt is None or expected is None:
        return set()
    same_shape = len(attempt) == len(expected) and all(
        len(a) == len(e) for a, e in zip(attempt, expected, strict=False)
    )
    cells = {(r, c) for r, row in enumerate(attempt) for c in range(len(row))}
    if not same_shape:
        return cells
    return {(r, c) for r, c in cells if attempt[r][c] != expected[r][c]}
