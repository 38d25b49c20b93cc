"""`invoke test-run` end to end on the embedded default: bundled sample, search engine, no model, no GPU."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_invoke_test_run_solves_part_of_the_bundled_sample(tmp_path: Path) -> None:
    out = tmp_path / "submission.json"
    state = tmp_path / "state"
    env = {**os.environ, "ARCFORGE_STATE_DIR": str(state)}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "invoke",
            "test-run",
            "--out",
            str(out),
            "--limit",
            "6",
            "--time-per-task",
            "4",
            "--workers",
            "2",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    submission = json.loads(out.read_text())
    # Every sample task has entries (tasks past --limit get the fallback), so the file stays submittable.
    assert len(submission) >= 6
    for task_id, entries in submission.items():
        assert entries, task_id
        for entry in entries:
            assert set(entry) == {"attempt_1", "attempt_2"}

    events = [json.loads(line) for line in (state / "test-run.jsonl").read_text().splitlines()]
    kinds = [e["kind"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "end"
    finished = [
        e for e in events if e["kind"] == "item" and e["data"].get("state") in {"done", "failed", "timeout"}
    ]
    assert len(finished) == 6
    scores = events[-1]["data"]["scores"]
    assert set(scores) == {"kaggle", "task_fraction", "tasks_fully_solved"}
    # The sample's first tasks include easy ones that the search engine must solve.
    assert scores["tasks_fully_solved"] > 0
    assert "kaggle" in (result.stdout + result.stderr).lower()
