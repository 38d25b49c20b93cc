"""The writer: one whole line per event, a torn last line ended first, secrets masked, never fatal."""

from __future__ import annotations

import json
import math
import threading
from pathlib import Path

import pytest

from arcforge_events import CONTRACT_VERSION, EventWriter, new_run_id, read_events


def lines_of(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_lines_follow_the_contract(tmp_path: Path) -> None:
    with EventWriter("test-run", tmp_path, redact=lambda s: s.replace("hf_secret", "hf_…ret")) as writer:
        writer.emit("start", tasks=2, out=tmp_path / "x")
        writer.emit("log", level="info", message="token hf_secret\nsecond line")
        writer.emit("end", status="ok")
    raw = (tmp_path / "test-run.jsonl").read_bytes()
    assert raw.endswith(b"\n") and raw.count(b"\n") == 3, "one line per event, each ending in a newline"
    parsed = lines_of(tmp_path / "test-run.jsonl")
    assert [e["kind"] for e in parsed] == ["start", "log", "end"]
    assert [e["seq"] for e in parsed] == [0, 1, 2]
    for event in parsed:
        assert set(event) == {"v", "ts", "stage", "run_id", "seq", "kind", "data"}
        assert event["v"] == CONTRACT_VERSION and event["stage"] == "test-run"
        assert event["run_id"] == writer.run_id
    assert "hf_secret" not in raw.decode()
    assert parsed[1]["data"] == {"level": "info", "message": "token hf_…ret\nsecond line"}
    assert parsed[0]["data"] == {"tasks": 2, "out": str(tmp_path / "x")}  # a path as text


def test_an_unknown_kind_is_a_programming_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown event kind 'progresss'"):
        EventWriter("download", tmp_path).emit("progresss")


def test_run_ids_sort_by_start_and_differ() -> None:
    ids = {new_run_id() for _ in range(50)}
    assert len(ids) > 1
    for run_id in ids:
        stamp, _, suffix = run_id.partition("-")
        assert len(stamp) == 15 and stamp[8] == "T" and len(suffix) == 4


def test_an_append_after_a_torn_last_line_starts_on_a_fresh_line(tmp_path: Path) -> None:
    """Issue 19: a writer killed inside its write left a fragment; the next line must not be glued to it."""
    path = tmp_path / "test-run.jsonl"
    with EventWriter("test-run", tmp_path, run_id="20261201T100000-aaaa") as first:
        first.emit("start", tasks=3)
    with path.open("ab") as handle:
        handle.write(b'{"v":1,"stage":"test-run","run_id":"20261201T100000-aaaa","kind":"ite')
    with EventWriter("test-run", tmp_path, run_id="20261201T110000-bbbb") as second:
        second.emit("start", tasks=1)
        second.emit("end", status="ok")
    raw = path.read_bytes().split(b"\n")
    assert raw[1].endswith(b'"kind":"ite')  # the fragment stays on its own line
    assert json.loads(raw[2])["run_id"] == "20261201T110000-bbbb"
    batch = read_events(path)
    assert [(e.run_id[-4:], e.kind) for e in batch.events] == [
        ("aaaa", "start"),
        ("bbbb", "start"),
        ("bbbb", "end"),
    ]
    assert batch.junk == 1


def test_a_torn_line_from_another_process_mid_run_is_ended_too(tmp_path: Path) -> None:
    path = tmp_path / "upload.jsonl"
    writer = EventWriter("upload", tmp_path)
    writer.emit("start", target="dataset")
    with path.open("ab") as handle:  # a second publisher, killed inside its write, between our lines
        handle.write(b'{"v":1,"stage":"upl')
    writer.emit("end", status="ok")
    writer.close()
    assert [e.kind for e in read_events(path).events] == ["start", "end"]


def test_environment_secrets_are_masked_whatever_the_stage_passes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_TOKEN", "hf_EnvironmentSecret0123")
    monkeypatch.setenv("KAGGLE_KEY", "0123456789abcdef0123456789abcdef")
    monkeypatch.setenv("KAGGLE_API_TOKEN", "short")  # too short to mask without masking ordinary words
    with EventWriter("test-run", tmp_path) as writer:  # the solver passes no redaction of its own
        writer.emit(
            "error",
            message="engine failed: Authorization hf_EnvironmentSecret0123",
            advice={"nested": ["key 0123456789abcdef0123456789abcdef"]},
            task_id="short",
        )
    raw = (tmp_path / "test-run.jsonl").read_text()
    assert "hf_EnvironmentSecret0123" not in raw and "0123456789abcdef0123456789abcdef" not in raw
    data = lines_of(tmp_path / "test-run.jsonl")[0]["data"]
    assert data == {
        "message": "engine failed: Authorization ***",
        "advice": {"nested": ["key ***"]},
        "task_id": "short",
    }


def test_non_finite_floats_are_written_as_null(tmp_path: Path) -> None:
    with EventWriter("test-run", tmp_path) as writer:
        writer.emit("progress", forecast_s=math.inf, elapsed_s=math.nan, done=1, scores={"kaggle": -math.inf})
    raw = (tmp_path / "test-run.jsonl").read_text()
    assert "Infinity" not in raw and "NaN" not in raw
    assert lines_of(tmp_path / "test-run.jsonl")[0]["data"] == {
        "forecast_s": None,
        "elapsed_s": None,
        "done": 1,
        "scores": {"kaggle": None},
    }


def test_an_unwritable_state_dir_is_said_once_and_the_stage_goes_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "state"
    blocker.write_text("a file where the state dir should be")
    writer = EventWriter("download", blocker)
    writer.emit("start")
    writer.emit("end", status="ok")
    writer.close()
    err = capsys.readouterr().err
    assert err.count("cannot write events to") == 1 and "going on without them" in err


def test_threads_never_interleave_inside_a_line(tmp_path: Path) -> None:
    writer = EventWriter("download", tmp_path)

    def emit_many(name: str) -> None:
        for i in range(200):
            writer.emit("progress", file=name, bytes_done=i, bytes_total=200)

    threads = [threading.Thread(target=emit_many, args=(f"f{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    writer.close()
    events = read_events(tmp_path / "download.jsonl")
    assert events.junk == 0 and len(events.events) == 800
    assert sorted(e.seq for e in events.events) == list(range(800))
