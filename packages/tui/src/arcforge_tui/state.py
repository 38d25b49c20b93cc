"""What the monitor knows, reduced from events: plain data, no Textual, so tests can assert on it.

`MonitorState.apply(stage, batch)` folds one `ReadBatch` of a stage's file into the state. Each stage
shows its latest run only (the events after its last `start`); the upload stage keeps the latest run
of each target (dataset, wheelhouse, kernel, submission), because those are separate commands whose
results a person wants side by side.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field
from typing import Any, cast

from arcforge_events import STAGES, Event, ReadBatch
from arcforge_events.payloads import (
    DownloadEnd,
    DownloadItem,
    DownloadProgress,
    DownloadStart,
    ErrorData,
    LogData,
    TestRunEnd,
    TestRunItem,
    TestRunProgress,
    TestRunStart,
    UploadEnd,
    UploadItem,
    UploadProgress,
    UploadStart,
)

WAITING = "waiting"
RUNNING = "running"
FINISHED_TASK_STATES = frozenset({"done", "failed", "timeout", "skipped"})
TASK_FILTERS = ("all", "failed", "solved")
LOG_LIMIT = 5000
GATED_CODES = frozenset({"gated", "unauthorized", "forbidden"})


def gated_advice(repo_id: str | None) -> str:
    page = f"https://huggingface.co/{repo_id}" if repo_id else "the model's page on huggingface.co"
    return (
        f"This model is gated or needs a token: open {page}, accept its licence with your account, "
        "create a read token at https://huggingface.co/settings/tokens, export it as HF_TOKEN, and run "
        "the download again (it resumes)."
    )


# The payloads are read through the contract's TypedDicts (arcforge_events.payloads), so mypy checks
# every key name; the values come from a file, so each is type-checked before use. The reader
# already turned away non-finite and out-of-range numbers; these helpers check again, because a
# state fed by hand (tests, replays) must not crash the app either.


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value) if isinstance(value, float) or abs(value) < 2**63 else None
    return number if number is not None and math.isfinite(number) else None


def _int(value: Any) -> int | None:
    number = _num(value)
    return int(number) if number is not None else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


@dataclass
class RunInfo:
    """One stage's latest run as the header shows it."""

    run_id: str | None = None
    status: str = WAITING  # waiting, running, ok, failed, interrupted
    started_ts: float | None = None
    last_ts: float | None = None
    seconds: float | None = None  # from `end`

    def begin(self, event: Event) -> None:
        self.run_id = event.run_id
        self.status = RUNNING
        self.started_ts = event.ts
        self.last_ts = event.ts

    def touch(self, event: Event) -> None:
        if self.run_id is None:  # a file whose `start` line was lost: adopt the run we see
            self.begin(event)
        self.last_ts = event.ts

    def finish(self, event: Event) -> None:
        self.touch(event)
        data = cast(DownloadEnd | UploadEnd | TestRunEnd, event.data)
        self.status = _str(data.get("status")) or "ok"
        self.seconds = _num(data.get("seconds"))


@dataclass
class ErrorNote:
    message: str
    code: str | None = None
    advice: str | None = None
    file: str | None = None
    task_id: str | None = None


@dataclass
class FileTransfer:
    """One file of a download or an upload."""

    name: str
    state: str = "queued"
    bytes_done: int = 0
    bytes_total: int | None = None
    speed_bps: float | None = None
    error: str | None = None

    @property
    def fraction(self) -> float:
        if self.state == "done":
            return 1.0
        if not self.bytes_total:
            return 0.0
        return min(1.0, self.bytes_done / self.bytes_total)

    def apply_progress(self, data: DownloadProgress | UploadProgress) -> None:
        done, total = _int(data.get("bytes_done")), _int(data.get("bytes_total"))
        if done is not None:
            self.bytes_done = done
        if total is not None:
            self.bytes_total = total
        self.speed_bps = _num(data.get("speed_bps"))
        if self.state == "queued":
            self.state = "fetching" if "speed_bps" in data else "uploading"

    def apply_item(self, data: DownloadItem | UploadItem) -> None:
        self.state = _str(data.get("state")) or self.state
        total, done = _int(data.get("bytes_total")), _int(data.get("bytes_done"))
        if total is not None:
            self.bytes_total = total
        if done is not None:
            self.bytes_done = done
        if self.state == "done" and self.bytes_total is not None:
            self.bytes_done = self.bytes_total
        if self.state not in ("fetching", "uploading", "resumed"):
            self.speed_bps = None
        if self.state == "failed":
            self.error = _str(cast(UploadItem, data).get("message")) or self.error


