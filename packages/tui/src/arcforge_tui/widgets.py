"""The panes: each renders its part of `MonitorState` and keeps no facts of its own."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import ClassVar

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import DataTable, Label, ProgressBar, RichLog, Static

from arcforge_events import STAGES
from arcforge_tui.state import (
    RUNNING,
    WAITING,
    DownloadState,
    ErrorNote,
    FileTransfer,
    LogEntry,
    MonitorState,
    RunInfo,
    TaskRow,
    TestRunState,
    UploadState,
    duration_unit,
    format_bytes,
    format_duration,
    format_in,
)

STATUS_STYLES = {
    WAITING: "dim",
    RUNNING: "bold cyan",
    "ok": "bold green",
    "failed": "bold red",
    "interrupted": "bold yellow",
}
FILE_STATE_STYLES = {
    "queued": "dim",
    "fetching": "cyan",
    "uploading": "cyan",
    "resumed": "cyan",
    "verifying": "yellow",
    "done": "green",
    "failed": "bold red",
}
REMOTE_STYLES = {
    "READY": "bold green",
    "COMPLETE": "bold green",
    "processing": "yellow",
    "QUEUED": "yellow",
    "RUNNING": "cyan",
    "FAILED": "bold red",
    "ERROR": "bold red",
}
TASK_STATE_STYLES = {
    "running": "cyan",
    "done": "green",
    "failed": "red",
    "timeout": "yellow",
    "skipped": "dim",
}


def status_text(run: RunInfo) -> Text:
    return Text(run.status, style=STATUS_STYLES.get(run.status, "bold"))


def waiting_text(stage: str, present: bool) -> str:
    if present:
        return f"waiting — {stage}.jsonl holds no run yet"
    return f"waiting — no {stage} has started yet ({stage}.jsonl appears when it does)"


def errors_text(errors: list[ErrorNote], limit: int = 3) -> Text:
    text = Text()
    for note in errors[-limit:]:
        if text:
            text.append("\n")
        where = f"{note.file}: " if note.file else ""
        code = f" [{note.code}]" if note.code else ""
        text.append(f"✗ {where}{note.message}{code}", style="bold red")
        if note.advice:
            text.append(f"\n  → {note.advice}", style="yellow")
    if len(errors) > limit:
        text.append(f"\n  (+{len(errors) - limit} earlier errors in the log)", style="dim")
    return text


class StatusHeader(Static):
    """Title, time, junk counter, and each stage's state and run id."""

    def show(self, model: MonitorState, now: float, tz: dt.tzinfo | None) -> None:
        clock = dt.datetime.fromtimestamp(now, tz).strftime("%Y-%m-%d %H:%M:%S")
        title = Text.assemble(("arcforge", "bold"), " monitor  ", (clock, "bold"))
        junk = model.junk_total
        title.append(f"   junk lines: {junk}", style="bold red" if junk else "dim")
        restarts = sum(model.restarts.values())
        if restarts:
            title.append(f"   files re-read: {restarts}", style="yellow")
        grid = Table.grid(expand=True)
        for _ in STAGES:
            grid.add_column(ratio=1, no_wrap=True, overflow="ellipsis")
        cells = []
        for stage in STAGES:
            run = model.run(stage)
            cell = Text.assemble((stage, "bold"), " ", status_text(run))
            cell.append("\n" + (run.run_id or "no run yet"), style="dim")
            cells.append(cell)
        grid.add_row(*cells)
        self.update(Group(title, grid))


class FileRow(Horizontal):
    """One file: name, progress bar, state."""

    def __init__(self, transfer: FileTransfer) -> None:
        super().__init__(name=transfer.name, classes="file-row")
        self._name_label = Label(transfer.name, classes="file-name")
        self._bar = ProgressBar(total=100, show_eta=False, classes="file-bar")
        self._state = Label("", classes="file-state")
        self._transfer = transfer
        self._ready = False

    def on_mount(self) -> None:
        self._ready = True
        self.show(self._transfer)

    def compose(self) -> ComposeResult:
        yield self._name_label
        yield self._bar
        yield self._state

    def show(self, transfer: FileTransfer) -> None:
        self._transfer = transfer
        if not self._ready:
            return
        self._bar.update(total=100, progress=round(transfer.fraction * 100, 1))
        self._state.update(Text(transfer.state, style=FILE_STATE_STYLES.get(transfer.state, "")))
        self.set_class(transfer.state == "failed", "-failed")
        self.tooltip = transfer.error


