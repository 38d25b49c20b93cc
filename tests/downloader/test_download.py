"""arcforge-download, run as a process against the loopback hub, with and without faults."""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import time
from pathlib import Path

import pytest
from safetensors import safe_open

from tests.downloader.conftest import (
    GOOD_TOKEN,
    HUGE_REPO_ID,
    NO_ACCESS_TOKEN,
    RANGE,
    REPO_ID,
    cli_command,
    cli_env,
    last_run,
    read_events,
)
from tests.support.hub_server import GeneratedRepo, HubServer

MODEL_FILES = {
    "config.json",
    "generation_config.json",
    "model-00001-of-00002.safetensors",
    "model-00002-of-00002.safetensors",
    "model.safetensors.index.json",
}
TOKENIZER_FILES = {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"}
SHARD = "model-00001-of-00002.safetensors"


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def assert_complete(out: Path, repo: GeneratedRepo) -> dict[str, object]:
    assert {p.name for p in (out / "model").iterdir()} == MODEL_FILES
    assert {p.name for p in (out / "tokenizer").iterdir()} == TOKENIZER_FILES
    for name in MODEL_FILES:
        assert sha256_of(out / "model" / name) == repo.files[name].sha256, name
    for name in TOKENIZER_FILES:
        assert sha256_of(out / "tokenizer" / name) == repo.files[name].sha256, name
    manifest: dict[str, object] = json.loads((out / "manifest.json").read_text())
    assert manifest["complete"] is True
    assert not (out / ".partial").exists()
    return manifest


def test_happy_path_lays_out_verifies_and_reports(
    download, hub: HubServer, repo: GeneratedRepo, tmp_path: Path
):
    hub.set_faults(redirect_to_cdn=True)
    run = download(token=GOOD_TOKEN, out=tmp_path / "out")
    assert run.returncode == 0, run.output
    out = tmp_path / "out"
    manifest = assert_complete(out, repo)

    assert manifest["repo_id"] == REPO_ID
    assert manifest["commit"] == repo.commit
    assert manifest["tool"] == "arcforge-downloader"
    assert manifest["tool_version"] == "0.1.0"
    files = {f["path"]: f for f in manifest["files"]}  # type: ignore[attr-defined]
    assert files[f"model/{SHARD}"]["sha256"] == repo.files[SHARD].sha256
    assert files[f"model/{SHARD}"]["size"] == repo.files[SHARD].size
    assert files["tokenizer/tokenizer.json"]["git_blob_id"] == repo.files["tokenizer.json"].blob_id

    # The shards are real safetensors files.
    with safe_open(str(out / "model" / SHARD), framework="numpy") as handle:
        assert list(handle.keys())

    # Size report: every file, then the total.
    assert f"model/{SHARD}" in run.stdout
    total = sum(repo.files[n].size for n in MODEL_FILES | TOKENIZER_FILES)
    assert f"{total:,} bytes" in run.stdout

    # Bytes went through the CDN, which never saw the token; the hub did.
    stats = hub.stats()
    assert stats["cdn_requests"] > 0
    assert stats["cdn_auth_headers"] == 0
    assert stats["auth_headers"] > 0
    # Parallel ranges: the 3 MiB shard came in at least three requests.
    assert sum(1 for r in stats["requests"] if r.startswith("cdn GET") and SHARD in r) >= 3
    assert stats["body_bytes_total"] == total, (
        stats["body_bytes"],
        {n: f.size for n, f in repo.files.items()},
    )

    # Events: a start with totals, per-file items, progress, an ok end.
    start = run.kinds("start")[0]["data"]
    assert start["commit"] == repo.commit
    assert start["files"] == 8
    assert start["bytes_to_fetch"] == total
    done = {e["data"]["file"] for e in run.kinds("item") if e["data"]["state"] == "done"}
    assert done == {f"model/{n}" for n in MODEL_FILES} | {f"tokenizer/{n}" for n in TOKENIZER_FILES}
    assert run.kinds("progress")
    assert all(
        {"file", "bytes_done", "bytes_total", "speed_bps"} <= e["data"].keys() for e in run.kinds("progress")
    )
    end = run.kinds("end")[0]["data"]
    assert end["status"] == "ok"
    assert end["bytes_fetched"] == total
    assert [e["seq"] for e in run.events] == list(range(len(run.events)))


def test_rerun_fetches_nothing(download, hub: HubServer, repo: GeneratedRepo):
    assert download().returncode == 0
    hub.reset_stats()
    again = download()
    assert again.returncode == 0, again.output
    assert hub.stats()["body_bytes_total"] == 0
    assert again.kinds("start")[0]["data"]["bytes_to_fetch"] == 0


def test_resume_after_sigkill_refetches_at_most_one_range_per_file(
    hub: HubServer, repo: GeneratedRepo, tmp_path: Path
):
    hub.set_faults(bandwidth_bps=600_000)  # per connection: slow enough to kill mid-file
    out, state = tmp_path / "out", tmp_path / "state"
    # Two ranges per shard; the journal records progress every 128 KiB within a range, so the
    # bound holds with room for bytes still in socket buffers when the process dies.
    range_size = 2 << 20
    command = cli_command(hub, out, range_size=range_size)
    proc = subprocess.Popen(command, env=cli_env(state), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    shards = [n for n in repo.files if n.endswith(".safetensors")]
    shard_bytes = sum(repo.files[n].size for n in shards)
    try:
        deadline = time.monotonic() + 60
        while hub.stats()["body_bytes_total"] < 0.4 * shard_bytes:
            assert proc.poll() is None, "the download ended before it could be killed"
            assert time.monotonic() < deadline, "no progress"
            time.sleep(0.05)
    finally:
        proc.kill()  # SIGKILL: no handler runs
        proc.wait()
    first = hub.stats()["body_bytes"]
    assert any((out / ".partial" / "model").glob("*.journal"))
    # Verified files were placed and recorded as they finished, before the kill.
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["complete"] is False
    assert "model/config.json" in {f["path"] for f in manifest["files"]}
    assert (out / "model" / "config.json").exists()

    hub.set_faults()  # full speed for the rerun
    hub.reset_stats()
    rerun = subprocess.run(
        command, check=False, env=cli_env(state), capture_output=True, text=True, timeout=120
    )
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert_complete(out, repo)
    second = hub.stats()["body_bytes"]
    for name in shards:
        refetched = first.get(name, 0) + second.get(name, 0) - repo.files[name].size
        assert 0 <= refetched <= range_size, f"{name}: {refetched} bytes fetched twice"
    assert sum(second.values()) < repo.bytes_total  # it did resume
    events = last_run(read_events(state))
    assert any(e["kind"] == "item" and e["data"]["state"] == "resumed" for e in events)


def test_ctrl_c_stops_promptly_and_keeps_progress(hub: HubServer, repo: GeneratedRepo, tmp_path: Path):
    hub.set_faults(bandwidth_bps=400_000)
    out, state = tmp_path / "out", tmp_path / "state"
    command = cli_command(hub, out)
    proc = subprocess.Popen(
        command, env=cli_env(state), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 60
    while hub.stats()["body_bytes_total"] < 1 << 20:
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=10)  # stops in a second or two, not after the download
    assert proc.returncode == 130, stderr
    assert "rerun the same command to resume" in stderr
    assert last_run(read_events(state))[-1]["data"]["status"] == "interrupted"
    kept = hub.stats()["body_bytes_total"]

    hub.set_faults()
    hub.reset_stats()
    rerun = subprocess.run(
        command, check=False, env=cli_env(state), capture_output=True, text=True, timeout=120
    )
    assert rerun.returncode == 0, rerun.stderr
    assert_complete(out, repo)
    assert hub.stats()["body_bytes_total"] <= repo.bytes_total - kept + 3 * RANGE


def test_corrupt_byte_is_caught_and_the_file_refetched_once(download, hub: HubServer, repo: GeneratedRepo):
    hub.set_faults(corrupt_times=1, fault_paths=SHARD)
    run = download()
    assert run.returncode == 0, run.output
    errors = [e["data"] for e in run.kinds("error")]
    assert [e["code"] for e in errors] == ["checksum"]
    assert "sha256" in errors[0]["message"]
    assert hub.stats()["body_bytes"][SHARD] == 2 * repo.files[SHARD].size


def test_persistent_corruption_fails_loudly_and_keeps_nothing_bad(download, hub: HubServer, tmp_path: Path):
    hub.set_faults(corrupt_times=-1, fault_paths=SHARD)
    run = download()
    assert run.returncode == 1
    assert "sha256 still does not match" in run.stderr
    assert not (tmp_path / "out" / "model" / SHARD).exists()
    assert not (tmp_path / "out" / ".partial" / "model" / (SHARD + ".part")).exists()
    assert (tmp_path / "out" / "model" / "config.json").exists()  # the good files are kept
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["complete"] is False
    assert run.kinds("end")[0]["data"]["status"] == "failed"
    assert [e["data"]["code"] for e in run.kinds("error")] == ["checksum", "checksum"]


def _assert_secret_absent(run, secret: str, tmp_path: Path) -> None:
    assert secret not in run.output
    assert secret[3:] not in run.output
    events_text = (tmp_path / "state" / "download.jsonl").read_text()
    assert secret not in events_text and secret[3:] not in events_text


def test_gated_without_token_is_401_with_advice(download, hub: HubServer, tmp_path: Path):
    hub.set_faults(gated_tokens=[GOOD_TOKEN], known_tokens=[NO_ACCESS_TOKEN])
    run = download()
    assert run.returncode == 3
    assert "401" in run.stderr
    assert "no token was sent" in run.stderr
    assert "request access" in run.stderr and "Read token" in run.stderr and "HF_TOKEN" in run.stderr
    assert hub.stats()["body_bytes_total"] == 0
    assert not (tmp_path / "out" / "model").exists()
    error = run.kinds("error")[0]["data"]
    assert error["code"] == "unauthorized" and "HF_TOKEN" in error["advice"]
    assert error["gated"] is True and error["http_status"] == 401


def test_gated_token_without_access_is_403_and_never_printed(download, hub: HubServer, tmp_path: Path):
    hub.set_faults(gated_tokens=[GOOD_TOKEN], known_tokens=[NO_ACCESS_TOKEN])
    run = download(token=NO_ACCESS_TOKEN)
    assert run.returncode == 3
    assert "403" in run.stderr and "has no access" in run.stderr
    assert "hf_…xyz" in run.stderr  # at most the last three characters
    assert run.kinds("error")[0]["data"]["code"] == "forbidden"
    assert hub.stats()["body_bytes_total"] == 0
    _assert_secret_absent(run, NO_ACCESS_TOKEN, tmp_path)


def test_gated_with_a_good_token_file_downloads_and_never_shows_it(
    download, hub: HubServer, repo: GeneratedRepo, tmp_path: Path
):
    hub.set_faults(gated_tokens=[GOOD_TOKEN], redirect_to_cdn=True)
    token_file = tmp_path / "token"
    token_file.write_text(GOOD_TOKEN + "\n")
    run = download("--token-file", str(token_file), "--progress", "line")
    assert run.returncode == 0, run.output
    assert_complete(tmp_path / "out", repo)
    assert "hf_…abc" in run.stderr
    _assert_secret_absent(run, GOOD_TOKEN, tmp_path)
    assert hub.stats()["cdn_auth_headers"] == 0


def test_missing_repo_and_revision_are_refused(download, hub: HubServer):
    run = download(repo_id="arcforge-test/no-such-model")
    assert run.returncode == 3
    assert "was not found" in run.stderr
    assert run.kinds("error")[0]["data"]["code"] == "not_found"
    run = download("--revision", "no-such-branch")
    assert run.returncode == 3
    assert "revision 'no-such-branch' does not exist" in run.stderr


def test_disk_space_is_checked_before_any_byte_moves(
    download, hub: HubServer, huge_repo: GeneratedRepo, tmp_path: Path
):
    run = download("--include", "*.safetensors", repo_id=HUGE_REPO_ID)
    assert run.returncode == 3
    assert "not enough disk space" in run.stderr
    wanted = sum(f.size for f in huge_repo.files.values() if f.path.endswith(".safetensors"))
    assert f"{wanted:,} bytes" in run.stderr  # the figures: what is needed and what is free
    assert "free on" in run.stderr
    assert hub.stats()["body_bytes_total"] == 0
    assert run.kinds("error")[0]["data"]["code"] == "disk_full"
    assert not (tmp_path / "out" / "model").exists()


def test_a_stalled_connection_is_cut_and_retried(
    download, hub: HubServer, repo: GeneratedRepo, tmp_path: Path
):
    # The server stops sending for an hour after 100 kB: only the stall timeout gets the run past it.
    hub.set_faults(stall_after_bytes=100_000, stall_times=1, fault_paths=SHARD)
    run = download("--stall-timeout", "1")
    assert run.returncode == 0, run.output
    assert_complete(tmp_path / "out", repo)
    assert hub.stats()["body_bytes"][SHARD] > repo.files[SHARD].size - RANGE


@pytest.mark.parametrize(
    "faults",
    [
        {"status_429_times": 2, "retry_after": 0.2},
        {"status_503_times": 3},
        {"cut_after_bytes": 200_000, "cut_times": 3},
        {"ignore_range": True},
    ],
    ids=["429-retry-after", "503", "dropped-connection", "range-ignored"],
)
def test_flaky_server_still_gives_verified_files(
    download, hub: HubServer, repo: GeneratedRepo, tmp_path, faults
):
    hub.set_faults(fault_paths="*.safetensors", **faults)
    run = download()
    assert run.returncode == 0, run.output
    assert_complete(tmp_path / "out", repo)
    warnings = [e["data"]["message"] for e in run.kinds("log") if e["data"]["level"] == "warning"]
    if "status_429_times" in faults:
        # Retry-After honoured, plus the 1 s huggingface_hub adds; a wait, not a retry
        assert any("(HTTP 429): every connection waits 1.2 s" in w for w in warnings), warnings
    if not faults.get("ignore_range"):
        assert warnings, "a fault that forces a retry leaves a warning"


def test_dry_run_lists_and_fetches_nothing(download, hub: HubServer, repo: GeneratedRepo, tmp_path: Path):
    run = download("--dry-run")
    assert run.returncode == 0, run.output
    for name in MODEL_FILES:
        assert f"model/{name}" in run.stdout
    for name in TOKENIZER_FILES:
        assert f"tokenizer/{name}" in run.stdout
    assert "README.md" not in run.stdout  # not part of the default selection
    total = sum(repo.files[n].size for n in MODEL_FILES | TOKENIZER_FILES)
    assert f"{total:,} bytes" in run.stdout
    assert hub.stats()["body_bytes_total"] == 0
    assert not (tmp_path / "out").exists()


def test_include_and_exclude_select_files(download, hub: HubServer, tmp_path: Path):
    run = download("--include", "*.json", "--exclude", "generation_config.json")
    assert run.returncode == 0, run.output
    assert {p.name for p in (tmp_path / "out" / "model").iterdir()} == {
        "config.json",
        "model.safetensors.index.json",
    }


def test_unreadable_token_file_is_one_clear_error(download, hub: HubServer, tmp_path: Path):
    run = download("--token-file", str(tmp_path / "missing-token"))
    assert run.returncode == 3
    assert "cannot read token file" in run.stderr and "missing-token" in run.stderr


def test_files_in_place_without_a_manifest_are_verified_not_refetched(
    download, hub: HubServer, repo: GeneratedRepo, tmp_path: Path
):
    assert download().returncode == 0
    (tmp_path / "out" / "manifest.json").unlink()
    (tmp_path / "out" / "model" / "config.json").write_text("{}")  # a changed file is fetched again
    hub.reset_stats()
    run = download()
    assert run.returncode == 0, run.output
    assert hub.stats()["body_bytes"] == {"config.json": repo.files["config.json"].size}
    assert_complete(tmp_path / "out", repo)


def test_a_second_run_on_the_same_output_dir_is_refused(download, hub: HubServer, tmp_path: Path):
    fcntl = pytest.importorskip("fcntl")
    lock = tmp_path / "out" / ".partial" / "lock"
    lock.parent.mkdir(parents=True)
    with lock.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # what a running arcforge-download holds
        run = download()
    assert run.returncode == 3
    assert "another arcforge-download is writing" in run.stderr
    assert hub.stats()["body_bytes_total"] == 0


def test_an_unreachable_endpoint_is_one_clear_error(hub: HubServer, tmp_path: Path):
    command = cli_command(hub, tmp_path / "out")
    command[command.index("--endpoint") + 1] = "http://127.0.0.1:9"  # discard port: nothing listens
    proc = subprocess.run(
        command, check=False, env=cli_env(tmp_path / "state"), capture_output=True, text=True
    )
    assert proc.returncode == 3, proc.stderr
    assert "cannot talk to http://127.0.0.1:9" in proc.stderr
    assert "Traceback" not in proc.stderr
