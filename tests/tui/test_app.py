"""The app, driven by Textual's pilot over event files written by the stages' real writers."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from rich.syntax import Syntax
from rich.text import Text
from textual.widgets import DataTable, ProgressBar, Static

from arcforge_events import EventWriter
from arcforge_tui.detail import GridView, TaskDetailScreen
from arcforge_tui.grids import ARC_COLOURS, grid_text
from arcforge_tui.widgets import FileList, StatusHeader, TaskTable
from tests.tui import scenario
from tests.tui.conftest import make_app, plain, settle, shown, skipped_count, wait_until


def cell_texts(table: DataTable[object], key: str) -> list[str]:
    return [str(getattr(cell, "plain", cell)) for cell in table.get_row(key)]


@pytest.mark.asyncio
async def test_replay_shows_the_final_state(state_dir: Path) -> None:
    scenario.write_all(state_dir)
    app = make_app(state_dir, replay=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        header = plain(app.query_one(StatusHeader))
        assert "2025-11-25 19:46:40" in header and "junk lines: 0" in header
        assert "download ok" in header and "upload failed" in header and "test-run ok" in header
        assert scenario.TEST_RUN in header

        overall = app.query_one("#download-overall", ProgressBar)
        assert overall.total == sum(size for _, size in scenario.MODEL_FILES)
        assert overall.progress == overall.total
        rows = list(app.query_one("#download-files", FileList).query("FileRow"))
        assert [row.name for row in rows] == [name for name, _ in scenario.MODEL_FILES]
        assert all(row.query_one(ProgressBar).percentage == 1.0 for row in rows)
        assert "took 2m13s" in plain(app.query_one("#download-numbers", Static))

        remote = plain(app.query_one("#upload-remote", Static))
        assert "Dataset    READY v3" in remote
        assert "Kernel     ERROR v7 — CUDA out of memory" in remote

        table = app.query_one(TaskTable)
        assert table.row_count == 6
        assert cell_texts(table, "017c7c7b") == ["017c7c7b", "done", "0.820", "60.0", "2", "no"]
        assert cell_texts(table, "045e512c") == ["045e512c", "failed", "—", "2.2", "0", "no"]
        assert cell_texts(table, "0520fde7")[-1] == "yes"
        totals = plain(app.query_one("#test-run-totals", Static))
        assert "done 6/6" in totals and "solved 3" in totals
        assert "kaggle 0.500 · task 0.500 · fully 0.500" in totals
        assert "finished in 6 h of 12 h" in totals
        budget = app.query_one("#test-run-budget", ProgressBar)
        assert (budget.progress, budget.total) == (21_600.0, 43_200.0)


@pytest.mark.asyncio
async def test_live_run_shows_progress_speed_eta_and_forecast(state_dir: Path) -> None:
    app = make_app(state_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, app)
        assert "waiting" in plain(app.query_one("#download-summary", Static))
        assert "waiting" in plain(app.query_one("#test-run-totals", Static))
        assert "download waiting" in plain(app.query_one(StatusHeader))
        # The files appear after the app started: they are picked up.
        scenario.write_download(state_dir, finished=False)
        scenario.write_test_run(state_dir, finished=False, tasks=4)
        await wait_until(pilot, lambda: app.model.test_run.done == 4 and app.settled, "four tasks shown")
        await wait_until(
            pilot, lambda: len(app.model.download.files) == 4 and app.settled, "four files shown"
        )
        await pilot.pause()
        numbers = plain(app.query_one("#download-numbers", Static))
        assert "50.0 MB/s" in numbers and "ETA 21 s" in numbers and "of 6.4 GB" in numbers
        shard = app.query_one("#download-files", FileList).row("model-00002-of-00002.safetensors")
        assert shard is not None and shard.query_one(ProgressBar).percentage == pytest.approx(0.5)
        assert "fetching" in plain(shard.query_one(".file-state", Static))
        totals = plain(app.query_one("#test-run-totals", Static))
        assert "6.8 h of 12 h at this pace" in totals and "done 4/6" in totals and "solved 2" in totals
        assert "kaggle 0.333" in totals
        budget = app.query_one("#test-run-budget", ProgressBar)
        assert (budget.progress, budget.total) == (4 * 3600.0, 43_200.0)
        assert app.query_one(TaskTable).row_count == 4


@pytest.mark.asyncio
async def test_junk_lines_are_counted_and_shown(state_dir: Path) -> None:
    scenario.write_test_run(state_dir, tasks=2, finished=False)
    app = make_app(state_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.model.test_run.done == 2, "the first tasks")
        path = state_dir / "test-run.jsonl"
        with path.open("ab") as handle:
            handle.write(b"this is not json\n")
            handle.write(b'{"stage": "test-run", "kind": "item"')  # torn: a writer died inside its write
        writer = EventWriter("test-run", state_dir, run_id=scenario.TEST_RUN)
        # The writer ends the torn fragment before its own line (issue 19): nothing of its is lost.
        writer.emit("log", level="warning", message="after the torn line")
        writer.emit("log", level="warning", message="after the junk")
        writer.close()
        await wait_until(pilot, lambda: app.model.junk["test-run"] == 2 and app.settled, "two junk lines")
        await pilot.pause()
        assert "junk lines: 2" in plain(app.query_one(StatusHeader))
        messages = [entry.message for entry in app.model.log]
        assert [m for m in messages if m.startswith("after the")] == ["after the torn line", "after the junk"]
        assert skipped_count(messages, "not an event") == 2
        assert app.model.test_run.done == 2  # nothing else was lost


@pytest.mark.asyncio
async def test_a_truncated_file_is_read_again(state_dir: Path) -> None:
    scenario.write_test_run(state_dir)
    app = make_app(state_dir)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(pilot, lambda: app.query_one(TaskTable).row_count == 6, "six rows")
        (state_dir / "test-run.jsonl").write_bytes(b"")
        writer = EventWriter("test-run", state_dir, run_id="20251126T110000-4444")
        writer.emit("start", tasks=3, engine="search", time_budget_s=300.0, has_solutions=False)
        writer.emit(
            "item", task_id="fresh001", state="done", fitness=0.25, seconds=1.5, attempts=1, correct=None
        )
        writer.close()
        await wait_until(pilot, lambda: app.model.restarts["test-run"] >= 1 and app.settled, "a restart")
        await wait_until(pilot, lambda: app.query_one(TaskTable).row_count == 1, "one row")
        table = app.query_one(TaskTable)
        assert cell_texts(table, "fresh001") == ["fresh001", "done", "0.250", "1.5", "1", "—"]
        assert app.model.test_run.run.run_id == "20251126T110000-4444"
        totals = plain(app.query_one("#test-run-totals", Static))
        assert "done 1/3" in totals and "no solutions known" in totals


@pytest.mark.asyncio
async def test_gated_error_is_explained(state_dir: Path) -> None:
    scenario.write_gated_download(state_dir)
    app = make_app(state_dir, replay=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        errors = plain(app.query_one("#download-errors", Static))
        assert "403 Forbidden" in errors and "[gated]" in errors
        assert "accept its licence" in errors and "HF_TOKEN" in errors
        assert "SECRETTOKEN" not in errors


@pytest.mark.asyncio
async def test_keys_focus_panes_and_filter_the_tasks(state_dir: Path) -> None:
    scenario.write_all(state_dir)
    app = make_app(state_dir, replay=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        for key, pane, focus in (("1", "download", "download-files"), ("2", "upload", "upload-files"),
                                 ("4", "log", "log"), ("3", "test-run", "tasks")):  # fmt: skip
            await pilot.press(key)
            await pilot.pause()
            assert app.focused is not None and app.focused.id == focus
            assert app.query_one(f"#{pane}").has_class("-active")
            assert app.query_one(f"#{pane}").region.height > 5  # shown, not squeezed
        table = app.query_one(TaskTable)
        seen = []
        for _ in range(3):
            await pilot.press("f")
            await pilot.pause()
            seen.append((app.task_filter, [str(k.value) for k in table.rows]))
        assert seen == [
            ("failed", ["017c7c7b", "025d127b", "045e512c"]),
            ("solved", ["007bbfb7", "00d62c1b", "0520fde7"]),
            ("all", [t["task_id"] for t in scenario.TASKS]),
        ]
        assert app.query_one("#test-run").border_subtitle == "filter: all (f)"
        await pilot.click("#tab-upload")  # the tabs work with the mouse too
        await pilot.pause()
        assert app.active_pane == "upload" and app.query_one("#upload").display


@pytest.mark.asyncio
async def test_enter_opens_the_task_detail(state_dir: Path) -> None:
    scenario.write_all(state_dir)
    app = make_app(state_dir, replay=True)
    async with app.run_test(size=(100, 40)) as pilot:
        await settle(pilot, app)
        await pilot.press("3", "down", "down", "enter")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, TaskDetailScreen) and screen.row.task_id == "017c7c7b"
        summary = plain(screen.query_one("#detail-summary", Static))
        assert "017c7c7b" in summary and "fitness 0.820" in summary and "wrong" in summary
        program = shown(screen.query_one("#detail-program", Static))
        assert isinstance(program, Syntax) and program.code == scenario.PROGRAM.rstrip("\n")
        grids = list(screen.query(GridView))
        assert len(grids) == 2 * 2 + 2  # two train pairs, two attempts for the one test input
        # The cells are ARC colours: the first train input of task index 2 starts with colour 2 (red).
        first = shown(grids[0].query_one(".grid-cells", Static))
        assert isinstance(first, Text)
        assert first == grid_text(scenario.small_grid(2))
        assert str(first.spans[0].style.bgcolor.name).lower() == ARC_COLOURS[2].lower()  # type: ignore[union-attr]
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, TaskDetailScreen)
        # A pane key from the detail goes back to the panes too.
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, TaskDetailScreen)
        await pilot.press("1")
        await pilot.pause()
        assert app.screen is app.main and app.active_pane == "download"


@pytest.mark.asyncio
async def test_layout_fits_80x24_and_uses_120x40(state_dir: Path) -> None:
    scenario.write_all(state_dir)
    app = make_app(state_dir, replay=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot, app)
        screen = app.screen.region
        shown = [p for p in app.query(".pane") if p.display]
        assert [p.id for p in shown] == [app.active_pane]
        for widget in (*shown, app.query_one(StatusHeader)):
            assert screen.contains_region(widget.region), widget
        await pilot.resize_terminal(120, 40)
        await pilot.pause()
        assert app.query_one("#panes").has_class("-wide")
        assert not app.query_one("#pane-tabs").display
        regions = [p.region for p in app.query(".pane")]
        assert all(r.height >= 8 and app.screen.region.contains_region(r) for r in regions)
        assert not any(a.overlaps(b) for i, a in enumerate(regions) for b in regions[i + 1 :])
        # Smaller than anyone should use: cramped, but nothing breaks.
        await pilot.resize_terminal(50, 14)
        await pilot.press("1", "2", "3", "f", "4")
        await pilot.pause()
        assert app.query_one("#panes").has_class("-narrow") and app.active_pane == "log"


def write_load(state_dir: Path, tasks: int) -> int:
    """A test run of `tasks` tasks, ten events each plus start and end; returns the events written."""
    writer = EventWriter("test-run", state_dir, run_id="20251126T120000-5555")
    writer.emit("start", tasks=tasks, engine="search", time_budget_s=7200.0, has_solutions=True)
    solved = 0
    for i in range(tasks):
        task_id = f"{i:08x}"
        writer.emit("item", task_id=task_id, state="running", seconds_allowed=3.0)
        for generation in range(7):
            writer.emit(
                "item", task_id=task_id, state="running", generation=generation, fitness=generation / 7
            )
        correct = i % 3 == 0
        solved += correct
        writer.emit(
            "item",
            task_id=task_id,
            state="done",
            fitness=i / tasks,
            seconds=1.0,
            attempts=i % 3,
            correct=correct,
        )
        score = solved / tasks
        writer.emit(
            "progress",
            done=i + 1,
            total=tasks,
            elapsed_s=float(i + 1),
            budget_s=7200.0,
            forecast_s=float(tasks),
            within_budget=True,
            scores={"kaggle": score, "task_fraction": score, "tasks_fully_solved": score},
        )
    writer.emit("end", status="ok", done=tasks, total=tasks, seconds=float(tasks))
    writer.close()
    return 2 + 10 * tasks


@pytest.mark.asyncio
async def test_load_of_20000_events_ends_in_the_exact_state(state_dir: Path) -> None:
    tasks = 2000
    app = make_app(state_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot, app)
        written = await asyncio.to_thread(write_load, state_dir, tasks)
        assert written == 20_002
        await wait_until(
            pilot, lambda: app.model.events["test-run"] == written and app.settled, "all events", tries=3000
        )
        await pilot.pause()
        model = app.model.test_run
        assert app.model.junk_total == 0
        assert (model.run.status, model.done, model.total, model.solved) == ("ok", tasks, tasks, 667)
        assert all(row.fitness == i / tasks for i, row in enumerate(model.tasks.values()))
        table = app.query_one(TaskTable)
        assert table.row_count == tasks
        assert cell_texts(table, f"{tasks - 1:08x}") == [
            f"{tasks - 1:08x}",
            "done",
            "1.000",
            "1.0",
            "1",
            "no",
        ]
        totals = plain(app.query_one("#test-run-totals", Static))
        assert f"done {tasks}/{tasks}" in totals and "solved 667" in totals
        assert f"kaggle {667 / tasks:.3f}" in totals
