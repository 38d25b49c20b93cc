"""`arcforge-solve run` driven in-process with the test-double engines: submission, events, journal,
resume, failures, timeouts and the budget."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from arcforge_solver.cli import build_parser, choose_engine, engine_options, main
from arcforge_solver.runtime import defaults
from arcforge_solver.runtime.run import RunConfig, bundled_sample
from arcforge_solver.runtime.submission import validate_submission
from arcforge_solver.tasks.io import load_tasks
from tests.solver.conftest import DOUBLE


def events(state: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (state / "test-run.jsonl").read_text().splitlines()]


def last_run(state: Path) -> list[dict[str, Any]]:
    all_events = events(state)
    start = max(i for i, e in enumerate(all_events) if e["kind"] == "start")
    return all_events[start:]


def run_cli(tmp_path: Path, *args: str, engine: str = "FixedProgramEngine", tasks: Path | None = None) -> int:
    argv = (
        ["run"]
        + ([str(tasks)] if tasks else [])
        + [
            "--out",
            str(tmp_path / "out" / "submission.json"),
            "--state-dir",
            str(tmp_path / "state"),
            "--engine",
            f"{DOUBLE}:{engine}",
            "--time-per-task",
            "5",
            *args,
        ]
    )
    return main(argv)


def submission(tmp_path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((tmp_path / "out" / "submission.json").read_text())
    return data


def test_bundled_sample_runs_by_default_and_is_scored(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_cli(tmp_path, "--workers", "2") == 0
    with bundled_sample() as sample:
        loaded = load_tasks(sample)
    assert len(loaded.tasks) == 40 and loaded.has_solutions
    counts = {t.task_id: len(t.test) for t in loaded.tasks}
    assert validate_submission(submission(tmp_path), counts) == []
    run = last_run(tmp_path / "state")
    assert [e["seq"] for e in run] == list(range(len(run)))
    start, end = run[0], run[-1]
    assert (
        start["kind"] == "start" and start["data"]["tasks"] == 40 and start["data"]["has_solutions"] is True
    )
    assert end["kind"] == "end" and end["data"]["status"] == "ok" and end["data"]["done"] == 40
    scores = end["data"]["scores"]
    assert 0 < scores["tasks_fully_solved"] < 1  # the double's rotations solve a few sample tasks
    done_items = [e["data"] for e in run if e["kind"] == "item" and e["data"]["state"] == "done"]
    assert len(done_items) == 40
    solved = [i for i in done_items if i["correct"]]
    assert solved and all(i["train_solved"] and i["fitness"] == 1.0 for i in solved)
    assert all(
        len(i["predictions"]) == counts[i["task_id"]] and i["train"] and i["program"] for i in done_items
    )
    # Engine events come through with their task id.
    assert any(
        e["kind"] == "log" and e["data"].get("task_id") and "double solving" in e["data"]["message"]
        for e in run
    )
    progress = [e["data"] for e in run if e["kind"] == "progress"]
    assert progress[-1]["done"] == 40 and progress[-1]["forecast_s"] is not None and "scores" in progress[-1]
    out = capsys.readouterr().err
    assert "tasks fully solved" in out and "at this pace 40 tasks need" in out
    journal = (tmp_path / "out" / "submission.journal.jsonl").read_text().splitlines()
    assert len(journal) == 40
    record = json.loads(journal[0])
    assert {"task_id", "fingerprint", "engine", "state", "fitness", "program", "entries", "seconds"} <= set(
        record
    )


def test_rerun_resumes_and_skips_finished_tasks(tmp_path: Path, small_tasks: Path) -> None:
    assert run_cli(tmp_path, "--limit", "2", "--workers", "1", tasks=small_tasks) == 0
    first = submission(tmp_path)
    assert set(first) == {"flip0", "flip1", "flip7", "hard5", "hard8"}  # every task, even those not run
    assert first["flip0"][0]["attempt_1"] == [[9, 1], [7, 8]]
    assert first["flip7"][0]["attempt_1"] == [[3, 3, 3], [0, 0, 0]]  # not run yet: fallback
    assert run_cli(tmp_path, "--workers", "1", tasks=small_tasks) == 0
    run = last_run(tmp_path / "state")
    assert run[0]["data"]["resumed"] == 2
    started = [e["data"]["task_id"] for e in run if e["kind"] == "item" and e["data"]["state"] == "running"]
    assert started == ["flip7", "hard5", "hard8"]
    assert submission(tmp_path)["flip7"][0]["attempt_1"] == [[0, 0, 0], [3, 3, 3]]
    assert run[-1]["data"]["scores"]["tasks_fully_solved"] == pytest.approx(3 / 5)
    # A third run has nothing left to do.
    assert run_cli(tmp_path, "--workers", "1", tasks=small_tasks) == 0
    third = last_run(tmp_path / "state")
    assert third[0]["data"]["resumed"] == 5
    assert not [e for e in third if e["kind"] == "item" and e["data"]["state"] == "running"]
    # --fresh starts over.
    assert run_cli(tmp_path, "--workers", "1", "--fresh", tasks=small_tasks) == 0
    assert last_run(tmp_path / "state")[0]["data"]["resumed"] == 0


def test_changed_task_content_is_not_resumed(tmp_path: Path, small_tasks: Path) -> None:
    assert (
        run_cli(
            tmp_path,
            "--workers",
            "1",
            "--engine",
            f"{DOUBLE}:SequentialFixedProgramEngine",
            tasks=small_tasks,
        )
        == 0
    )
    task = json.loads((small_tasks / "hard5.json").read_text())
    task["test"][0]["input"] = [[6, 6]]
    (small_tasks / "hard5.json").write_text(json.dumps(task))
    assert run_cli(tmp_path, "--workers", "1", tasks=small_tasks, engine="SequentialFixedProgramEngine") == 0
    run = last_run(tmp_path / "state")
    assert run[0]["data"]["resumed"] == 4
    assert [e["data"]["task_id"] for e in run if e["kind"] == "item" and e["data"]["state"] == "running"] == [
        "hard5"
    ]


def test_engine_crash_fails_only_that_task_and_is_retried_on_rerun(
    tmp_path: Path, small_tasks: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert run_cli(tmp_path, "--workers", "2", tasks=small_tasks, engine="CrashingEngine") == 0
    run = last_run(tmp_path / "state")
    states = {
        e["data"]["task_id"]: e["data"]["state"]
        for e in run
        if e["kind"] == "item" and e["data"]["state"] != "running"
    }
    assert states == {"flip0": "failed", "flip1": "failed", "hard8": "done", "flip7": "done", "hard5": "done"}
    failed = [e["data"] for e in run if e["kind"] == "item" and e["data"]["state"] == "failed"]
    assert all("double crashed on" in item["error"] for item in failed)
    assert any(e["kind"] == "error" and e["data"].get("task_id") == "flip0" for e in run)
    sub = submission(tmp_path)
    assert sub["flip0"] == [{"attempt_1": [[7, 8], [9, 1]], "attempt_2": [[7, 8], [9, 1]]}]  # fallback
    assert sub["flip7"][0]["attempt_1"] == [[0, 0, 0], [3, 3, 3]]
    monkeypatch.setenv("ARCFORGE_DOUBLE_CRASH", "0")
    assert run_cli(tmp_path, "--workers", "1", tasks=small_tasks, engine="CrashingEngine") == 0
    rerun = last_run(tmp_path / "state")
    assert rerun[0]["data"]["resumed"] == 3
    assert submission(tmp_path)["flip0"][0]["attempt_1"] == [[9, 1], [7, 8]]


def test_engine_that_ignores_its_deadline_is_killed_and_the_run_goes_on(
    tmp_path: Path, small_tasks: Path
) -> None:
    assert (
        run_cli(
            tmp_path,
            "--limit",
            "2",
            "--workers",
            "2",
            "--time-per-task",
            "0.5",
            tasks=small_tasks,
            engine="HangingEngine",
        )
        == 0
    )
    run = last_run(tmp_path / "state")
    finished = [e["data"] for e in run if e["kind"] == "item" and e["data"]["state"] not in ("running",)]
    assert [i["state"] for i in finished] == ["timeout", "timeout"]
    assert all("overran" in i["error"] for i in finished)
    assert run[-1]["data"]["status"] == "ok"


def test_sequential_engine_runs_in_process(tmp_path: Path, small_tasks: Path) -> None:
    assert run_cli(tmp_path, "--workers", "3", tasks=small_tasks, engine="SequentialFixedProgramEngine") == 0
    run = last_run(tmp_path / "state")
    assert run[-1]["data"]["scores"]["tasks_fully_solved"] == pytest.approx(3 / 5)
    assert any(e["kind"] == "log" and e["data"].get("task_id") == "flip0" for e in run)


def test_engine_can_use_the_runtime_sandbox(tmp_path: Path, small_tasks: Path) -> None:
    assert (
        run_cli(tmp_path, "--limit", "1", "--workers", "1", tasks=small_tasks, engine="SandboxedEngine") == 0
    )
    assert submission(tmp_path)["flip0"][0]["attempt_1"] == [[9, 1], [7, 8]]


def test_spent_budget_skips_the_rest_with_fallbacks(tmp_path: Path, small_tasks: Path) -> None:
    assert run_cli(tmp_path, "--workers", "1", "--time-budget", "1s", tasks=small_tasks) == 0
    run = last_run(tmp_path / "state")
    skipped = [e["data"]["task_id"] for e in run if e["kind"] == "item" and e["data"]["state"] == "skipped"]
    assert skipped == ["flip0", "flip1", "flip7", "hard5", "hard8"]
    assert any(e["kind"] == "log" and "time budget spent" in e["data"]["message"] for e in run)
    assert submission(tmp_path)["flip0"][0]["attempt_1"] == [[7, 8], [9, 1]]


@pytest.mark.parametrize(
    ("engine", "message"),
    [
        ("nonexistent_module_xyz:Engine", "engine 'nonexistent_module_xyz:Engine' is not available"),
        ("nonsense", "unknown engine 'nonsense'"),
        (f"{DOUBLE}:NoSuchClass", "has no NoSuchClass"),
        (f"{DOUBLE}:BrokenOptionsEngine", "cannot start engine"),
    ],
)
def test_engine_that_cannot_load_gives_one_clear_error_and_a_valid_fallback(
    tmp_path: Path, small_tasks: Path, capsys: pytest.CaptureFixture[str], engine: str, message: str
) -> None:
    code = main(
        [
            "run",
            str(small_tasks),
            "--out",
            str(tmp_path / "s.json"),
            "--state-dir",
            str(tmp_path / "st"),
            "--engine",
            engine,
            "--workers",
            "1",
        ]
    )
    assert code == 2
    err = capsys.readouterr().err
    assert message in err and "fallback submission" in err
    data = json.loads((tmp_path / "s.json").read_text())
    assert validate_submission(data, {"flip0": 1, "flip1": 2, "flip7": 1, "hard5": 1, "hard8": 1}) == []
    assert last_run(tmp_path / "st")[-1]["data"]["status"] == "failed"


def test_bad_tasks_are_reported_and_still_get_fallback_entries(
    tmp_path: Path, small_tasks: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (small_tasks / "bad3.json").write_text(
        json.dumps({"train": [{"input": [[1, 11]], "output": [[1]]}], "test": [{"input": [[4]]}]})
    )
    assert run_cli(tmp_path, "--workers", "1", tasks=small_tasks) == 0
    assert "bad3.json: task bad3: train pair 0 input: cell [0][1] is 11" in capsys.readouterr().err
    assert submission(tmp_path)["bad3"] == [{"attempt_1": [[4]], "attempt_2": [[4]]}]
    assert any(
        e["kind"] == "error" and e["data"].get("task_id") == "bad3" for e in last_run(tmp_path / "state")
    )


def test_missing_tasks_path_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", str(tmp_path / "nope"), "--out", str(tmp_path / "s.json")]) == 2
    assert "nope: no such file or folder" in capsys.readouterr().err


def test_engine_flags_and_default_engine() -> None:
    parser = build_parser()
    args = parser.parse_args(["run", "--model-dir", "/m", "--population", "3", "--samples-per-call", "2"])
    assert choose_engine(args) == "hybrid"
    assert engine_options(args) == {"model_dir": "/m", "population": 3, "samples_per_call": 2}
    plain = parser.parse_args(["run"])
    assert choose_engine(plain) == "search" and engine_options(plain) == {}
    explicit = parser.parse_args(["run", "--model-dir", "/m", "--engine", "llm", "--generations", "4"])
    assert choose_engine(explicit) == "llm" and engine_options(explicit) == {
        "model_dir": "/m",
        "generations": 4,
    }
    with pytest.raises(SystemExit):
        parser.parse_args(["run", "--test-mode", "--limit", "3"])
    with pytest.raises(SystemExit):
        parser.parse_args(["run", "--time-budget", "soon"])


def test_the_cli_and_run_config_take_their_defaults_from_one_place() -> None:
    args = build_parser().parse_args(["run"])
    # No --time-per-task: the cap comes from defaults.time_per_task_cap (20 s without a budget, none
    # with one); no --workers: auto, decided at run time from the cores and the GPU lanes.
    assert args.time_per_task is None and args.workers is None
    assert (
        defaults.time_per_task_cap(args.time_budget, args.time_per_task) == defaults.TIME_PER_TASK_S == 20.0
    )
    assert args.time_budget is defaults.TIME_BUDGET_S is None
    assert args.seed == defaults.SEED
    assert choose_engine(args) == defaults.ENGINE
    config = RunConfig(out=Path("submission.json"))
    assert (config.time_per_task_s, config.time_budget_s, config.workers, config.seed, config.engine) == (
        None,
        defaults.TIME_BUDGET_S,
        None,
        defaults.SEED,
        defaults.ENGINE,
    )


def test_test_mode_runs_five_and_keeps_every_task_in_the_submission(tmp_path: Path) -> None:
    assert run_cli(tmp_path, "--test-mode", "--workers", "1") == 0
    run = last_run(tmp_path / "state")
    assert run[0]["data"]["tasks"] == 5 and run[-1]["data"]["done"] == 5
    assert len(submission(tmp_path)) == 40


def test_engines_learn_how_much_of_the_run_is_left(tmp_path: Path, small_tasks: Path) -> None:
    assert run_cli(tmp_path, "--workers", "1", tasks=small_tasks, engine="SequentialFixedProgramEngine") == 0
    logs = [
        e["data"]["message"]
        for e in last_run(tmp_path / "state")
        if e["kind"] == "log" and e["data"].get("task_id")
    ]
    assert logs[0] == "double solving flip0, 5 tasks remaining"
    assert logs[-1] == "double solving hard8, 1 tasks remaining"


def test_torn_journal_lines_are_skipped_on_resume(tmp_path: Path, small_tasks: Path) -> None:
    assert run_cli(tmp_path, "--workers", "1", "--limit", "3", tasks=small_tasks) == 0
    journal = tmp_path / "out" / "submission.journal.jsonl"
    lines = journal.read_text().splitlines()
    journal.write_text("\n".join(lines[:2]) + "\n" + lines[2][:40])  # a kill tore the last line
    assert run_cli(tmp_path, "--workers", "1", tasks=small_tasks) == 0
    run = last_run(tmp_path / "state")
    assert run[0]["data"]["resumed"] == 2
    assert run[-1]["data"]["done"] == 5


def test_progress_line_rewrites_itself_on_a_terminal() -> None:
    import io

    from arcforge_solver.runtime.progress import ProgressLine

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    screen = Terminal()
    line = ProgressLine(screen, tty_interval_s=0)
    line.update("test-run 1/40 tasks")
    line.update("test-run 2/4")
    line.message("a forecast")
    assert screen.getvalue() == "\rtest-run 1/40 tasks\rtest-run 2/4       \na forecast\n"
    log = io.StringIO()
    plain = ProgressLine(log, plain_interval_s=3600)
    plain.update("first", force=True)
    plain.update("dropped")
    plain.update("last", force=True)
    assert log.getvalue() == "first\nlast\n"