class FileList(VerticalScroll):
    """Per-file rows, mounted as files appear, updated in place afterwards."""

    def show(self, transfers: Iterable[FileTransfer]) -> None:
        rows: dict[str, FileRow] = {row.name or "": row for row in self.query(FileRow)}
        wanted = list(transfers)
        names = {transfer.name for transfer in wanted}
        for name, old_row in rows.items():
            if name not in names:
                old_row.remove()
        new_rows = []
        for transfer in wanted:
            row = rows.get(transfer.name)
            if row is None:
                new_rows.append(FileRow(transfer))
            else:
                row.show(transfer)
        if new_rows:
            self.mount_all(new_rows)

    def row(self, name: str) -> FileRow | None:
        for row in self.query(FileRow):
            if row.name == name:
                return row
        return None


class DownloadPane(Vertical):
    def compose(self) -> ComposeResult:
        yield Static(id="download-summary")
        yield ProgressBar(total=100, show_eta=False, id="download-overall")
        yield Static(id="download-numbers")
        yield Static(id="download-errors", classes="errors")
        yield FileList(id="download-files")

    def show(self, state: DownloadState, present: bool) -> None:
        run = state.run
        summary = self.query_one("#download-summary", Static)
        numbers = self.query_one("#download-numbers", Static)
        bar = self.query_one("#download-overall", ProgressBar)
        if run.run_id is None:
            summary.update(Text(waiting_text("download", present), style="dim"))
            numbers.update("")
            bar.update(total=100, progress=0)
        else:
            if state.repo_id:
                head = Text.assemble((state.repo_id, "bold"), f" @ {state.revision or 'main'}")
            else:
                head = Text("(the run has not said which model yet)", style="dim")
            if state.commit:
                head.append(f" ({state.commit[:8]})", style="dim")
            head.append("  ")
            head.append_text(status_text(run))
            counts = [f"{state.count(s)} {s}" for s in ("done", "fetching", "failed") if state.count(s)]
            files = state.files_expected if state.files_expected is not None else len(state.files)
            if files or counts:
                head.append(f"\n{files} files" + (": " + ", ".join(counts) if counts else ""))
            summary.update(head)
            total = state.overall_total
            done = state.bytes_done
            bar.update(total=max(total or 1, 1), progress=min(done, total or 0))
            line = f"{format_bytes(done)} of {format_bytes(total) if total else '?'}"
            if not total and not done:
                line = "no bytes fetched"
            if run.status == RUNNING:
                line += f" · {state.speed_bps / 1e6:.1f} MB/s"
                eta = state.eta_s
                line += f" · ETA {format_duration(eta)}" if eta is not None else " · ETA —"
            elif run.seconds is not None:
                line += f" · took {format_duration(run.seconds)}"
            numbers.update(line)
        self.query_one("#download-files", FileList).show(state.files.values())
        self.query_one("#download-errors", Static).update(errors_text(state.errors))


