"""Issue 19's hostile lines against the running app: nothing kills it, a tailer outlives any line and
says in the log pane what it skipped, and a torn line does not hide the next run."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from textual.pilot import Pilot

from arcforge_events import EventWriter
from arcforge_tui.app import MonitorApp
from arcforge_tui.state import MonitorState
from arcforge_tui.widgets import LogPane, StatusHeader
from tests.tui import scenario
from tests.tui.conftest import make_app, plain, skipped_count, wait_until

RUN = "20261201T090000-abcd"


def append(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def event_line(kind: str, data: str, run_id: str = RUN, seq: int = 1) -> bytes:
    return (
        f'{{"v":1,"ts":{1764000000 + seq},"stage":"test-run","run_id":"{run_id}","seq":{seq},'
        f'"kind":"{kind}","data":{data}}}\n'
    ).encode()


@pytest.mark.parametrize("number", ["Infinity", "-Infinity", "NaN", "1e400", "1" + "0" * 400])
def test_a_number_json_cannot_hold_is_junk_not_a_crash(state_dir: Path, number: str) -> None:
    path = state_dir / "test-run.jsonl"
    append(path, event_line("start", f'{{"tasks":{number},"time_budget_s":{number}}}', seq=0))
    append(path, event_line("progress", f'{{"done":{number},"elapsed_s":{number},"forecast_s":{number}}}'))
    append(
        path, event_line("item", f'{{"task_id":"t1","state":"done","seconds":{number},"fitness":{number}}}')
    )
    append(path, event_line("start", '{"tasks":2}', run_id="20261201T100000-beef", seq=0))
    model = scenario_load(state_dir)
    assert model.junk["test-run"] == 3
    assert model.test_run.run.run_id == "20261201T100000-beef" and model.test_run.total == 2
    # Said in the log, with the reason.
    assert any("skipped 3 lines: a number out of range" in entry.message for entry in model.log)


def test_a_state_fed_non_finite_numbers_by_hand_does_not_raise() -> None:
    """The reader already refuses them; the state's own checks hold for anything else that feeds it."""
    from arcforge_events import Event, ReadBatch

    inf = float("inf")
    batch = ReadBatch(exists=True)
    batch.events += [
        Event("test-run", RUN, "start", 1.0, 0, {"tasks": inf, "time_budget_s": inf}),
        Event(
            "test-run",
            RUN,
            "progress",
            2.0,
            1,
            {"done": inf, "forecast_s": float("nan"), "scores": {"k": inf}},
        ),
        Event(
            "test-run",
            RUN,
            "item",
            3.0,
            2,
            {"task_id": "t", "state": "done", "attempts": inf, "seconds": inf},
        ),
        Event("test-run", RUN, "end", 4.0, 3, {"status": "ok", "seconds": inf, "total": 10**400}),
    ]
    model = MonitorState()
    model.apply("test-run", batch)
    assert model.test_run.total is None and model.test_run.tasks["t"].attempts is None
    assert model.test_run.scores == {}
    assert model.test_run.forecast_text  # renders


@contextlib.asynccontextmanager
async def following_a_run(state_dir: Path, width: int = 100) -> AsyncIterator[tuple[MonitorApp, Pilot[None]]]:
    """The app following a test run whose first two tasks are done (the run goes on)."""
    scenario.write_test_run(state_dir, tasks=2, finished=False)
    app = make_app(state_dir)
    async with app.run_test(size=(width, 40)) as pilot:
        await wait_until(pilot, lambda: app.model.test_run.done == 2, "the first tasks")
        yield app, pilot


def scenario_load(state_dir: Path) -> MonitorState:
    from arcforge_events import event_path, read_events

    model = MonitorState()
    model.apply("test-run", read_events(event_path(state_dir, "test-run")))
    return model


@pytest.mark.asyncio
async def test_infinity_in_a_live_file_does_not_kill_the_app(state_dir: Path) -> None:
    async with following_a_run(state_dir) as (app, pilot):
        path = state_dir / "test-run.jsonl"
        append(path, event_line("progress", '{"done":Infinity,"forecast_s":1e400}', run_id=scenario.TEST_RUN))
        with EventWriter("test-run", state_dir, run_id=scenario.TEST_RUN) as writer:
            writer.emit("log", level="info", message="still here")
        await wait_until(
            pilot, lambda: any(e.message == "still here" for e in app.model.log), "the next line"
        )
        await wait_until(pilot, lambda: app.settled, "a redraw")
        assert app.is_running
        assert "junk lines: 1" in plain(app.query_one(StatusHeader))


