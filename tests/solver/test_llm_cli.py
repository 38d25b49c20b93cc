"""`arcforge-solve run --engine llm|hybrid --model-dir DIR` end to end on CPU with the tiny random model.

The random model writes junk; the run must survive it and still write a valid submission."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from arcforge_solver.cli import main
from tests.solver.conftest import write_task_files
from tests.support.tiny_model import build_tiny_model

pytest.importorskip("torch")

TASKS = {
    "flip0001": {
        "train": [
            {"input": [[1, 2], [3, 4]], "output": [[2, 1], [4, 3]]},
            {"input": [[5, 0, 0]], "output": [[0, 0, 5]]},
        ],
        "test": [{"input": [[7, 8]], "output": [[8, 7]]}],
    },
    "twotest2": {
        "train": [{"input": [[1]], "output": [[1, 1]]}, {"input": [[2]], "output": [[2, 2]]}],
        "test": [{"input": [[3]], "output": [[3, 3]]}, {"input": [[4]], "output": [[4, 4]]}],
    },
}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny-cli"))


@pytest.fixture
def tasks_dir(tmp_path: Path) -> Path:
    return write_task_files(tmp_path / "tasks", TASKS)


def _events(state: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in (state / "test-run.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("case", [("llm", "4"), ("hybrid", "10")], ids=["llm", "hybrid"])
def test_run_with_the_tiny_model_writes_a_valid_submission(
    case: tuple[str, str],
    model_dir: Path,
    tasks_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    engine, seconds = case  # seconds per task: the search solves these fast; random LLM output never does
    monkeypatch.setenv("ARCFORGE_LLM_MAX_NEW_TOKENS", "32")  # junk either way; keep CPU time small
    out, state = tmp_path / "submission.json", tmp_path / "state"
    code = main(
        [
            "run", str(tasks_dir), "--engine", engine, "--model-dir", str(model_dir),
            "--out", str(out), "--state-dir", str(state), "--time-per-task", seconds, "--workers", "1",
            "--population", "2", "--generations", "2", "--samples-per-call", "2",
        ]
    )  # fmt: skip
    assert code == 0
    submission = json.loads(out.read_text())
    assert set(submission) == set(TASKS)
    assert len(submission["twotest2"]) == 2
    assert main(["validate", str(out), "--tasks", str(tasks_dir)]) == 0

    events = _events(state)
    done = [e["data"] for e in events if e["kind"] == "item" and e["data"].get("state") in ("done", "failed")]
    assert {d["task_id"] for d in done} == set(TASKS)
    assert all(d["state"] == "done" for d in done), [d.get("error") for d in done]
    for item in done:
        llm = item["llm"]
        assert isinstance(llm, dict) and llm["calls"] >= 1 and llm["tokens"] > 0
        assert set(llm) >= {"calls", "tokens", "programs"}
    running = [e["data"] for e in events if e["kind"] == "item" and e["data"].get("state") == "running"]
    assert any("llm" in r for r in running)  # live counters while a task runs
    if engine == "hybrid":
        # The search worker solves these two easy tasks; the LLM's junk does not get in the way.
        assert all(d["train_solved"] for d in done)


def test_wrong_model_dir_fails_cleanly_with_the_folder_listing(
    tasks_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "half-downloaded"
    (bad / "model").mkdir(parents=True)
    (bad / "model" / "config.json").write_text("{}")
    out = tmp_path / "submission.json"
    code = main(
        [
            "run",
            str(tasks_dir),
            "--engine",
            "llm",
            "--model-dir",
            str(bad),
            "--out",
            str(out),
            "--state-dir",
            str(tmp_path / "state"),
            "--workers",
            "1",
        ]
    )
    assert code != 0
    err = capsys.readouterr().err
    assert "model.safetensors" in err and "config.json" in err
    assert json.loads(out.read_text()).keys() == TASKS.keys()  # the fallback submission is still valid