@dataclass
class DownloadState:
    run: RunInfo = field(default_factory=RunInfo)
    repo_id: str | None = None
    revision: str | None = None
    commit: str | None = None
    files_expected: int | None = None
    bytes_total: int | None = None
    bytes_to_fetch: int | None = None
    total_bytes_done: int | None = None
    bytes_fetched: int | None = None
    files: dict[str, FileTransfer] = field(default_factory=dict)
    errors: list[ErrorNote] = field(default_factory=list)

    def apply(self, event: Event) -> None:
        if event.kind == "start":
            start = cast(DownloadStart, event.data)
            self.repo_id = _str(start.get("repo_id"))
            self.revision = _str(start.get("revision"))
            self.commit = _str(start.get("commit"))
            self.files_expected = _int(start.get("files"))
            self.bytes_total = _int(start.get("bytes_total"))
            self.bytes_to_fetch = _int(start.get("bytes_to_fetch"))
            return
        name = _str(event.data.get("file"))
        if event.kind == "progress":
            progress = cast(DownloadProgress, event.data)
            if name:
                self._file(name).apply_progress(progress)
            total_done, total = _int(progress.get("total_bytes_done")), _int(progress.get("total_bytes"))
            if total_done is not None:
                self.total_bytes_done = total_done
            if total is not None:
                self.bytes_total = total
        elif event.kind == "item" and name:
            self._file(name).apply_item(cast(DownloadItem, event.data))
        elif event.kind == "error":
            data = cast(ErrorData, event.data)
            note = ErrorNote(
                message=_str(data.get("message")) or "unknown error",
                code=_str(data.get("code")),
                advice=_str(data.get("advice")),
                file=name,
            )
            if note.code in GATED_CODES and not note.advice:
                note.advice = gated_advice(self.repo_id)
            self.errors.append(note)
            if name:
                self._file(name).error = note.message
        elif event.kind == "end":
            self.bytes_fetched = _int(cast(DownloadEnd, event.data).get("bytes_fetched"))
            for transfer in self.files.values():
                transfer.speed_bps = None

    def _file(self, name: str) -> FileTransfer:
        transfer = self.files.get(name)
        if transfer is None:
            transfer = self.files[name] = FileTransfer(name)
        return transfer

    @property
    def bytes_done(self) -> int:
        if self.total_bytes_done is not None:
            return self.total_bytes_done
        return sum(t.bytes_done for t in self.files.values())

    @property
    def overall_total(self) -> int | None:
        if self.bytes_total:
            return self.bytes_total
        totals = [t.bytes_total for t in self.files.values()]
        return sum(t or 0 for t in totals) or None

    @property
    def speed_bps(self) -> float:
        """Combined speed of the files being fetched right now."""
        if self.run.status != RUNNING:
            return 0.0
        return sum(t.speed_bps or 0.0 for t in self.files.values() if t.state in ("fetching", "resumed"))

    @property
    def eta_s(self) -> float | None:
        total, speed = self.overall_total, self.speed_bps
        if total is None or speed <= 0:
            return None
        return max(0.0, (total - self.bytes_done) / speed)

    def count(self, state: str) -> int:
        return sum(1 for t in self.files.values() if t.state == state)


@dataclass
class RemoteStatus:
    """What Kaggle says about the dataset, the kernel or the submission."""

    status: str
    message: str | None = None
    version: int | None = None
    score: float | None = None
    ident: str | None = None


