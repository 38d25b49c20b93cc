"""GPU lanes in a real run: with a fake GPU count, an engine that holds a model gets one worker per card,
each with its own CUDA_VISIBLE_DEVICES and its own replica, loaded once, and the tasks are spread over
the lanes; a model too big for one card runs as one sharded lane; no GPU is one lane on the CPU."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from arcforge_solver.cli import main
from tests.solver.conftest import flipped_task

ENGINE = "tests.solver.lane_doubles:ModelReplicaDouble"


def _tasks(folder: Path, count: int) -> Path:
    folder.mkdir()
    for index in range(count):
        body = flipped_task([[[index % 9 + 1, 0], [0, 2]]], [[[3, index % 9 + 1]]])
        (folder / f"task{index:02d}.json").write_text(json.dumps(body))
    return folder


def _run(tmp_path: Path, tasks: Path, *extra: str, workers: str = "2", engine: str = ENGINE) -> int:
    out, state = tmp_path / "out" / "submission.json", tmp_path / "state"
    engine_args = ["--engine", engine] if engine else []
    argv = ["run", str(tasks), "--out", str(out), "--state-dir", str(state), *engine_args]
    return main([*argv, "--time-per-task", "30", "--workers", workers, *extra])


def _events(tmp_path: Path) -> list[dict[str, Any]]:
    lines = (tmp_path / "state" / "test-run.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def _journal(tmp_path: Path) -> dict[str, dict[str, Any]]:
    lines = (tmp_path / "out" / "submission.journal.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines if line.strip()]
    return {r["task_id"]: r for r in records if "task_id" in r}


def _loads(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.fixture
def lane_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    loads = tmp_path / "loads.jsonl"
    monkeypatch.setenv("ARCFORGE_DOUBLE_LOADS", str(loads))
    monkeypatch.setenv("ARCFORGE_DOUBLE_SLEEP", "0.5")
    monkeypatch.setenv("ARCFORGE_EVENTS_STRICT", "1")  # every key the run writes is in docs/events.md
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    return loads


def test_four_gpus_four_lanes_one_replica_each(
    tmp_path: Path, lane_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ARCFORGE_FAKE_GPUS", "4")
    monkeypatch.setenv("ARCFORGE_DOUBLE_BARRIER", "4")  # the replicas load together, as on real cards
    tasks = _tasks(tmp_path / "tasks", 12)
    assert _run(tmp_path, tasks) == 0

    # One model load per lane, each in its own process, each seeing only its own card.
    loads = _loads(lane_env)
    assert sorted(load["cuda_visible_devices"] for load in loads) == ["0", "1", "2", "3"]
    assert len({load["pid"] for load in loads}) == 4
    pid_of_card = {load["cuda_visible_devices"]: load["pid"] for load in loads}

    events = _events(tmp_path)
    start = next(e["data"] for e in events if e["kind"] == "start")
    assert (start["lanes"], start["gpus"]) == (4, 4)
    logs = [e["data"] for e in events if e["kind"] == "log"]
    assert any(
        "GPU lanes:" in log["message"] and "4 lanes, one replica per GPU" in log["message"] for log in logs
    )
    ready = sorted(log["lane"] for log in logs if "engine ready" in log["message"])
    assert ready == [0, 1, 2, 3]

    # Every task was solved by one lane, on that lane's card, by that lane's one replica.
    done = {
        e["data"]["task_id"]: e["data"]
        for e in events
        if e["kind"] == "item" and e["data"]["state"] == "done"
    }
    assert len(done) == 12
    journal = _journal(tmp_path)
    for task_id, item in done.items():
        lane = item["lane"]
        stats = journal[task_id]["stats"]
        assert stats["cuda_visible_devices"] == str(lane)
        assert stats["pid"] == pid_of_card[str(lane)]
    lanes_used = {item["lane"] for item in done.values()}
    assert lanes_used == {0, 1, 2, 3}  # spread over every lane
    assert all(item["correct"] for item in done.values())


def test_a_model_too_big_for_one_card_runs_as_one_sharded_lane(
    tmp_path: Path, lane_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ARCFORGE_FAKE_GPUS", "4")
    monkeypatch.setenv("ARCFORGE_DOUBLE_REPLICA_GIB", "40")
    monkeypatch.setenv("ARCFORGE_DOUBLE_SLEEP", "0")
    assert _run(tmp_path, _tasks(tmp_path / "tasks", 3)) == 0
    loads = _loads(lane_env)
    assert len(loads) == 1 and loads[0]["pid"] == os.getpid()  # one replica, in the runtime's process
    events = _events(tmp_path)
    start = next(e["data"] for e in events if e["kind"] == "start")
    assert (start["lanes"], start["gpus"]) == (1, 4)
    messages = [e["data"]["message"] for e in events if e["kind"] == "log"]
    assert any("sharded over 4 GPUs with device_map=auto" in m for m in messages)


def test_without_a_gpu_one_lane_and_workers_auto(
    tmp_path: Path, lane_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ARCFORGE_FAKE_GPUS", "0")
    monkeypatch.setenv("ARCFORGE_DOUBLE_SLEEP", "0")
    tasks = _tasks(tmp_path / "tasks", 2)
    assert _run(tmp_path, tasks, workers="auto") == 0
    assert len(_loads(lane_env)) == 1
    start = next(e["data"] for e in _events(tmp_path) if e["kind"] == "start")
    assert (start["lanes"], start["gpus"]) == (1, 0)
    assert start["workers"] == len(os.sched_getaffinity(0))  # no GPU lane keeps a core
    messages = [e["data"]["message"] for e in _events(tmp_path) if e["kind"] == "log"]
    assert any("no GPU visible: one lane on the CPU" in m for m in messages)


def test_the_hybrid_engine_runs_one_replica_per_lane(
    tmp_path: Path, small_tasks: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real hybrid engine and the tests' tiny model on two fake cards: each lane loads the model and
    starts its own DSL search worker (a lane worker may start workers of its own)."""
    pytest.importorskip("torch")
    from tests.support.tiny_model import build_tiny_model

    model = build_tiny_model(tmp_path / "tiny")
    monkeypatch.setenv("ARCFORGE_FAKE_GPUS", "2")
    monkeypatch.setenv("ARCFORGE_EVENTS_STRICT", "1")
    # Short prompts and answers: a CPU shared with other jobs prefills slowly, and only decoding
    # steps can be interrupted at the deadline.
    monkeypatch.setenv("ARCFORGE_LLM_MAX_PROMPT_TOKENS", "300")
    monkeypatch.setenv("ARCFORGE_LLM_MAX_NEW_TOKENS", "16")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    model_args = ["--model-dir", str(model), "--population", "2", "--generations", "1"]
    code = _run(tmp_path, small_tasks, *model_args, "--time-per-task", "15", engine="")
    assert code == 0
    events = _events(tmp_path)
    start = next(e["data"] for e in events if e["kind"] == "start")
    assert (start["engine"], start["lanes"], start["gpus"]) == ("hybrid", 2, 2)
    ready = sorted(
        e["data"]["lane"] for e in events if e["kind"] == "log" and "engine ready" in e["data"]["message"]
    )
    assert ready == [0, 1]  # both lanes built the hybrid engine and loaded the model
    finished = [
        e["data"]
        for e in events
        if e["kind"] == "item" and e["data"]["state"] in ("done", "failed", "timeout")
    ]
    assert len(finished) == 5 and {item["lane"] for item in finished} <= {0, 1}
    assert not [item for item in finished if item["state"] == "failed"]
    journal = _journal(tmp_path)
    done = [record for record in journal.values() if record["state"] == "done"]
    assert done and all(record["stats"]["backend"] == "transformers" for record in done)
    # Each lane's hybrid engine started its own search worker (a daemon could not have).
    assert not [r for r in journal.values() if "daemonic" in json.dumps(r)]
    assert any(record["stats"].get("search", {}).get("evaluations", 0) > 0 for record in done)


