"""The TUI folds what each stage's real writer wrote, read by the contract's reader; junk and torn lines
lose nothing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from arcforge_downloader.events import EventWriter as DownloadWriter
from arcforge_events import EventTailer
from arcforge_solver.events import EventWriter as SolveWriter
from arcforge_tui.state import MonitorState


def read_all(state_dir: Path, stage: str) -> MonitorState:
    monitor = MonitorState()
    monitor.apply(stage, EventTailer(state_dir / f"{stage}.jsonl").poll())
    return monitor


def append_raw(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def test_download_writer_to_reader(tmp_path: Path) -> None:
    with DownloadWriter("download", tmp_path) as writer:
        writer.emit(
            "start",
            repo_id="org/model",
            revision="main",
            commit="a" * 40,
            files=1,
            bytes_total=100,
            bytes_to_fetch=100,
        )
        writer.emit("item", file="model/model.safetensors", state="fetching", bytes_total=100)
        writer.emit(
            "progress",
            file="model/model.safetensors",
            bytes_done=60,
            bytes_total=100,
            speed_bps=10.0,
            total_bytes_done=60,
            total_bytes=100,
        )
    append_raw(tmp_path / "download.jsonl", b"not json at all\n[1, 2]\n")
    monitor = read_all(tmp_path, "download")
    assert monitor.junk["download"] == 2
    assert monitor.download.repo_id == "org/model"
    assert monitor.download.files["model/model.safetensors"].bytes_done == 60
    assert monitor.download.run.status == "running"


def test_upload_writer_to_reader(tmp_path: Path) -> None:
    # arcforge-kaggle-publish needs Python 3.11+ (the kaggle client does); the compat session on 3.10 lacks it.
    UploadWriter = pytest.importorskip("arcforge_kaggle_publish.events").EventWriter
    with UploadWriter("upload", tmp_path) as writer:
        writer.emit("start", target="dataset", id="me/tiny-model", files=2, bytes_total=30)
        writer.emit("item", file="model/config.json", state="done", bytes_total=10)
        writer.emit("item", dataset="me/tiny-model", status="READY", version=2)
        writer.emit("end", status="ok", version=2)
    monitor = read_all(tmp_path, "upload")
    assert monitor.junk["upload"] == 0
    assert monitor.upload.remote["dataset"].status == "READY"
    assert monitor.upload.targets["dataset"].files["model/config.json"].state == "done"


def test_test_run_writer_to_reader_with_a_torn_tail(tmp_path: Path) -> None:
    with SolveWriter("test-run", tmp_path) as writer:
        writer.emit(
            "start",
            tasks=2,
            engine="search",
            time_budget_s=3600,
            time_per_task_s=5,
            workers=2,
            has_solutions=True,
            resumed=0,
        )
        writer.emit(
            "item",
            task_id="t1",
            state="done",
            fitness=1.0,
            train_solved=True,
            seconds=1.5,
            attempts=2,
            correct=True,
            program="def solve(grid):\n    return grid\n",
        )
        writer.emit(
            "progress",
            done=1,
            total=2,
            elapsed_s=1.5,
            budget_s=3600,
            forecast_s=3.0,
            within_budget=True,
            scores={"kaggle": 1.0, "task_fraction": 1.0, "tasks_fully_solved": 1.0},
        )
    path = tmp_path / "test-run.jsonl"
    append_raw(path, b'{"v": 1, "stage": "test-run", "kind": "item", "da')  # a writer died mid-line
    tailer = EventTailer(path)
    monitor = MonitorState()
    monitor.apply("test-run", tailer.poll())
    assert monitor.test_run.tasks["t1"].correct is True
    assert monitor.test_run.scores["kaggle"] == 1.0
    assert monitor.test_run.done == 1
    # The torn fragment is held back, not misread; once the line is finished it counts as junk.
    assert monitor.junk["test-run"] == 0
    append_raw(path, b"\n")
    monitor.apply("test-run", tailer.poll())
    assert monitor.junk["test-run"] == 1


def test_after_a_torn_line_the_next_runs_start_is_shown(tmp_path: Path) -> None:
    """Issue 19: a run killed mid-line, then a new run; the pane must show the new run, not the old."""
    with SolveWriter("test-run", tmp_path, run_id="20261201T100000-aaaa") as old:
        old.emit("start", tasks=3, engine="search")
        old.emit("item", task_id="t1", state="running")
    path = tmp_path / "test-run.jsonl"
    append_raw(path, b'{"v":1,"ts":1.0,"stage":"test-run","run_id":"20261201T100000-aaaa","kind":"ite')
    with SolveWriter("test-run", tmp_path, run_id="20261201T110000-bbbb") as new:
        new.emit("start", tasks=1, engine="search")
        new.emit("end", status="ok", done=1, total=1, seconds=2.0)
    monitor = read_all(tmp_path, "test-run")
    assert monitor.test_run.run.run_id == "20261201T110000-bbbb"
    assert monitor.test_run.run.status == "ok" and monitor.test_run.total == 1
    assert monitor.junk["test-run"] == 1


def test_a_line_glued_to_a_torn_fragment_is_still_read(tmp_path: Path) -> None:
    """A writer that does not start on a fresh line (an older arcforge) glues its line to the fragment."""
    path = tmp_path / "test-run.jsonl"
    path.write_bytes(
        b'{"v":1,"stage":"test-run","run_id":"20261201T100000-aaaa","kind":"start","data":{"tas'
        b'{"v":1,"ts":2.0,"stage":"test-run","run_id":"20261201T110000-bbbb","seq":0,"kind":"start",'
        b'"data":{"tasks":7}}\n'
    )
    monitor = read_all(tmp_path, "test-run")
    assert (monitor.test_run.run.run_id, monitor.test_run.total) == ("20261201T110000-bbbb", 7)
    assert monitor.junk["test-run"] == 1
