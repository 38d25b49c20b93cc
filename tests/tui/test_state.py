"""The state model, fed files written by the stages' real writers."""

from __future__ import annotations

from pathlib import Path

import pytest

import arcforge_events.writer as event_writer
from arcforge_events import STAGES, EventTailer, EventWriter, event_path
from arcforge_tui.state import MonitorState, format_in
from tests.tui import scenario


def load(state_dir: Path) -> MonitorState:
    model = MonitorState()
    for stage in STAGES:
        tailer = EventTailer(event_path(state_dir, stage))
        model.apply(stage, tailer.poll())
        model.apply(stage, tailer.flush_fragment())
    return model


def test_download_progress_speed_and_eta(state_dir: Path) -> None:
    scenario.write_download(state_dir, finished=False)
    download = load(state_dir).download
    assert download.run.run_id == scenario.DOWNLOAD_RUN and download.run.status == "running"
    assert download.repo_id == "google/gemma-3-1b-it"
    sizes = dict(scenario.MODEL_FILES)
    total = sum(sizes.values())
    shard2 = "model-00002-of-00002.safetensors"
    assert [f.state for f in download.files.values()] == ["done", "done", "done", "fetching"]
    assert download.files[shard2].fraction == pytest.approx(0.5)
    done = total - sizes[shard2] // 2
    assert download.bytes_done == done and download.overall_total == total
    assert download.speed_bps == 50_000_000
    assert download.eta_s == pytest.approx((total - done) / 50_000_000)


def test_finished_download(state_dir: Path) -> None:
    scenario.write_download(state_dir)
    download = load(state_dir).download
    assert download.run.status == "ok" and download.run.seconds == 133.4
    assert download.count("done") == 4 and download.bytes_done == download.overall_total
    assert download.speed_bps == 0 and download.eta_s is None


def test_gated_error_gets_advice_in_words(state_dir: Path) -> None:
    scenario.write_gated_download(state_dir)
    model = load(state_dir)
    [error] = model.download.errors
    assert error.code == "gated" and "hf_SECRETTOKEN" not in error.message  # the writer redacted it
    assert error.advice is not None and "HF_TOKEN" in error.advice and "accept its licence" in error.advice
    assert model.download.run.status == "failed"  # no `start` line: the run is adopted from its events
    assert model.log[-1].level == "error" and model.log[-1].advice == error.advice


def test_upload_keeps_the_latest_run_of_each_target(state_dir: Path) -> None:
    scenario.write_upload(state_dir)
    upload = load(state_dir).upload
    assert list(upload.targets) == ["dataset", "kernel"]
    dataset = upload.targets["dataset"]
    assert [f.state for f in dataset.files.values()] == ["done", "done", "done"]
    assert all(f.fraction == 1.0 for f in dataset.files.values())
    assert dataset.bytes_done == dataset.bytes_total == sum(size for _, size in scenario.DATASET_FILES)
    assert upload.remote["dataset"].status == "READY" and upload.remote["dataset"].version == 3
    kernel = upload.remote["kernel"]
    assert kernel.status == "ERROR" and kernel.message is not None and "out of memory" in kernel.message
    assert upload.run.run_id == scenario.KERNEL_RUN and upload.run.status == "failed"
    assert [e.code for e in upload.errors] == ["kernel_error"]


def test_test_run_rows_scores_and_forecast_while_running(state_dir: Path) -> None:
    scenario.write_test_run(state_dir, finished=False, tasks=4)
    run = load(state_dir).test_run
    assert run.run.status == "running"
    assert (run.done, run.total, run.solved) == (4, 6, 2)
    assert run.forecast_text == "6.8 h of 12 h at this pace"
    assert run.elapsed_s == 4 * 3600.0 and run.time_budget_s == 43_200.0
    assert run.scores == {"kaggle": 2 / 6, "task_fraction": 2 / 6, "tasks_fully_solved": 2 / 6}
    row = run.tasks["017c7c7b"]
    assert (row.state, row.fitness, row.seconds, row.attempts, row.correct) == ("done", 0.82, 60.0, 2, False)
    assert [r.task_id for r in run.rows("solved")] == ["007bbfb7", "00d62c1b"]
    assert [r.task_id for r in run.rows("failed")] == ["017c7c7b", "025d127b"]


