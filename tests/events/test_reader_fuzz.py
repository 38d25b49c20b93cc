"""Fuzz (issue 19): random and truncated JSON-Lines, appended in random pieces between polls. The reader
never raises, and every good line is still read, in order, even one glued after a torn fragment."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from arcforge_events import EventTailer, parse_line

RUN = "20261201T100000-f00d"
HOSTILE = [
    b'{"v":1,"stage":"test-run","run_id":"r","kind":"progress","data":{"done":Infinity}}',
    b'{"v":1,"stage":"test-run","run_id":"r","kind":"progress","data":{"done":1e400}}',
    b'{"v":1,"stage":"test-run","run_id":"r","kind":"log","data":{"n":NaN}}',
    b"[" * 5000 + b"]" * 5000,
    b'{"v":1,"stage":"test-run","run_id":"r","kind":"log","data":' + b"{" * 3000,
    b'{"v":7,"stage":"test-run","run_id":"r","kind":"log"}',
    b"\xff\xfe\x00garbage",
    b"{",
    b"null",
]

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def good_line(draw: st.DrawFn, seq: int) -> bytes:
    data = draw(st.dictionaries(st.text(max_size=10).filter(lambda k: k != "v"), json_values, max_size=5))
    event = {
        "v": 1,
        "ts": 1.0 + seq,
        "stage": "test-run",
        "run_id": RUN,
        "seq": seq,
        "kind": "item",
        "data": data,
    }
    compact = draw(st.booleans())  # our writer's separators, or json.dumps' defaults
    text = json.dumps(event, separators=(",", ":") if compact else None, ensure_ascii=draw(st.booleans()))
    return text.encode() + b"\n"


junk_line = st.one_of(
    st.binary(max_size=60).map(lambda b: b.replace(b"\n", b" ").replace(b'{"v"', b"{ v")),
    st.sampled_from(HOSTILE),
).filter(lambda b: parse_line(b) is None)


@st.composite
def stream(draw: st.DrawFn) -> tuple[list[bytes], list[int]]:
    """Segments of the file, and the seq of each good line in it."""
    segments: list[bytes] = []
    good: list[int] = []
    for _ in range(draw(st.integers(0, 25))):
        what = draw(st.sampled_from(["good", "good", "junk", "torn"]))
        if what == "good":
            segments.append(draw(good_line(len(good))))
            good.append(len(good))
        elif what == "junk":
            segments.append(draw(junk_line) + b"\n")
        else:  # a writer killed inside its write: a strict prefix of a good line, no newline
            whole = draw(good_line(10_000))
            segments.append(whole[: draw(st.integers(1, len(whole) - 2))])
    return segments, good


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(stream(), st.lists(st.integers(1, 200), min_size=1, max_size=20), st.integers(16, 512))
def test_random_and_torn_lines_never_raise_and_every_good_line_is_read(
    tmp_path: Path, parts: tuple[list[bytes], list[int]], cuts: list[int], max_bytes: int
) -> None:
    segments, good = parts
    data = b"".join(segments)
    path = tmp_path / "fuzz.jsonl"
    path.write_bytes(b"")
    tailer = EventTailer(path, max_bytes=max_bytes)
    seen: list[int] = []
    position = 0
    for cut in [*cuts, len(data)]:  # appended in pieces, as writers do, with polls in between
        piece = data[position : position + cut]
        position += len(piece)
        with path.open("ab") as handle:
            handle.write(piece)
        while True:
            batch = tailer.poll()
            seen += [e.seq for e in batch.events if e.run_id == RUN]
            if not batch.more:
                break
    seen += [e.seq for e in tailer.flush_fragment().events if e.run_id == RUN]
    assert [s for s in seen if s < 10_000] == good
    path.unlink()