class UploadPane(Vertical):
    def compose(self) -> ComposeResult:
        yield Static(id="upload-summary")
        yield Static(id="upload-remote")
        yield Static(id="upload-errors", classes="errors")
        yield FileList(id="upload-files")

    def show(self, state: UploadState, present: bool) -> None:
        summary = self.query_one("#upload-summary", Static)
        if not state.targets:
            summary.update(Text(waiting_text("upload", present), style="dim"))
        else:
            text = Text()
            for target, upload in state.targets.items():
                if text:
                    text.append("\n")
                text.append(f"{target} ", style="bold")
                text.append(upload.ident or "")
                files = upload.files_expected if upload.files_expected is not None else len(upload.files)
                done = sum(1 for f in upload.files.values() if f.state == "done")
                text.append(f"  {done}/{files} files")
                if upload.bytes_total:
                    text.append(f" · {format_bytes(upload.bytes_done)} of {format_bytes(upload.bytes_total)}")
                text.append("  ")
                text.append_text(status_text(upload.run))
                if upload.version is not None:
                    text.append(f" v{upload.version}")
            summary.update(text)
        remote = Text()
        for key, label in (("dataset", "Dataset"), ("kernel", "Kernel"), ("submission", "Submission")):
            status = state.remote.get(key)
            if remote:
                remote.append("\n")
            remote.append(f"{label:<11}", style="bold")
            if status is None:
                remote.append("—", style="dim")
                continue
            remote.append(status.status, style=REMOTE_STYLES.get(status.status, "bold"))
            if status.version is not None:
                remote.append(f" v{status.version}")
            if status.score is not None:
                remote.append(f" score {status.score:.3f}")
            if status.message:
                remote.append(
                    f" — {status.message}", style="red" if status.status in ("ERROR", "FAILED") else ""
                )
        self.query_one("#upload-remote", Static).update(remote)
        transfers = [f for upload in state.targets.values() for f in upload.files.values()]
        self.query_one("#upload-files", FileList).show(transfers)
        self.query_one("#upload-errors", Static).update(errors_text(state.errors))


def _cells(row: TaskRow, has_solutions: bool) -> tuple[Text, Text, str, str, str, Text]:
    fitness = f"{row.fitness:.3f}" if row.fitness is not None else "—"
    seconds = f"{row.seconds:.1f}" if row.seconds is not None else "—"
    attempts = str(row.attempts) if row.attempts is not None else "—"
    if not has_solutions or row.correct is None:
        correct = Text("—", style="dim")
    else:
        correct = Text("yes", style="bold green") if row.correct else Text("no", style="red")
    state = Text(row.state, style=TASK_STATE_STYLES.get(row.state, ""))
    return Text(row.task_id), state, fitness, seconds, attempts, correct


TASK_COLUMNS = (
    ("task", "task"),
    ("state", "state"),
    ("fitness", "fitness"),
    ("secs", "seconds"),
    ("attempts", "attempts"),
    ("correct", "correct"),
)


class TaskTable(DataTable[object]):
    """The test-run tasks; updates only the rows whose task changed."""

    BINDINGS: ClassVar[list[BindingType]] = [
        # Enter may arrive as a line feed (ctrl+j): `invoke tui` relays the keyboard through a pty from
        # a terminal in cbreak mode, which keeps ICRNL on, so the terminal turns Enter's \r into \n.
        Binding("ctrl+j", "select_cursor", "Detail", show=False),
    ]

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.zebra_stripes = True
        for label, key in TASK_COLUMNS:
            self.add_column(label, key=key)

    def show(self, state: TestRunState, task_filter: str, rebuild: bool) -> None:
        changed = set(state.changed)
        state.changed.clear()
        if task_filter != "all" and changed:
            rebuild = True  # a changed task may enter or leave the filter; keep the appearance order
        if rebuild:
            self._rebuild(state, task_filter)
            return
        for task_id in [t for t in state.tasks if t in changed]:
            row = state.tasks[task_id]
            cells = _cells(row, state.has_solutions)
            if task_id in self.rows:
                for (_label, key), value in zip(TASK_COLUMNS, cells, strict=True):
                    self.update_cell(task_id, key, value, update_width=True)
            else:
                self.add_row(*cells, key=task_id)

    def _rebuild(self, state: TestRunState, task_filter: str) -> None:
        keep = self.selected_task_id
        self.clear()
        rows = state.rows(task_filter)
        for row in rows:
            self.add_row(*_cells(row, state.has_solutions), key=row.task_id)
        if keep is not None and keep in self.rows:
            self.move_cursor(row=self.get_row_index(keep), animate=False)

    @property
    def selected_task_id(self) -> str | None:
        if not self.row_count:
            return None
        try:
            key = self.coordinate_to_cell_key(self.cursor_coordinate).row_key
        except Exception:  # no valid cursor yet
            return None
        return key.value