@dataclass
class UploadRun:
    """The latest run of one upload target."""

    target: str
    run: RunInfo = field(default_factory=RunInfo)
    ident: str | None = None
    files_expected: int | None = None
    bytes_total: int | None = None
    total_bytes_done: int | None = None
    version: int | None = None
    files: dict[str, FileTransfer] = field(default_factory=dict)
    errors: list[ErrorNote] = field(default_factory=list)

    @property
    def bytes_done(self) -> int:
        if self.total_bytes_done is not None:
            return self.total_bytes_done
        all_done = bool(self.files) and all(f.state == "done" for f in self.files.values())
        if all_done and self.bytes_total and len(self.files) >= (self.files_expected or 0):
            return self.bytes_total  # the writer said which files are done, not their bytes
        return sum(f.bytes_done for f in self.files.values())


REMOTE_KEYS = ("dataset", "kernel", "submission")


@dataclass
class UploadState:
    run: RunInfo = field(default_factory=RunInfo)  # the latest run of any target
    targets: dict[str, UploadRun] = field(default_factory=dict)
    remote: dict[str, RemoteStatus] = field(default_factory=dict)
    _run_target: dict[str, str] = field(default_factory=dict)

    def apply(self, event: Event) -> None:
        if event.kind == "start":
            start = cast(UploadStart, event.data)
            target = _str(start.get("target")) or "upload"
            previous = self.targets.pop(target, None)
            if previous is not None and previous.run.run_id:
                self._run_target.pop(previous.run.run_id, None)
            if target in REMOTE_KEYS:
                self.remote.pop(target, None)
            upload = UploadRun(target, ident=_str(start.get("id")))
            upload.files_expected = _int(start.get("files"))
            upload.bytes_total = _int(start.get("bytes_total"))
            upload.run.begin(event)
            self.targets[target] = upload
            self._run_target[event.run_id] = target
            self.run = upload.run
            return
        known = self._run_target.get(event.run_id)
        if known is None:
            if self._run_target:
                return  # an older run of some target
            known = "upload"  # the start line was lost: adopt this run
            self.targets[known] = UploadRun(known)
            self._run_target[event.run_id] = known
            self.targets[known].run.begin(event)
            self.run = self.targets[known].run
        upload = self.targets[known]
        upload.run.touch(event)
        name = _str(event.data.get("file"))
        if event.kind == "progress":
            progress = cast(UploadProgress, event.data)
            if name:
                self._file(upload, name).apply_progress(progress)
            total_done, total = _int(progress.get("total_bytes_done")), _int(progress.get("total_bytes"))
            if total_done is not None:
                upload.total_bytes_done = total_done
            if total is not None:
                upload.bytes_total = total
        elif event.kind == "item":
            item = cast(UploadItem, event.data)
            if name:
                self._file(upload, name).apply_item(item)
                return
            for key in REMOTE_KEYS:
                if key in item:
                    ident = event.data.get(key)  # the `dataset`, `kernel` or `submission` key
                    self.remote[key] = RemoteStatus(
                        status=_str(item.get("status")) or "unknown",
                        message=_str(item.get("message")),
                        version=_int(item.get("version")),
                        score=_num(item.get("score")),
                        ident=ident if isinstance(ident, str) else upload.ident,
                    )
                    break
        elif event.kind == "error":
            data = cast(ErrorData, event.data)
            note = ErrorNote(
                message=_str(data.get("message")) or "unknown error",
                code=_str(data.get("code")),
                advice=_str(data.get("advice")),
                file=name,
            )
            upload.errors.append(note)
            if name:
                self._file(upload, name).error = note.message
        elif event.kind == "end":
            upload.run.finish(event)
            upload.version = _int(cast(UploadEnd, event.data).get("version"))

    @staticmethod
    def _file(upload: UploadRun, name: str) -> FileTransfer:
        transfer = upload.files.get(name)
        if transfer is None:
            transfer = upload.files[name] = FileTransfer(name)
        return transfer

    @property
    def errors(self) -> list[ErrorNote]:
        return [note for upload in self.targets.values() for note in upload.errors]


