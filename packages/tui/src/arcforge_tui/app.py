"""The arcforge monitor app: thread workers tail the stage files; the UI folds and renders what they read."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

from textual import events, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Container
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Tab, Tabs
from textual.worker import get_current_worker

from arcforge_events import STAGES, EventTailer, ReadBatch, event_path
from arcforge_tui.detail import TaskDetailScreen
from arcforge_tui.messages import EventsRead, StageLoaded
from arcforge_tui.state import TASK_FILTERS, MonitorState, TestRunState
from arcforge_tui.widgets import (
    DownloadPane,
    LogPane,
    StatusHeader,
    TaskTable,
    TestRunPane,
    UploadPane,
)

# Pane name -> (key, title, the widget that takes focus).
PANES = {
    "download": ("1", "Download", "#download-files"),
    "upload": ("2", "Upload", "#upload-files"),
    "test-run": ("3", "Test run", "#tasks"),
    "log": ("4", "Log", "#log"),
}
WIDE_MIN_SIZE = (110, 30)  # from this size on, all panes show at once


class MonitorApp(App[None]):
    """Shows the download, upload and test-run stages from `<state dir>/<stage>.jsonl`."""

    TITLE = "arcforge monitor"
    CSS_PATH = "monitor.tcss"
    BINDINGS: ClassVar[list[Binding | tuple[str, str] | tuple[str, str, str]]] = [
        Binding("q", "quit", "Quit"),
        Binding("1", "show_pane('download')", "Download"),
        Binding("2", "show_pane('upload')", "Upload"),
        Binding("3", "show_pane('test-run')", "Test run"),
        Binding("4", "show_pane('log')", "Log"),
        Binding("f", "cycle_filter", "Filter"),
    ]

    def __init__(
        self,
        state_dir: Path,
        *,
        replay: bool = False,
        clock: Callable[[], float] = time.time,
        tz: dt.tzinfo | None = None,
        poll_interval: float = 0.25,
        redraw_interval: float = 0.2,
    ) -> None:
        super().__init__()
        self.state_dir = state_dir
        self.replay = replay
        self.clock = clock
        self.tz = tz
        self.poll_interval = poll_interval
        self.redraw_interval = redraw_interval
        self.model = MonitorState()
        self.task_filter = "all"
        self.active_pane = "download"
        self.shown_generation = -1
        self.loaded_stages: set[str] = set()
        self._stop = threading.Event()
        self._shown_test_run: TestRunState | None = None
        self._filter_changed = False
        self._follow = True  # pick the busiest pane until the person chooses one

    @property
    def main(self) -> Screen[object]:
        """The monitor's own screen, whichever screen (a task's detail) is on top."""
        return self.screen_stack[0]

    @property
    def loaded(self) -> bool:
        """Replay: every stage file has been read to its end."""
        return self.loaded_stages >= set(STAGES)

    @property
    def settled(self) -> bool:
        """The widgets show everything read so far."""
        return self.shown_generation == self.model.generation

    def compose(self) -> ComposeResult:
        yield StatusHeader(id="header")
        yield Tabs(
            *(Tab(f"{key} {title}", id=f"tab-{name}") for name, (key, title, _) in PANES.items()),
            id="pane-tabs",
        )
        with Container(id="panes"):
            # Grid order for wide terminals: download | test-run (two rows), upload below download.
            yield DownloadPane(id="download", classes="pane")
            yield TestRunPane(id="test-run", classes="pane")
            yield UploadPane(id="upload", classes="pane")
            yield LogPane(id="log", classes="pane", max_lines=2000, wrap=True, markup=False, min_width=20)
        yield Footer()

    def on_mount(self) -> None:
        for name, (key, title, _) in PANES.items():
            self.main.query_one(f"#{name}").border_title = f"{key} {title}"
        self._apply_layout(self.size.width, self.size.height)
        self._activate(self.active_pane, focus=True)
        self.refresh_views(force=True)
        for stage in STAGES:
            self.tail_stage(stage)
        self.set_interval(self.redraw_interval, self.refresh_views)
        self.set_interval(1.0, self._tick)

    def on_unmount(self) -> None:
        self._stop.set()

    async def action_quit(self) -> None:
        self._stop.set()
        self.exit()

    # -- reading: one thread per stage file -------------------------------------------------------

    @work(thread=True, group="tailers", exit_on_error=False)
    def tail_stage(self, stage: str) -> None:
        """Tail `<state dir>/<stage>.jsonl`, posting what arrives; sleeps on an Event, never spins."""
        worker = get_current_worker()
        tailer = EventTailer(event_path(self.state_dir, stage))
        existed = False
        failure: str | None = None  # said once, not on every poll
        while not (self._stop.is_set() or worker.is_cancelled):
            try:
                batch = tailer.poll()
            except Exception as exc:  # the reader never raises on data; this keeps the stage followed anyway
                message = f"reading {tailer.path} failed ({exc!r}); trying again"
                batch = ReadBatch(exists=existed, error=None if message == failure else message)
                failure = message
            else:
                failure = None
            if batch or batch.exists != existed:
                existed = batch.exists
                self.post_message(EventsRead(stage, batch))
            if batch.more:
                continue  # a backlog: read on at once, one batch per message
            if self.replay:
                last = tailer.flush_fragment()
                if last:
                    self.post_message(EventsRead(stage, last))
                self.post_message(StageLoaded(stage))
                return
            self._stop.wait(self.poll_interval)

    def on_events_read(self, message: EventsRead) -> None:
        self.model.apply(message.stage, message.batch)

    def on_stage_loaded(self, message: StageLoaded) -> None:
        self.loaded_stages.add(message.stage)
        if self.loaded:
            self.refresh_views()

    # -- drawing -----------------------------------------------------------------------------------

    def refresh_views(self, force: bool = False) -> None:
        """Redraw from the state; runs on a timer, so a flood of events costs one redraw per tick."""
        if self.shown_generation == self.model.generation and not force and not self._filter_changed:
            return
        if not self._panes_ready():
            return
        model = self.model
        self.main.query_one(StatusHeader).show(model, self.clock(), self.tz)
        self.main.query_one(DownloadPane).show(model.download, model.present["download"])
        self.main.query_one(UploadPane).show(model.upload, model.present["upload"])
        rebuild = self._shown_test_run is not model.test_run or self._filter_changed
        self.main.query_one(TestRunPane).show(
            model.test_run, model.present["test-run"], self.task_filter, rebuild
        )
        self._shown_test_run = model.test_run
        self._filter_changed = False
        self.main.query_one(LogPane).show(model, self.tz)
        if self._follow:
            self._follow_busiest()
        self.shown_generation = model.generation

    def _tick(self) -> None:
        if self._panes_ready():
            self.main.query_one(StatusHeader).show(self.model, self.clock(), self.tz)

    def _panes_ready(self) -> bool:
        """Whether the panes exist: a tailer's message may arrive while the app is shutting down."""
        return bool(self.screen_stack) and bool(self.main.query(StatusHeader))

    def _follow_busiest(self) -> None:
        """Until a pane key is pressed, show the stage whose run started last (stages running side by
        side do not make the panes flicker)."""
        if self.screen is not self.main:
            return
        latest = max(
            ((self.model.run(stage).started_ts or 0.0, stage) for stage in STAGES),
            default=(0.0, "download"),
        )
        if latest[0] and latest[1] != self.active_pane:
            self._activate(latest[1], focus=True)

    # -- layout and keys ---------------------------------------------------------------------------

    def on_resize(self, event: events.Resize) -> None:
        self._apply_layout(event.size.width, event.size.height)

    def _apply_layout(self, width: int, height: int) -> None:
        wide = width >= WIDE_MIN_SIZE[0] and height >= WIDE_MIN_SIZE[1]
        panes = self.main.query_one("#panes")
        panes.set_class(wide, "-wide")
        panes.set_class(not wide, "-narrow")
        self.main.query_one("#pane-tabs").display = not wide

    def _activate(self, name: str, focus: bool) -> None:
        self.active_pane = name
        for pane_name in PANES:
            self.main.query_one(f"#{pane_name}").set_class(pane_name == name, "-active")
        tabs = self.main.query_one("#pane-tabs", Tabs)
        if tabs.active != f"tab-{name}":
            tabs.active = f"tab-{name}"
        if focus:
            self.main.query_one(PANES[name][2]).focus()

    def action_show_pane(self, name: str) -> None:
        while len(self.screen_stack) > 1:  # from a task's detail: back to the panes
            self.pop_screen()
        self._follow = False
        self._activate(name, focus=True)

    def on_tabs_tab_activated(self, message: Tabs.TabActivated) -> None:
        # Our own `tabs.active = …` posts this too; a stale one (the tabs moved on since) is ignored.
        if message.tabs.active != message.tab.id:
            return
        name = (message.tab.id or "").removeprefix("tab-")
        if name in PANES and name != self.active_pane:
            self._follow = False
            self._activate(name, focus=False)

    def action_cycle_filter(self) -> None:
        index = TASK_FILTERS.index(self.task_filter)
        self.task_filter = TASK_FILTERS[(index + 1) % len(TASK_FILTERS)]
        self._filter_changed = True
        self.refresh_views()

    def on_data_table_row_selected(self, message: DataTable.RowSelected) -> None:
        if not isinstance(message.data_table, TaskTable):
            return
        task_id = message.row_key.value
        row = self.model.test_run.tasks.get(task_id or "")
        if row is not None:
            self.push_screen(TaskDetailScreen(row))
