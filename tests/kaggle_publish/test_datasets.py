"""`arcforge-publish dataset` against the loopback Kaggle, through the real kaggle client."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.kaggle_publish.conftest import ROOT, make_model_folder, read_events
from tests.support.kaggle import KaggleStandIn


def test_create_then_version_keeps_sub_folders(
    kaggle: KaggleStandIn, publish, tmp_path: Path, state_dir: Path
) -> None:
    folder = make_model_folder(tmp_path / "codegemma")
    first = publish(
        "dataset", str(folder), "--id", "alice/codegemma-arcforge", "--title", "CodeGemma for ARC"
    )
    assert first.code == 0, first.err
    dataset = kaggle.dataset("alice/codegemma-arcforge")
    assert (
        dataset.title == "CodeGemma for ARC" and dataset.license_name == "apache-2.0" and dataset.is_private
    )
    files = dataset.versions[-1].files
    assert sorted(files) == [
        "manifest.json",
        "model/config.json",
        "model/model.safetensors",
        "tokenizer/tokenizer.json",
    ]
    assert files["model/model.safetensors"] == (folder / "model" / "model.safetensors").read_bytes()
    assert not (folder / "dataset-metadata.json").exists()  # nothing is written into the user's folder
    metadata = json.loads(
        (state_dir / "datasets" / "codegemma-arcforge" / "dataset-metadata.json").read_text()
    )
    assert metadata["id"] == "alice/codegemma-arcforge" and metadata["licenses"] == [{"name": "apache-2.0"}]
    assert "version 1 READY" in first.out

    (folder / "model" / "model.safetensors").write_bytes(os.urandom(1000))
    second = publish(
        "dataset", str(folder), "--id", "alice/codegemma-arcforge", "--version-notes", "new weights"
    )
    assert second.code == 0, second.err
    assert len(dataset.versions) == 2 and dataset.versions[-1].notes == "new weights"
    assert len(dataset.versions[-1].files["model/model.safetensors"]) == 1000
    assert len(kaggle.calls_to("CreateDataset")) == 1 and len(kaggle.calls_to("CreateDatasetVersion")) == 1
    assert "version 2 READY" in second.out

    events = read_events(state_dir / "upload.jsonl")
    runs = [e for e in events if e["kind"] == "start"]
    assert [r["data"]["target"] for r in runs] == ["dataset", "dataset"]
    ends = [e for e in events if e["kind"] == "end"]
    assert [(e["data"]["status"], e["data"]["version"]) for e in ends] == [("ok", 1), ("ok", 2)]
    done = [e["data"]["file"] for e in events if e["kind"] == "item" and e["data"].get("state") == "done"]
    assert done.count("model/model.safetensors") == 2
    assert any(e["data"].get("status") == "READY" for e in events if e["kind"] == "item")
    records = json.loads((state_dir / "published.json").read_text())
    record = records["datasets"]["alice/codegemma-arcforge"]
    assert record["version"] == 2 and record["manifest"]["commit"].startswith("c0ffee")


def test_dry_run_shows_exactly_what_would_be_uploaded(kaggle: KaggleStandIn, publish, tmp_path: Path) -> None:
    folder = make_model_folder(tmp_path / "m", weights=1234)
    (folder / ".cache" / "huggingface").mkdir(parents=True)
    (folder / ".cache" / "huggingface" / "x.lock").write_text("")
    result = publish("dataset", str(folder), "--id", "alice/codegemma-arcforge", "--dry-run")
    assert result.code == 0, result.err
    assert "model/model.safetensors  1234 bytes" in result.out
    assert "tokenizer/tokenizer.json" in result.out and "manifest.json" in result.out
    assert "skipped: .cache/" in result.out
    assert "4 files" in result.out
    assert kaggle.calls == [] and not (folder / "dataset-metadata.json").exists()


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        (["--id", "alice/short"], "6–50 characters"),
        (["--id", "alice/has_underscore"], "letters, digits and '-'"),
        (["--id", "alice/two/slashes"], "is not OWNER/SLUG"),
        (["--id", "your-kaggle-username/codegemma-arcforge"], "placeholder owner 'your-kaggle-username'"),
        (["--id", "alice/codegemma-arcforge", "--title", "tiny"], "title 'tiny' must be 6–50"),
        (["--id", "alice/codegemma-arcforge", "--license", "MIT,CC0-1.0"], "exactly one licence"),
        (["--id", "alice/codegemma-arcforge", "--license", "WTFPL"], "not one of Kaggle's dataset licences"),
        # MIT is on Kaggle's Models list, not its datasets list (kaggle-api docs/datasets_metadata.md).
        (["--id", "alice/codegemma-arcforge", "--license", "MIT"], "not one of Kaggle's dataset licences"),
    ],
)
def test_limits_are_enforced_before_upload(
    kaggle: KaggleStandIn, publish, tmp_path: Path, extra: list[str], words: str
) -> None:
    folder = make_model_folder(tmp_path / "m", weights=10)
    result = publish("dataset", str(folder), *extra)
    assert result.code == 1 and words in result.err
    assert kaggle.calls == []


def test_an_interrupted_download_is_refused(kaggle: KaggleStandIn, publish, tmp_path: Path) -> None:
    folder = make_model_folder(tmp_path / "m", weights=10)
    manifest = json.loads((folder / "manifest.json").read_text())
    (folder / "manifest.json").write_text(json.dumps({**manifest, "complete": False}))
    (folder / ".partial").mkdir()
    result = publish("dataset", str(folder), "--id", "alice/codegemma-arcforge", "--dry-run")
    assert result.code == 1
    assert "download is incomplete" in result.err and "rerun the same arcforge-download" in result.err
    assert kaggle.calls == []


def test_downloader_partials_are_never_uploaded(kaggle: KaggleStandIn, publish, tmp_path: Path) -> None:
    folder = make_model_folder(tmp_path / "m", weights=10)
    (folder / ".partial").mkdir()
    (folder / ".partial" / "model.safetensors.part").write_bytes(b"x" * 5)
    result = publish("dataset", str(folder), "--id", "alice/codegemma-arcforge", "--dry-run")
    assert result.code == 0, result.err
    assert "skipped: .partial/" in result.out and "model.safetensors.part" not in result.out


def test_more_than_1000_files_is_refused(kaggle: KaggleStandIn, publish, tmp_path: Path) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    for index in range(1001):
        (folder / f"f{index}.txt").write_text("x")
    result = publish("dataset", str(folder), "--id", "alice/many-files")
    assert result.code == 1 and "1001 files" in result.err and "at most 1000" in result.err
    assert kaggle.calls == []


def test_slug_taken_by_someone_else(kaggle: KaggleStandIn, publish, tmp_path: Path, state_dir: Path) -> None:
    folder = make_model_folder(tmp_path / "m", weights=10)
    kaggle.take_dataset("bob", "codegemma-arcforge", private=True)
    hidden = publish("dataset", str(folder), "--id", "bob/codegemma-arcforge")
    # Kaggle's 403 does not say whether it exists; under bob's name alice could not create it either way.
    assert hidden.code == 1 and "cannot create bob/codegemma-arcforge" in hidden.err
    assert "--id alice/codegemma-arcforge" in hidden.err

    kaggle.take_dataset("bob", "public-weights", private=False)
    public = publish("dataset", str(folder), "--id", "bob/public-weights")
    assert (
        public.code == 1
        and "belongs to bob, not to alice" in public.err
        and "alice/public-weights" in public.err
    )

    assert kaggle.calls_to("StartBlobUpload") == [] and kaggle.calls_to("CreateDatasetVersion") == []
    errors = [e for e in read_events(state_dir / "upload.jsonl") if e["kind"] == "error"]
    assert [e["data"]["code"] for e in errors] == ["slug_taken", "slug_taken"]


def test_dataset_failed_on_kaggle_is_reported_in_words(
    kaggle: KaggleStandIn, publish, tmp_path: Path, state_dir: Path
) -> None:
    kaggle.faults.dataset_failed = "corrupt archive"
    result = publish(
        "dataset", str(make_model_folder(tmp_path / "m", weights=10)), "--id", "alice/broken-dataset"
    )
    assert result.code == 1
    assert "Kaggle could not process alice/broken-dataset" in result.err and "FAILED" in result.err
    events = read_events(state_dir / "upload.jsonl")
    assert events[-1]["kind"] == "end" and events[-1]["data"]["status"] == "failed"
    assert any(e["kind"] == "item" and e["data"].get("status") == "FAILED" for e in events)


def test_503_dropped_connections_and_429_are_survived(kaggle: KaggleStandIn, publish, tmp_path: Path) -> None:
    folder = make_model_folder(tmp_path / "m", weights=600_000)
    kaggle.faults.upload_503 = 1
    kaggle.faults.drop_upload_at = 250_000
    kaggle.faults.rate_limit = 2
    result = publish("dataset", str(folder), "--id", "alice/flaky-network")
    assert result.code == 0, result.err
    assert (kaggle.faults.upload_503, kaggle.faults.drop_upload_at, kaggle.faults.rate_limit) == (0, None, 0)
    files = kaggle.dataset("alice/flaky-network").versions[-1].files
    assert files["model/model.safetensors"] == (folder / "model" / "model.safetensors").read_bytes()


def _publish_subprocess(folder: Path, state_dir: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "arcforge_kaggle_publish", "dataset", str(folder), "--id", "alice/resumed-upload",
         "--state-dir", str(state_dir), "--poll-seconds", "0.01"],
        env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def test_upload_killed_mid_file_resumes_without_resending(
    kaggle: KaggleStandIn, tmp_path: Path, state_dir: Path
) -> None:
    folder = make_model_folder(tmp_path / "m", weights=8_000_000)
    size = (folder / "model" / "model.safetensors").stat().st_size
    env = {**os.environ, **kaggle.env("alice")}
    kaggle.faults.stall_upload_at = 3_000_000
    first = _publish_subprocess(folder, state_dir, env)
    try:
        assert kaggle.upload_stalled.wait(timeout=60), "the upload never reached the stall point"
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    finally:
        kaggle.release_stall()
    weights = [u for u in kaggle.uploads.values() if u.name == "model.safetensors"]
    assert len(weights) == 1 and len(weights[0].data) == 3_000_000
    assert any((state_dir / "kaggle-uploads").iterdir()), (
        "the client's resumable state should be in our state dir"
    )

    second = _publish_subprocess(folder, state_dir, env)
    out, err = second.communicate(timeout=120)
    assert second.returncode == 0, err
    assert "resuming model/model.safetensors" in out
    weights = [u for u in kaggle.uploads.values() if u.name == "model.safetensors"]
    assert len(weights) == 1, "the resumed upload must reuse the first upload session"
    assert weights[0].wire_bytes == size, f"{weights[0].wire_bytes - size} bytes were sent twice"
    assert (
        kaggle.dataset("alice/resumed-upload").versions[-1].files["model/model.safetensors"]
        == (folder / "model" / "model.safetensors").read_bytes()
    )
    events = read_events(state_dir / "upload.jsonl")
    assert any(e["kind"] == "item" and e["data"].get("state") == "resumed" for e in events)
    assert not list((state_dir / "kaggle-uploads").iterdir()), "finished uploads leave no state behind"


def test_bytes_within_a_file_are_reported_while_it_uploads(
    kaggle: KaggleStandIn, publish, tmp_path: Path, state_dir: Path
) -> None:
    import threading
    import time

    folder = make_model_folder(tmp_path / "m", weights=8_000_000)
    kaggle.faults.stall_upload_at = 2_000_000
    results = []
    worker = threading.Thread(
        target=lambda: results.append(publish("dataset", str(folder), "--id", "alice/slow-upload"))
    )
    worker.start()
    try:
        assert kaggle.upload_stalled.wait(timeout=60)
        deadline = time.monotonic() + 20
        partial: list[dict[str, object]] = []
        while not partial and time.monotonic() < deadline:
            time.sleep(0.2)
            events = read_events(state_dir / "upload.jsonl") if (state_dir / "upload.jsonl").exists() else []
            partial = [
                e["data"]
                for e in events
                if e["kind"] == "progress"
                and e["data"]["file"] == "model/model.safetensors"
                and 0 < e["data"]["bytes_done"] < e["data"]["bytes_total"]
            ]
        assert partial, "no progress event inside the big file"
        assert partial[0]["bytes_total"] == 8_000_000 and partial[0]["total_bytes"] > 8_000_000
    finally:
        kaggle.release_stall()  # the stand-in then drops the connection; the client resumes in this run
        worker.join(timeout=120)
    assert results and results[0].code == 0, results[0].err if results else "no result"
    assert (
        kaggle.dataset("alice/slow-upload").versions[-1].files["model/model.safetensors"]
        == (folder / "model" / "model.safetensors").read_bytes()
    )


def test_ctrl_c_mid_upload_ends_the_run_interrupted(
    kaggle: KaggleStandIn, tmp_path: Path, state_dir: Path
) -> None:
    folder = make_model_folder(tmp_path / "m", weights=8_000_000)
    env = {**os.environ, **kaggle.env("alice")}
    kaggle.faults.stall_upload_at = 1_000_000
    process = _publish_subprocess(folder, state_dir, env)
    try:
        assert kaggle.upload_stalled.wait(timeout=60)
        process.send_signal(signal.SIGINT)
        _out, err = process.communicate(timeout=60)
    finally:
        kaggle.release_stall()
    assert process.returncode == 130 and "interrupted; run the same command again to resume" in err
    events = read_events(state_dir / "upload.jsonl")
    assert events[-1]["kind"] == "end" and events[-1]["data"]["status"] == "interrupted"
    assert any((state_dir / "kaggle-uploads").iterdir())


def test_missing_credentials_are_named_and_the_run_closes(
    kaggle: KaggleStandIn, publish, tmp_path: Path, state_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KAGGLE_API_TOKEN")
    result = publish(
        "dataset", str(make_model_folder(tmp_path / "m", weights=10)), "--id", "alice/no-credentials"
    )
    assert result.code == 1 and "no Kaggle credentials" in result.err
    assert "KAGGLE_API_TOKEN" in result.err and "~/.kaggle/access_token" in result.err
    kinds = [(e["kind"], e["data"].get("code")) for e in read_events(state_dir / "upload.jsonl")]
    assert kinds == [("start", None), ("error", "unauthorized"), ("end", None)]
    assert kaggle.calls == []


def test_a_dataset_kaggle_does_not_show_yet_is_versioned_on_the_conflict(
    kaggle: KaggleStandIn, publish, tmp_path: Path
) -> None:
    # alice's own dataset, which the slug check does not see yet (403, as Kaggle answers right after a create):
    # CreateDataset then answers "already in use", and the publish makes a new version (kagglehub's rule).
    kaggle.take_dataset("alice", "raced-slug")
    kaggle.dataset("alice/raced-slug").versions[-1].unseen_polls = 1
    result = publish(
        "dataset", str(make_model_folder(tmp_path / "m", weights=10)), "--id", "alice/raced-slug"
    )
    assert result.code == 0, result.err
    assert "exists already: making a new version" in result.out and "version 2 READY" in result.out
    assert len(kaggle.calls_to("CreateDataset")) == 1 and len(kaggle.calls_to("CreateDatasetVersion")) == 1
    assert len(kaggle.dataset("alice/raced-slug").versions) == 2