@dataclass
class TaskRow:
    task_id: str
    state: str = "running"
    fitness: float | None = None
    train_solved: bool | None = None
    seconds: float | None = None
    attempts: int | None = None
    correct: bool | None = None
    program: str | None = None
    predictions: list[Any] | None = None
    train: list[Any] | None = None
    llm: dict[str, Any] | None = None  # LlmCounters, checked to be a dict
    error: str | None = None

    @property
    def finished(self) -> bool:
        return self.state in FINISHED_TASK_STATES

    @property
    def solved(self) -> bool:
        """Correct on the test outputs when solutions are known, else all train pairs solved."""
        if self.correct is not None:
            return self.correct
        return bool(self.train_solved) and self.state == "done"

    def matches(self, task_filter: str) -> bool:
        if task_filter == "solved":
            return self.solved
        if task_filter == "failed":
            return self.finished and not self.solved
        return True

    def apply(self, data: TestRunItem) -> None:
        self.state = _str(data.get("state")) or self.state
        if "fitness" in data:
            self.fitness = _num(data["fitness"])
        if "train_solved" in data:
            solved: object = data["train_solved"]
            self.train_solved = solved if isinstance(solved, bool) else None
        if "seconds" in data:
            self.seconds = _num(data["seconds"])
        if "attempts" in data:
            self.attempts = _int(data["attempts"])
        if "correct" in data:
            correct: object = data["correct"]
            self.correct = correct if isinstance(correct, bool) else None
        program: object = data.get("program")
        if isinstance(program, str):
            self.program = program
        predictions: object = data.get("predictions")
        if isinstance(predictions, list):
            self.predictions = predictions
        train: object = data.get("train")
        if isinstance(train, list):
            self.train = train
        llm: object = data.get("llm")
        if isinstance(llm, dict):
            self.llm = llm
        if "error" in data:
            self.error = _str(data["error"])


@dataclass
class TestRunState:
    run: RunInfo = field(default_factory=RunInfo)
    total: int | None = None
    engine: str | None = None
    time_budget_s: float | None = None
    time_per_task_s: float | None = None
    workers: int | None = None
    has_solutions: bool = False
    resumed: int = 0
    reported_done: int | None = None
    elapsed_s: float | None = None
    forecast_s: float | None = None
    within_budget: bool | None = None
    scores: dict[str, float] | None = None
    tasks: dict[str, TaskRow] = field(default_factory=dict)
    # Task ids changed since the view last drained this set: the table updates only those rows.
    changed: set[str] = field(default_factory=set)

    def apply(self, event: Event) -> None:
        if event.kind == "start":
            start = cast(TestRunStart, event.data)
            self.total = _int(start.get("tasks"))
            self.engine = _str(start.get("engine"))
            self.time_budget_s = _num(start.get("time_budget_s"))
            self.time_per_task_s = _num(start.get("time_per_task_s"))
            self.workers = _int(start.get("workers"))
            self.has_solutions = start.get("has_solutions") is True
            self.resumed = _int(start.get("resumed")) or 0
        elif event.kind == "progress" and "task_id" in event.data:
            self._task(cast(TestRunItem, event.data))  # an engine's per-task progress, not the run's
        elif event.kind == "progress":
            progress = cast(TestRunProgress, event.data)
            self._counters(progress)
            if _num(progress.get("budget_s")) is not None:
                self.time_budget_s = _num(progress.get("budget_s"))
            if "elapsed_s" in progress:
                self.elapsed_s = _num(progress["elapsed_s"])
            if "forecast_s" in progress:
                self.forecast_s = _num(progress["forecast_s"])
            if "within_budget" in progress:
                within: object = progress["within_budget"]
                self.within_budget = within if isinstance(within, bool) else None
        elif event.kind == "item":
            self._task(cast(TestRunItem, event.data))
        elif event.kind == "end":
            end = cast(TestRunEnd, event.data)
            self._counters(end)
            seconds = _num(end.get("seconds"))
            if seconds is not None:
                self.elapsed_s = seconds

    def _task(self, data: TestRunItem) -> None:
        task_id = _str(data.get("task_id"))
        if task_id:
            row = self.tasks.get(task_id)
            if row is None:
                row = self.tasks[task_id] = TaskRow(task_id)
            row.apply(data)
            self.changed.add(task_id)

    def _counters(self, data: TestRunProgress | TestRunEnd) -> None:
        done, total = _int(data.get("done")), _int(data.get("total"))
        if done is not None:
            self.reported_done = done
        if total is not None:
            self.total = total
        scores: object = data.get("scores")
        if isinstance(scores, dict):
            numbers = {str(k): _num(v) for k, v in scores.items()}
            self.scores = {k: v for k, v in numbers.items() if v is not None}

    @property
    def done(self) -> int:
        finished = sum(1 for row in self.tasks.values() if row.finished)
        return max(finished, self.reported_done or 0)

    @property
    def solved(self) -> int:
        return sum(1 for row in self.tasks.values() if row.solved)

    def rows(self, task_filter: str = "all") -> list[TaskRow]:
        return [row for row in self.tasks.values() if row.matches(task_filter)]

    @property
    def forecast_text(self) -> str:
        budget = self.time_budget_s
        if self.run.status not in (WAITING, RUNNING) and self.elapsed_s is not None:
            if budget:
                unit = duration_unit(budget)
                return f"finished in {format_in(self.elapsed_s, unit)} of {format_in(budget, unit)}"
            return f"finished in {format_duration(self.elapsed_s)}"
        if self.forecast_s is None or not budget:
            return "forecast: after the first tasks"
        unit = duration_unit(budget)
        text = f"{format_in(self.forecast_s, unit)} of {format_in(budget, unit)} at this pace"
        over = self.within_budget is False or (self.within_budget is None and self.forecast_s > budget)
        return text + (" — over budget" if over else "")


