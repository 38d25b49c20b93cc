"""The journal reader against random and truncated JSON-Lines: it never raises, and every good line
written among the junk is still read back."""

from __future__ import annotations

import json
import tempfile
from dataclasses import asdict
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from arcforge_solver.runtime.journal import Journal, JournalRecord

GOOD = [
    JournalRecord(
        task_id=f"t{i}",
        fingerprint=f"f{i}",
        engine="search",
        state="done",
        seconds=1.5,
        entries=[{"attempt_1": [[i % 10]], "attempt_2": [[1, 2]]}],
        stats={"evaluations": i},
    )
    for i in range(4)
]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)
junk_line = st.one_of(
    st.binary(max_size=60).map(lambda b: b.replace(b"\n", b" ")),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.sampled_from([json.dumps(asdict(r)).encode() for r in GOOD]).flatmap(
        lambda line: st.integers(1, len(line) - 1).map(lambda cut: line[:cut])  # torn
    ),
    st.just(b"[" * 5000 + b"]" * 5000),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(st.integers(0, len(GOOD) - 1), junk_line), max_size=12), st.booleans())
def test_the_journal_reader_never_raises_and_keeps_every_good_line(
    lines: list[int | bytes], torn_tail: bool
) -> None:
    body = b""
    for line in lines:
        body += (json.dumps(asdict(GOOD[line])).encode() if isinstance(line, int) else line) + b"\n"
    if torn_tail:
        body += b'{"task_id": "t9", "finger'
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "journal.jsonl"
        path.write_bytes(body)
        journal = Journal(path)
        records = journal.load()
        wanted = [GOOD[line].task_id for line in lines if isinstance(line, int)]
        assert [r.task_id for r in records] == wanted
        assert (
            len(journal.problems)
            == sum(1 for line in lines if not isinstance(line, int) and line.strip()) + torn_tail
        )
        # An append after whatever is there is read back too.
        journal.append(GOOD[0])
        assert journal.load()[-1].task_id == "t0"