class TestRunPane(Vertical):
    def compose(self) -> ComposeResult:
        yield Static(id="test-run-totals")
        with Horizontal(id="budget-row"):
            yield Label("budget ", id="budget-label")
            yield ProgressBar(total=100, show_eta=False, id="test-run-budget")
            yield Label("", id="budget-elapsed")
        yield TaskTable(id="tasks")

    def show(self, state: TestRunState, present: bool, task_filter: str, rebuild: bool) -> None:
        run = state.run
        totals = self.query_one("#test-run-totals", Static)
        if run.run_id is None:
            totals.update(Text(waiting_text("test-run", present), style="dim"))
        else:
            total = state.total if state.total is not None else len(state.tasks)
            text = Text.assemble(
                ("done ", "bold"),
                f"{state.done}/{total}",
                ("  solved ", "bold"),
                str(state.solved),
                "  ",
                status_text(run),
            )
            if state.engine:
                text.append(f"  {state.engine}", style="dim")
            if state.resumed:
                text.append(f"  ({state.resumed} resumed)", style="dim")
            text.append("\n")
            if state.scores:
                text.append("scores ", style="bold")
                text.append(
                    f"kaggle {state.scores.get('kaggle', 0.0):.3f} · "
                    f"task {state.scores.get('task_fraction', 0.0):.3f} · "
                    f"fully {state.scores.get('tasks_fully_solved', 0.0):.3f}"
                )
            elif state.has_solutions:
                text.append("scores: after the first tasks", style="dim")
            else:
                text.append("scores: no solutions known", style="dim")
            text.append("\n")
            forecast = state.forecast_text
            over = "over budget" in forecast
            text.append(forecast, style="bold red" if over else "bold")
            totals.update(text)
        budget = state.time_budget_s
        elapsed = state.elapsed_s or 0.0
        bar = self.query_one("#test-run-budget", ProgressBar)
        label = self.query_one("#budget-elapsed", Label)
        if budget:
            bar.update(total=budget, progress=min(elapsed, budget))
            unit = duration_unit(budget)
            label.update(f"{format_in(elapsed, unit)} / {format_in(budget, unit)}")
        else:
            bar.update(total=100, progress=0)
            label.update("—")
        self.border_subtitle = f"filter: {task_filter} (f)"
        self.query_one(TaskTable).show(state, task_filter, rebuild)


LEVEL_STYLES = {"info": "", "warning": "yellow", "error": "bold red"}


class LogPane(RichLog):
    """The `log` and `error` events of every stage, oldest first."""

    def on_mount(self) -> None:
        self.shown_serial = 0
        self.shown_epoch = 0
        self._width = self.size.width
        self._shown: tuple[MonitorState, dt.tzinfo | None] | None = None

    def on_resize(self, event: events.Resize) -> None:
        # Written lines keep the wrapping of their time: rewrap them all at the new width.
        if self.size.width != self._width:
            self._width = self.size.width
            self.shown_epoch = -1
            self.call_after_refresh(self._rewrap)

    def _rewrap(self) -> None:
        if self._shown is not None:
            self.show(*self._shown)

    def show(self, model: MonitorState, tz: dt.tzinfo | None) -> None:
        self._shown = (model, tz)
        if model.log_epoch != self.shown_epoch:
            self.clear()
            self.shown_serial = 0
            self.shown_epoch = model.log_epoch
        fresh: list[LogEntry] = []
        for entry in reversed(model.log):  # new entries are at the end
            if entry.serial <= self.shown_serial:
                break
            fresh.append(entry)
        # Wrap at the pane's width (RichLog would measure against the console's width instead).
        width = self.scrollable_content_region.width or None
        for entry in reversed(fresh):
            self.write(self.line(entry, tz), width=width)
            self.shown_serial = entry.serial

    @staticmethod
    def line(entry: LogEntry, tz: dt.tzinfo | None) -> Text:
        clock = dt.datetime.fromtimestamp(entry.ts, tz).strftime("%H:%M:%S") if entry.ts else "--:--:--"
        text = Text.assemble((clock, "dim"), " ", (f"{entry.stage:<8}", "bold"), " ")
        text.append(entry.message, style=LEVEL_STYLES.get(entry.level, ""))
        if entry.advice:
            text.append(f"\n  → {entry.advice}", style="yellow")
        return text