def duration_unit(seconds: float) -> str:
    if seconds >= 3600:
        return "h"
    if seconds >= 120:
        return "min"
    return "s"


def format_in(seconds: float, unit: str) -> str:
    """`seconds` in the given unit, with one decimal unless it is a whole number: 6.8 h, 12 h."""
    value = seconds / {"h": 3600.0, "min": 60.0, "s": 1.0}[unit]
    text = f"{value:.1f}"
    if text.endswith(".0"):
        text = text[:-2]
    return f"{text} {unit}"


def format_duration(seconds: float) -> str:
    """A short human duration: 42 s, 3m05s, 2h07m."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, secs = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def format_bytes(count: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if abs(count) < 1000:
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000
    return f"{count:.2f} TB"


@dataclass(frozen=True)
class LogEntry:
    serial: int
    ts: float
    stage: str
    run_id: str
    level: str  # info, warning, error
    message: str
    advice: str | None = None


@dataclass
class MonitorState:
    """Everything the app shows; the widgets render it and never keep their own copy of the facts."""

    download: DownloadState = field(default_factory=DownloadState)
    upload: UploadState = field(default_factory=UploadState)
    test_run: TestRunState = field(default_factory=TestRunState)
    junk: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STAGES, 0))
    restarts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STAGES, 0))
    present: dict[str, bool] = field(default_factory=lambda: dict.fromkeys(STAGES, False))
    events: dict[str, int] = field(default_factory=lambda: dict.fromkeys(STAGES, 0))
    log: list[LogEntry] = field(default_factory=list)
    # Bumped when log entries were removed (a stage restarted), so the log view redraws from scratch.
    log_epoch: int = 0
    generation: int = 0
    _log_serial: int = 0

    def run(self, stage: str) -> RunInfo:
        if stage == "download":
            return self.download.run
        if stage == "upload":
            return self.upload.run
        return self.test_run.run

    def apply(self, stage: str, batch: ReadBatch) -> None:
        """Fold one batch read from `<stage>.jsonl` into the state."""
        self.generation += 1
        self.present[stage] = batch.exists or self.present[stage]
        if batch.restarted:
            self._reset(stage)
            self.restarts[stage] += 1
        self.junk[stage] += batch.junk
        if batch.error:
            self._log_line(0.0, stage, "", "error", batch.error)
        for event in batch.events:
            self.events[stage] += 1
            self._apply_event(stage, event)
        if batch.skipped:
            # Said where it happened: after the last event read with it, or after the stage's last.
            ts = batch.events[-1].ts if batch.events else (self.run(stage).last_ts or 0.0)
            for reason, count in sorted(batch.skipped.items()):
                lines = "line" if count == 1 else "lines"
                self._log_line(ts, stage, "", "warning", f"{stage}.jsonl: skipped {count} {lines}: {reason}")

    def _apply_event(self, stage: str, event: Event) -> None:
        if event.kind == "start":
            self._new_run(stage, event)
        elif stage == "upload":
            self.upload.apply(event)
            if self.upload._run_target.get(event.run_id) is None:
                return
        else:
            run = self.run(stage)
            if run.run_id is not None and event.run_id != run.run_id:
                return  # an older or foreign run: readers show the latest run only
            if event.kind == "end":
                run.finish(event)
            else:
                run.touch(event)
            if stage == "download":
                self.download.apply(event)
            elif stage == "test-run":
                self.test_run.apply(event)
        if event.kind in ("log", "error"):
            data = cast(ErrorData, event.data)
            level = "error" if event.kind == "error" else (_str(cast(LogData, data).get("level")) or "info")
            message = _str(data.get("message")) or "(no message)"
            code = _str(data.get("code"))
            advice = _str(data.get("advice"))
            if stage == "download" and code in GATED_CODES and not advice:
                advice = gated_advice(self.download.repo_id)
            where = _str(data.get("task_id")) or _str(data.get("file"))
            if where:
                message = f"{where}: {message}"
            if code:
                message = f"{message} [{code}]"
            self._log_line(event.ts, stage, event.run_id, level, message, advice=advice)

    def _new_run(self, stage: str, event: Event) -> None:
        if stage == "upload":
            target = _str(cast(UploadStart, event.data).get("target")) or "upload"
            old = self.upload.targets.get(target)
            if old is not None and old.run.run_id and old.run.run_id != event.run_id:
                self._drop_log(stage, old.run.run_id)
            self.upload.apply(event)
            return
        old_run = self.run(stage).run_id
        if old_run and old_run != event.run_id:
            self._drop_log(stage, old_run)
        same_run = old_run == event.run_id  # events that came before their run's `start` stay
        if stage == "download":
            if not same_run:
                self.download = DownloadState()
            self.download.run.begin(event)
            self.download.apply(event)
        elif stage == "test-run":
            if not same_run:
                self.test_run = TestRunState()
            self.test_run.run.begin(event)
            self.test_run.apply(event)

    def _reset(self, stage: str) -> None:
        if stage == "download":
            self.download = DownloadState()
        elif stage == "upload":
            self.upload = UploadState()
        elif stage == "test-run":
            self.test_run = TestRunState()
        self.junk[stage] = 0
        self.events[stage] = 0
        self._drop_log(stage, None)

    def _drop_log(self, stage: str, run_id: str | None) -> None:
        kept = [e for e in self.log if not (e.stage == stage and (run_id is None or e.run_id == run_id))]
        if len(kept) != len(self.log):
            self.log = kept
            self.log_epoch += 1

    def _log_line(
        self, ts: float, stage: str, run_id: str, level: str, message: str, *, advice: str | None = None
    ) -> None:
        self._log_serial += 1
        entry = LogEntry(self._log_serial, ts, stage, run_id, level, message, advice)
        if not self.log or (self.log[-1].ts, self.log[-1].stage) <= (ts, stage):
            self.log.append(entry)
        else:  # the stages' files are read in parallel: keep the log in time order
            bisect.insort(self.log, entry, key=lambda e: (e.ts, e.stage))
            self.log_epoch += 1
        if len(self.log) > LOG_LIMIT:
            del self.log[: len(self.log) - LOG_LIMIT]

    @property
    def junk_total(self) -> int:
        return sum(self.junk.values())
