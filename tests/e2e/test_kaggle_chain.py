"""The whole chain, `invoke download upload test-run --on kaggle submit`, against the loopback Hub and the
loopback Kaggle, with the pushed notebook really executed (hybrid engine, tiny model) on a machine that
shows the 4 x L4 it was pushed for: pushed once in TEST_MODE, checked, and that version submitted."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from arcforge_events import EventTailer
from arcforge_tui.state import MonitorState
from tests.e2e.conftest import ROOT, run_invoke, write_config
from tests.support.hub_server import generate_repo, running_hub_server
from tests.support.kaggle import default_competition, notebook_runner, start_kaggle_server
from tests.support.kaggle.notebook_runner import gpu_path
from tests.support.tiny_model import build_tiny_model

REPO_ID = "arcforge-e2e/tiny-random-llama"
HF_TOKEN = "hf_ChainSecretToken98765"
SAMPLES = ROOT / "packages" / "solver" / "src" / "arcforge_solver" / "samples"
TASKS = 3


def serve_tiny_model_on_hub(hub_root: Path, scratch: Path) -> str:
    """A Hub repo whose files are the tiny model's, so the notebook can really load what was downloaded."""
    tiny = build_tiny_model(scratch / "tiny")
    files = {p.name: p.read_bytes() for sub in ("model", "tokenizer") for p in (tiny / sub).iterdir()}
    return generate_repo(hub_root, REPO_ID, extra_files=files).commit


def sample_competition() -> object:
    challenges = json.loads((SAMPLES / "arc-agi_sample_challenges.json").read_text())
    solutions = json.loads((SAMPLES / "arc-agi_sample_solutions.json").read_text())
    chosen = dict(list(challenges.items())[:TASKS])
    return default_competition(chosen, {k: solutions[k] for k in chosen})


def test_download_upload_a_kaggle_test_run_and_submit(tmp_path: Path) -> None:
    commit = serve_tiny_model_on_hub(tmp_path / "hub", tmp_path)
    model_out = tmp_path / "model-out"
    state = tmp_path / "state"
    out = tmp_path / "out" / "submission.json"
    four_l4 = gpu_path(tmp_path / "gpu-bin", ["NVIDIA L4"] * 4)
    runner = notebook_runner(
        extra_env={"ARCFORGE_NOTEBOOK_SKIP_INSTALL": "1", "PATH": four_l4}, python=sys.executable
    )
    with (
        running_hub_server(tmp_path / "hub") as hub,
        start_kaggle_server(competitions=[sample_competition()], runner=runner) as kaggle,
    ):
        owner = next(iter(kaggle.users))
        config = write_config(tmp_path / "arcforge.toml", repo_id=REPO_ID, output_dir=model_out, owner=owner)
        env = {
            **kaggle.env(owner),
            "ARCFORGE_CONFIG": str(config),
            "ARCFORGE_STATE_DIR": str(state),
            "ARCFORGE_WHEELHOUSE_SKIP_THIRD_PARTY": "1",
            "KAGGLE_CONFIG_DIR": tempfile.mkdtemp(prefix="kaggle-config-", dir=tmp_path),
            "HF_ENDPOINT": hub.url,
            "HF_TOKEN": HF_TOKEN,
            "HF_HOME": str(tmp_path / "hf-home"),
        }
        result = run_invoke(
            "download", "upload", "test-run", "--on", "kaggle", "--out", str(out), "submit", env=env
        )
        key = kaggle.users[owner]
        pushed = kaggle.calls_to("SaveKernel")
        submitted = kaggle.calls_to("CreateCodeSubmission")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert HF_TOKEN not in output and key not in output
    # One push, in TEST_MODE, and that same version submitted: the full solve is left to Kaggle's rerun.
    assert len(pushed) == 1 and [s["kernelVersion"] for s in submitted] == [1]
    assert "TEST_MODE = True" in pushed[0]["text"] and "'--time-budget', '1h'" in pushed[0]["text"]
    assert (
        "if submitted, the rerun solves all tasks of the hidden set in up to 1.0 h on 4 x NVIDIA L4" in output
    )
    assert "/1: the rerun solves all tasks of the hidden set in up to 1.0 h on 4 x NVIDIA L4" in output

    # Provenance links the model commit to the dataset, the wheels, the kernel and the submission.
    fetched = out.parent / "kaggle"
    provenance = json.loads((fetched / "provenance.json").read_text())
    text = json.dumps(provenance)
    assert commit in text
    submission = json.loads((fetched / "submission.json").read_text())
    assert len(submission) == TASKS
    assert all(set(e) == {"attempt_1", "attempt_2"} for entries in submission.values() for e in entries)

    # Every stage left events that the TUI reads without junk, and no secret.
    monitor = MonitorState()
    for stage in ("download", "upload", "test-run"):
        path = state / f"{stage}.jsonl"
        raw = path.read_text()
        assert HF_TOKEN not in raw and key not in raw, stage
        monitor.apply(stage, EventTailer(path).poll())
        assert monitor.junk[stage] == 0, stage
    assert monitor.download.run.status == "ok"
    assert monitor.upload.remote["kernel"].status == "COMPLETE"
    assert monitor.test_run.total == TASKS