@pytest.mark.asyncio
async def test_a_tailer_survives_a_100000_deep_line_and_says_so(state_dir: Path) -> None:
    # Wide: the log pane shows beside the others.
    async with following_a_run(state_dir, width=120) as (app, pilot):
        path = state_dir / "test-run.jsonl"
        deep = b"[" * 100_000 + b"]" * 100_000
        append(
            path,
            event_line("item", '{"task_id":"deep","train":' + deep.decode() + "}", run_id=scenario.TEST_RUN),
        )
        append(path, deep + b"\n")  # and bare, not even an object
        with EventWriter("test-run", state_dir, run_id=scenario.TEST_RUN) as writer:
            writer.emit("item", task_id="after-deep", state="done", correct=True)
        await wait_until(
            pilot, lambda: "after-deep" in app.model.test_run.tasks, "the line after the deep ones"
        )
        assert app.model.junk["test-run"] == 2
        reason = "nested deeper than 32 levels"
        messages = [entry.message for entry in app.model.log]
        assert all(m.startswith("test-run.jsonl: ") for m in messages if reason in m)
        assert skipped_count(messages, reason) == 2
        await wait_until(pilot, lambda: app.settled, "a redraw")
        log_pane = app.query_one(LogPane)
        await wait_until(
            pilot, lambda: skipped_count([s.text for s in log_pane.lines], reason) == 2, "the log pane"
        )


@pytest.mark.asyncio
async def test_a_100_mb_line_is_skipped_and_counted(state_dir: Path) -> None:
    async with following_a_run(state_dir) as (app, pilot):
        path = state_dir / "test-run.jsonl"
        head = (
            b'{"v":1,"stage":"test-run","run_id":"'
            + scenario.TEST_RUN.encode()
            + b'","kind":"log","data":{"message":"'
        )
        with path.open("ab") as handle:
            handle.write(head)
            block = b"x" * (1 << 20)
            for _ in range(100):
                handle.write(block)
            handle.write(b'"}}\n')
        with EventWriter("test-run", state_dir, run_id=scenario.TEST_RUN) as writer:
            writer.emit("log", level="info", message="after the huge line")
        await wait_until(
            pilot,
            lambda: any(e.message == "after the huge line" for e in app.model.log),
            "the next line",
            tries=3000,
        )
        assert app.model.junk["test-run"] == 1
        assert any("skipped 1 line: longer than 1 MiB" in e.message for e in app.model.log)


@pytest.mark.asyncio
async def test_after_a_torn_line_the_next_runs_start_is_shown(state_dir: Path) -> None:
    async with following_a_run(state_dir) as (app, pilot):
        assert app.model.test_run.run.status == "running"
        path = state_dir / "test-run.jsonl"
        append(path, b'{"v":1,"stage":"test-run","run_id":"' + scenario.TEST_RUN.encode())  # killed mid-line
        # The next run, appended as a writer that does not start on a fresh line would (arcforge-events'
        # writer does; tests/events covers it): its `start` is glued to the fragment.
        append(
            path, event_line("start", '{"tasks":1,"engine":"search"}', run_id="20261201T120000-cafe", seq=0)
        )
        append(path, event_line("end", '{"status":"ok","total":1}', run_id="20261201T120000-cafe", seq=1))
        await wait_until(
            pilot, lambda: app.model.test_run.run.run_id == "20261201T120000-cafe", "the new run"
        )
        await wait_until(pilot, lambda: app.settled, "a redraw")
        assert app.model.test_run.run.status == "ok" and app.model.test_run.total == 1
        header = plain(app.query_one(StatusHeader))
        assert "20261201T120000-cafe" in header and scenario.TEST_RUN not in header
        assert any("skipped 1 line: torn" in entry.message for entry in app.model.log)


@pytest.mark.asyncio
async def test_a_line_feed_opens_the_task_detail_like_enter(state_dir: Path) -> None:
    """Issue 15: under `invoke tui`, Enter reaches the app as a line feed (ctrl+j), see TaskTable."""
    from arcforge_tui.detail import TaskDetailScreen

    scenario.write_all(state_dir)
    app = make_app(state_dir, replay=True)
    async with app.run_test(size=(100, 40)) as pilot:
        await wait_until(pilot, lambda: app.loaded and app.settled, "a settled screen")
        await pilot.press("3", "down", "ctrl+j")
        await pilot.pause()
        assert isinstance(app.screen, TaskDetailScreen) and app.screen.row.task_id == "00d62c1b"