def test_finished_test_run(state_dir: Path) -> None:
    scenario.write_test_run(state_dir)
    run = load(state_dir).test_run
    assert run.run.status == "ok" and (run.done, run.solved) == (6, 3)
    assert run.scores == scenario.SCORES
    assert run.forecast_text == "finished in 6 h of 12 h"
    assert [r.task_id for r in run.rows("failed")] == ["017c7c7b", "025d127b", "045e512c"]
    assert run.tasks["045e512c"].error == "engine crashed: ValueError"


def test_only_the_latest_run_is_shown(state_dir: Path) -> None:
    scenario.write_test_run(state_dir)
    second = EventWriter("test-run", state_dir, run_id="20251126T080000-1111")
    second.emit("start", tasks=2, engine="llm", time_budget_s=600.0, has_solutions=False)
    second.emit("item", task_id="aaaa0001", state="done", fitness=0.5, train_solved=False, correct=None)
    second.emit(
        "progress", done=1, total=2, elapsed_s=90.0, budget_s=600.0, forecast_s=660.0, within_budget=False
    )
    second.close()
    model = load(state_dir)
    run = model.test_run
    assert run.run.run_id == "20251126T080000-1111"
    assert list(run.tasks) == ["aaaa0001"] and run.scores is None and not run.has_solutions
    assert run.forecast_text == "11 min of 10 min at this pace — over budget"
    # The earlier run's log lines went with it.
    assert not [e for e in model.log if e.stage == "test-run"]


def test_events_before_start_and_unknown_kinds_and_keys(
    state_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ARCFORGE_EVENTS_STRICT", raising=False)  # a newer writer's keys, on purpose
    writer = EventWriter("test-run", state_dir, run_id="20251126T090000-2222")
    # The solver reports bad task files before its `start`: they belong to the same run and stay.
    writer.emit("error", message="bad task file tasks/x.json", task_id="x", file="tasks/x.json")
    writer.emit("start", tasks=1, engine="search", time_budget_s=60.0, has_solutions=True, brand_new=True)
    writer.emit("progress", task_id="aaaa0002", generation=4)  # an engine's per-task progress
    writer.emit("item", task_id="aaaa0002", state="done", fitness=1.0, correct=True, shiny={"x": 1})
    writer.close()
    with (state_dir / "test-run.jsonl").open("a") as handle:
        handle.write('{"v":1,"ts":1,"stage":"test-run","run_id":"20251126T090000-2222","kind":"heartbeat"}\n')
    model = load(state_dir)
    assert model.junk["test-run"] == 0
    assert [e.message for e in model.log] == ["x: bad task file tasks/x.json"]
    assert model.test_run.solved == 1 and model.test_run.done == 1 and model.test_run.total == 1


def test_download_restart_drops_the_old_state(state_dir: Path) -> None:
    scenario.write_download(state_dir)
    model = MonitorState()
    tailer = EventTailer(event_path(state_dir, "download"))
    model.apply("download", tailer.poll())
    assert model.download.count("done") == 4
    path = event_path(state_dir, "download")
    path.write_text("")
    with scenario.fixed_clock(event_writer):
        writer = EventWriter("download", state_dir, run_id="20251126T100000-3333")
        writer.emit("start", repo_id="a/b", files=1, bytes_total=10, bytes_to_fetch=10)
        writer.close()
    model.apply("download", tailer.poll())
    assert model.restarts["download"] == 1
    assert model.download.run.run_id == "20251126T100000-3333" and not model.download.files


def test_format_in() -> None:
    assert format_in(24_480, "h") == "6.8 h" and format_in(43_200, "h") == "12 h"
    assert format_in(90, "s") == "90 s" and format_in(150, "min") == "2.5 min"
