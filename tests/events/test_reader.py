"""The event reader: whole lines only, junk counted, truncation and replacement start over."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from arcforge_events import (
    Event,
    EventTailer,
    EventWriter,
    Junk,
    latest_run,
    parse_event,
    parse_line,
    read_events,
    resolve_state_dir,
)


def line(kind: str, seq: int, run_id: str = "20251125T190000-0a0b", **data: object) -> bytes:
    event = {
        "v": 1,
        "ts": 1.0 + seq,
        "stage": "test-run",
        "run_id": run_id,
        "seq": seq,
        "kind": kind,
        "data": data,
    }
    return (json.dumps(event) + "\n").encode()


def append(path: Path, data: bytes) -> None:
    with path.open("ab") as handle:
        handle.write(data)


def test_parse_line_accepts_events_and_rejects_junk() -> None:
    event = parse_line(line("item", 3, task_id="abc", state="done", new_key=[1]))
    assert event is not None
    assert (event.stage, event.kind, event.seq, event.data["task_id"]) == ("test-run", "item", 3, "abc")
    assert event.data["new_key"] == [1]  # unknown keys travel along; the state model ignores them
    for junk in (b"not json", b"[1, 2]", b'"text"', b'{"stage": "x", "kind": "log"}', b"\xff\xfe", b"{"):
        assert parse_line(junk) is None, junk
    # A missing payload or clock does not make a line junk.
    bare = parse_line(b'{"stage": "upload", "kind": "log", "run_id": "r"}')
    assert bare is not None and bare.data == {} and bare.ts == 0.0


def test_tailer_reads_whole_lines_and_keeps_the_fragment(tmp_path: Path) -> None:
    path = tmp_path / "test-run.jsonl"
    tailer = EventTailer(path)
    missing = tailer.poll()
    assert not missing.exists and not missing
    whole = line("start", 0, tasks=2)
    second = line("item", 1, task_id="a", state="done")
    path.write_bytes(whole + second[:10])
    first = tailer.poll()
    assert first.exists
    assert [e.kind for e in first.events] == ["start"]
    assert first.junk == 0 and tailer.fragment == second[:10]
    append(path, second[10:])
    rest = tailer.poll()
    assert [(e.kind, e.data.get("task_id")) for e in rest.events] == [("item", "a")]
    assert not tailer.poll()  # nothing new: an empty batch


def test_tailer_counts_junk_and_torn_lines(tmp_path: Path) -> None:
    path = tmp_path / "test-run.jsonl"
    torn = line("item", 1, task_id="a", state="running")[:25]  # a writer died inside its write
    path.write_bytes(line("start", 0) + b"garbage\n" + torn + line("log", 2, message="hi") + b"\n[1]\n")
    tailer = EventTailer(path)
    batch = tailer.poll()
    # The torn fragment is glued to the next whole line: the fragment is junk, the line still an event.
    assert [e.kind for e in batch.events] == ["start", "log"]
    assert batch.junk == 3
    assert batch.skipped == {"not an event": 2, "torn (a writer died mid-line)": 1}
    assert tailer.junk_total == 3
    append(path, b'{"torn at the end')
    assert tailer.poll().junk == 0  # a fragment may still be finished by its writer
    last = tailer.flush_fragment()  # replay: nothing will finish it
    assert last.junk == 1 and tailer.junk_total == 4


def test_tailer_starts_over_when_the_file_is_truncated(tmp_path: Path) -> None:
    path = tmp_path / "test-run.jsonl"
    path.write_bytes(line("start", 0) + line("item", 1, task_id="a") + b"junk\n")
    tailer = EventTailer(path)
    assert len(tailer.poll().events) == 2
    path.write_bytes(line("start", 0, run_id="20251125T200000-ffff"))  # shorter than what was read
    batch = tailer.poll()
    assert batch.restarted
    assert [(e.kind, e.run_id) for e in batch.events] == [("start", "20251125T200000-ffff")]
    assert tailer.junk_total == 0 and tailer.restarts == 1


def test_tailer_starts_over_when_the_file_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "test-run.jsonl"
    path.write_bytes(line("start", 0) + line("item", 1, task_id="a"))
    tailer = EventTailer(path)
    assert len(tailer.poll().events) == 2
    replacement = tmp_path / "new.jsonl"
    # Longer than the original, so only the inode tells that it is another file.
    replacement.write_bytes(
        line("start", 0, run_id="20251125T210000-eeee") + line("item", 1) + line("item", 2)
    )
    keep_inode = replacement.stat().st_ino
    os.replace(replacement, path)
    assert path.stat().st_ino == keep_inode
    batch = tailer.poll()
    assert batch.restarted
    assert [e.seq for e in batch.events] == [0, 1, 2]
    path.unlink()
    gone = tailer.poll()
    assert gone.restarted and not gone.exists


def test_tailer_hands_a_backlog_over_in_bounded_batches(tmp_path: Path) -> None:
    path = tmp_path / "test-run.jsonl"
    path.write_bytes(b"".join(line("item", i, task_id=f"t{i}") for i in range(300)))
    tailer = EventTailer(path, max_bytes=4096)
    seen: list[int] = []
    polls = 0
    while True:
        batch = tailer.poll()
        polls += 1
        seen.extend(e.seq for e in batch.events)
        if not batch.more:
            break
    assert seen == list(range(300))
    assert polls > 5 and tailer.junk_total == 0


def test_reader_reads_the_real_writer(tmp_path: Path) -> None:
    writer = EventWriter("test-run", tmp_path)
    writer.emit("start", tasks=1, engine="search")
    writer.emit("log", level="info", message="line with\nnewline and ✓")
    writer.close()
    batch = EventTailer(tmp_path / "test-run.jsonl").poll()
    assert [e.kind for e in batch.events] == ["start", "log"]
    assert batch.events[1].data["message"] == "line with\nnewline and ✓"
    assert {e.run_id for e in batch.events} == {writer.run_id}


def test_state_dir_rule(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ARCFORGE_STATE_DIR", raising=False)
    assert resolve_state_dir(None) == Path(".arcforge")
    assert resolve_state_dir(None, configured="from-toml") == Path("from-toml")
    monkeypatch.setenv("ARCFORGE_STATE_DIR", str(tmp_path))
    assert resolve_state_dir(None) == tmp_path
    assert resolve_state_dir(None, configured="from-toml") == tmp_path  # the environment wins
    assert resolve_state_dir("flag", configured="from-toml") == Path("flag")  # the flag wins all


def test_tailer_starts_over_when_the_file_is_rewritten_in_place_and_grows(tmp_path: Path) -> None:
    path = tmp_path / "test-run.jsonl"
    path.write_bytes(line("start", 0))
    tailer = EventTailer(path)
    assert len(tailer.poll().events) == 1
    inode = path.stat().st_ino
    # Truncated and rewritten between two polls, longer than before: same inode, no shrink seen.
    with path.open("r+b") as handle:
        handle.truncate(0)
        handle.write(line("start", 0, run_id="20251126T130000-7777") + line("item", 1) + line("item", 2))
    assert path.stat().st_ino == inode
    batch = tailer.poll()
    assert batch.restarted
    assert [e.seq for e in batch.events] == [0, 1, 2]
    assert batch.events[0].run_id == "20251126T130000-7777"


def test_a_line_longer_than_one_poll_is_assembled(tmp_path: Path) -> None:
    path = tmp_path / "test-run.jsonl"
    big = line("item", 1, task_id="big", program="x" * 10_000)
    path.write_bytes(line("start", 0) + big)
    tailer = EventTailer(path, max_bytes=1024)
    events = []
    while True:
        batch = tailer.poll()
        events.extend(batch.events)
        assert batch.junk == 0
        if not batch.more:
            break
    assert [e.kind for e in events] == ["start", "item"]
    assert events[1].data["program"] == "x" * 10_000


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (
            b'{"stage":"test-run","kind":"progress","run_id":"r","data":{"done":Infinity}}',
            "a number out of range",
        ),
        (
            b'{"stage":"test-run","kind":"progress","run_id":"r","data":{"done":-Infinity}}',
            "a number out of range",
        ),
        (b'{"stage":"test-run","kind":"progress","run_id":"r","data":{"done":NaN}}', "a number out of range"),
        (
            b'{"stage":"test-run","kind":"progress","run_id":"r","data":{"done":1e400}}',
            "a number out of range",
        ),
        (b'{"stage":"test-run","kind":"progress","run_id":"r","ts":1e999}', "a number out of range"),
        (
            b'{"stage":"test-run","kind":"item","run_id":"r","data":{"n":' + b"9" * 400 + b"}}",
            "a number out of range",
        ),
        (b"[" * 100_000 + b"]" * 100_000, "nested deeper than 32 levels"),
        (
            b'{"stage":"s","kind":"k","run_id":"r","data":{"a":' + b"[" * 40 + b"]" * 40 + b"}}",
            "nested deeper",
        ),
        (b'{"v":2,"stage":"test-run","kind":"log","run_id":"r"}', "another contract version"),
        (b'{"v":true,"stage":"test-run","kind":"log","run_id":"r"}', "another contract version"),
        (
            b'{"stage":"test-run","kind":"log","run_id":"r","data":{"message":"' + b"x" * (1 << 20) + b'"}}',
            "longer than",
        ),
    ],
)
def test_hostile_lines_are_junk_with_a_reason(raw: bytes, reason: str) -> None:
    parsed = parse_event(raw)
    assert isinstance(parsed, Junk) and parsed.reason.startswith(reason)


def test_an_ordinary_payload_at_the_depth_of_arc_grids_is_read() -> None:
    grids = [[[[1, 2], [3, 4]], [[5, 6], [7, 8]]]]  # predictions: tests x attempts x rows x cells
    raw = json.dumps(
        {"v": 1, "stage": "test-run", "kind": "item", "run_id": "r", "data": {"predictions": grids}}
    )
    event = parse_event(raw)
    assert isinstance(event, Event) and event.data["predictions"] == grids
    assert isinstance(
        parse_event(b'{"stage":"s","kind":"k","run_id":"r","data":{"big":9223372036854775807}}'), Event
    )


def test_a_line_longer_than_the_cap_is_dropped_as_it_streams_past(tmp_path: Path) -> None:
    path = tmp_path / "test-run.jsonl"
    path.write_bytes(line("start", 0))
    tailer = EventTailer(path, max_bytes=4096, max_line_bytes=10_000)
    assert [e.kind for e in tailer.poll().events] == ["start"]
    append(path, b'{"v":1,"stage":"test-run","kind":"log","run_id":"r","data":{"message":"' + b"x" * 200_000)
    held: list[int] = []
    while True:
        batch = tailer.poll()
        held.append(len(tailer.fragment))
        assert not batch.events and batch.junk == 0  # not finished yet: nothing to count
        if not batch.more:
            break
    assert max(held) <= 10_000 and tailer.discarding  # never more than the cap in memory
    append(path, b'"}}\n' + line("log", 2, message="after"))
    rest = tailer.poll()
    assert [e.data.get("message") for e in rest.events] == ["after"]
    assert rest.skipped == {"longer than 1 MiB": 1}


def test_an_unfinished_over_long_last_line_counts_once_on_replay(tmp_path: Path) -> None:
    path = tmp_path / "test-run.jsonl"
    path.write_bytes(line("start", 0) + b"y" * 50_000)
    tailer = EventTailer(path, max_line_bytes=10_000)
    assert [e.kind for e in tailer.poll().events] == ["start"]
    last = tailer.flush_fragment()
    assert last.junk == 1 and last.skipped == {"longer than 1 MiB": 1}


def test_read_events_reads_a_whole_file_and_its_unterminated_last_line(tmp_path: Path) -> None:
    path = tmp_path / "test-run.jsonl"
    path.write_bytes(line("start", 0) + b"junk\n" + line("end", 1, status="ok").rstrip(b"\n"))
    batch = read_events(path)
    assert [e.kind for e in batch.events] == ["start", "end"] and batch.junk == 1
    missing = read_events(tmp_path / "nothing.jsonl")
    assert not missing.exists and not missing.events


def test_latest_run_keeps_the_events_after_the_last_start() -> None:
    def event(kind: str, run_id: str) -> Event:
        return Event("test-run", run_id, kind, 0.0, 0, {})

    events = [
        event("start", "a"),
        event("item", "a"),
        event("start", "b"),
        event("item", "a"),
        event("end", "b"),
    ]
    assert [(e.kind, e.run_id) for e in latest_run(events)] == [("start", "b"), ("end", "b")]
    no_start = [event("item", "a"), event("item", "b"), event("end", "b")]
    assert [e.run_id for e in latest_run(no_start)] == ["b", "b"]
    assert latest_run([]) == []
