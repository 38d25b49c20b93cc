"""`invoke download` against the loopback Hub, and the TUI's reader on the events it wrote."""

from __future__ import annotations

import json
from pathlib import Path

from arcforge_events import EventTailer
from arcforge_tui.state import MonitorState
from tests.e2e.conftest import run_invoke, write_config
from tests.support.hub_server import generate_repo, running_hub_server

REPO_ID = "arcforge-e2e/tiny-model"
TOKEN = "hf_E2eSecretToken01234"


def test_invoke_download_lays_out_the_model_and_the_tui_reads_it(tmp_path: Path) -> None:
    repo = generate_repo(tmp_path / "hub", REPO_ID, shard_bytes=[(2 << 20) + 7], seed=3)
    out = tmp_path / "model-out"
    state = tmp_path / "state"
    config = write_config(tmp_path / "arcforge.toml", repo_id=REPO_ID, output_dir=out)
    with running_hub_server(tmp_path / "hub", redirect_to_cdn=True) as hub:
        env = {
            "ARCFORGE_CONFIG": str(config),
            "ARCFORGE_STATE_DIR": str(state),
            "HF_ENDPOINT": hub.url,
            "HF_TOKEN": TOKEN,
            "HF_HOME": str(tmp_path / "hf-home"),
        }
        result = run_invoke("download", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert TOKEN not in result.stdout + result.stderr

    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["commit"] == repo.commit
    assert (out / "model" / "config.json").is_file()
    assert (out / "model" / "model.safetensors").stat().st_size == repo.files["model.safetensors"].size
    assert (out / "tokenizer" / "tokenizer.json").is_file()

    raw = (state / "download.jsonl").read_text()
    assert TOKEN not in raw
    monitor = MonitorState()
    monitor.apply("download", EventTailer(state / "download.jsonl").poll())
    assert monitor.junk["download"] == 0
    assert monitor.download.run.status == "ok"
    files = monitor.download.files
    assert "model/model.safetensors" in files
    assert all(f.state == "done" for f in files.values()), {n: f.state for n, f in files.items()}
    assert monitor.download.bytes_done == monitor.download.overall_total