def test_the_cores_a_lane_leaves_go_to_its_search(
    tmp_path: Path, lane_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ARCFORGE_FAKE_GPUS", "2")
    monkeypatch.setenv("ARCFORGE_DOUBLE_SLEEP", "0")
    engine = "tests.solver.lane_doubles:SearchingReplicaDouble"
    assert _run(tmp_path, _tasks(tmp_path / "tasks", 2), workers="6", engine=engine) == 0
    journal = _journal(tmp_path)
    # 6 cores over 2 lanes: 3 each, one for the lane's sandbox and model driver, 2 search processes.
    assert {record["stats"]["search_processes"] for record in journal.values()} == {2}
    # An engine that runs no search beside its model gets no such option.
    assert _run(tmp_path, _tasks(tmp_path / "more", 2), "--fresh", workers="6") == 0
    assert {record["stats"]["search_processes"] for record in _journal(tmp_path).values()} == {None}


def test_one_lane_of_many_cards_sees_only_its_card(
    tmp_path: Path, lane_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ARCFORGE_FAKE_GPUS", "4")
    monkeypatch.setenv("ARCFORGE_DOUBLE_SLEEP", "0")
    assert _run(tmp_path, _tasks(tmp_path / "tasks", 2), "--gpu-lanes", "1") == 0
    loads = _loads(lane_env)
    # Not the runtime's own process, which sees all four cards: a worker that sees card 0 only.
    assert [load["cuda_visible_devices"] for load in loads] == ["0"]
    assert loads[0]["pid"] != os.getpid()
    start = next(e["data"] for e in _events(tmp_path) if e["kind"] == "start")
    assert (start["lanes"], start["gpus"]) == (1, 1)
