"""The reader of status events: parse one line, tail one stage's file incrementally, or read it whole.

Nothing here knows about a UI: a caller polls `EventTailer.poll()` and gets a `ReadBatch`. The tailer
reads whole lines only, keeps a trailing fragment until its newline arrives, and starts again from
offset 0 when the file shrinks or is replaced. It survives any bytes: a line that is not an event is
skipped and counted by reason (not an event, too long, nested too deeply, a number JSON cannot hold,
another contract version), so a UI can say what it skipped. A line longer than `MAX_LINE_BYTES` is
skipped without being held in memory or parsed.
"""

from __future__ import annotations

import json
import math
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from arcforge_events.contract import CONTRACT_VERSION

# One poll hands over at most this many bytes, so a huge backlog reaches a UI in steady batches.
MAX_BYTES_PER_POLL = 4 * 1024 * 1024
# Longer lines are skipped unparsed. A test-run item with every grid of a 30x30 task is ~100 kB.
MAX_LINE_BYTES = 1024 * 1024
# Deeper `data` is junk: ARC grids are 3 levels deep inside a payload, and no reader recurses further.
MAX_DEPTH = 32
HEAD_BYTES = 64
# Integers beyond 64 bits are junk: `float()` of a 400-digit integer raises OverflowError.
MAX_INT_DIGITS = 19
# Every writer's line starts so (`{"v":1,` or `{"v": 1,`); a junk line holding it later is a torn
# fragment glued to a whole line.
LINE_START = b'{"v"'
MAX_GLUED = 8

# Why a line was skipped (the keys of ReadBatch.skipped).
NOT_AN_EVENT = "not an event"
TOO_LONG = "longer than 1 MiB"
TOO_DEEP = f"nested deeper than {MAX_DEPTH} levels"
BAD_NUMBER = "a number out of range (Infinity, NaN, 1e400)"
OTHER_VERSION = "another contract version"
TORN = "torn (a writer died mid-line)"


@dataclass(frozen=True)
class Event:
    """One status event. `data` is the payload as written; readers ignore keys they do not know."""

    stage: str
    run_id: str
    kind: str
    ts: float
    seq: int
    data: dict[str, Any]


@dataclass(frozen=True)
class Junk:
    """A line that is not an event, and why."""

    reason: str


class _NumberOutOfRangeError(ValueError):
    pass


def _no_constant(name: str) -> Any:
    raise _NumberOutOfRangeError(name)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NumberOutOfRangeError(text)
    return value


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise _NumberOutOfRangeError(text)
    return int(text)


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether `value` nests lists/objects more than `limit` levels (an explicit stack: no recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values() if isinstance(v, (dict, list)))
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item if isinstance(v, (dict, list)))
    return False


def _may_nest_deeper(line: bytes | str) -> bool:
    """False when the line has too few brackets to nest deeper than MAX_DEPTH (a C-speed count, so
    ordinary lines skip the walk over their payload)."""
    if isinstance(line, str):
        return line.count("[") + line.count("{") > MAX_DEPTH
    return line.count(b"[") + line.count(b"{") > MAX_DEPTH


def parse_event(line: bytes | str) -> Event | Junk:
    """The event on one line, or why the line is junk. Never raises."""
    if len(line) > MAX_LINE_BYTES:
        return Junk(TOO_LONG)
    try:
        obj = json.loads(line, parse_constant=_no_constant, parse_float=_finite_float, parse_int=_bounded_int)
    except _NumberOutOfRangeError:
        return Junk(BAD_NUMBER)
    except RecursionError:
        return Junk(TOO_DEEP)
    except (ValueError, UnicodeDecodeError, MemoryError):
        return Junk(NOT_AN_EVENT)
    if not isinstance(obj, dict):
        return Junk(NOT_AN_EVENT)
    stage, kind, run_id = obj.get("stage"), obj.get("kind"), obj.get("run_id")
    if not (isinstance(stage, str) and isinstance(kind, str) and isinstance(run_id, str)):
        return Junk(NOT_AN_EVENT)
    version = obj.get("v", CONTRACT_VERSION)
    if version != CONTRACT_VERSION or isinstance(version, bool):
        return Junk(OTHER_VERSION)
    data = obj.get("data")
    data = data if isinstance(data, dict) else {}
    if _may_nest_deeper(line) and _deeper_than(data, MAX_DEPTH):
        return Junk(TOO_DEEP)
    ts, seq = obj.get("ts"), obj.get("seq")
    return Event(
        stage=stage,
        run_id=run_id,
        kind=kind,
        ts=float(ts) if isinstance(ts, (int, float)) and not isinstance(ts, bool) else 0.0,
        seq=seq if isinstance(seq, int) and not isinstance(seq, bool) else -1,
        data=data,
    )


def parse_line(line: bytes | str) -> Event | None:
    """The event on one line, or None when the line is junk."""
    parsed = parse_event(line)
    return parsed if isinstance(parsed, Event) else None


@dataclass
class ReadBatch:
    """What one poll found: events in file order, lines skipped, and whether the file started over."""

    events: list[Event] = field(default_factory=list)
    junk: int = 0  # lines skipped, all reasons together
    skipped: Counter[str] = field(default_factory=Counter)  # reason -> lines skipped for it
    # True when the file was truncated or replaced: state built from its earlier bytes must be dropped.
    restarted: bool = False
    # True once the file exists (a stage that never wrote anything is "waiting").
    exists: bool = False
    # True when the poll stopped at its byte limit with more of the file left to read.
    more: bool = False
    error: str | None = None

    def __bool__(self) -> bool:
        return bool(self.events or self.junk or self.restarted or self.error)

    def skip(self, reason: str) -> None:
        self.junk += 1
        self.skipped[reason] += 1


class EventTailer:
    """Reads one stage's JSON-Lines file incrementally, from wherever the last poll stopped."""

    def __init__(
        self, path: Path, max_bytes: int = MAX_BYTES_PER_POLL, max_line_bytes: int = MAX_LINE_BYTES
    ) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.max_line_bytes = max_line_bytes
        self.offset = 0
        self.inode: tuple[int, int] | None = None
        self.fragment = b""
        # True while skipping the rest of an over-long line: its bytes are dropped until its newline.
        self.discarding = False
        # The file's first bytes (its first event's clock and run id): if they change while the file
        # did not shrink, it was rewritten in place between two polls.
        self.head = b""
        self.junk_total = 0
        self.restarts = 0
        self._last_error: str | None = None

    def poll(self) -> ReadBatch:
        """Read what was appended since the last poll (at most `max_bytes`); never raises on bad data."""
        batch = ReadBatch()
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            if self.inode is not None:  # the file went away: what we showed from it no longer holds
                self._start_over(batch)
                self.inode = None
            return batch
        except OSError as exc:
            return self._report(batch, f"cannot read {self.path}: {exc}")
        batch.exists = True
        identity = (stat.st_dev, stat.st_ino)
        if self.inode is not None and (identity != self.inode or stat.st_size < self.offset):
            self._start_over(batch)
        self.inode = identity
        if stat.st_size == self.offset:
            return batch
        try:
            with self.path.open("rb") as handle:
                # Re-check identity on the opened handle: the file may have been replaced since stat().
                opened = os.fstat(handle.fileno())
                if (opened.st_dev, opened.st_ino) != identity:
                    self._start_over(batch)
                    self.inode = (opened.st_dev, opened.st_ino)
                if opened.st_size < self.offset:
                    self._start_over(batch)
                if self.head and handle.read(len(self.head)) != self.head:
                    self._start_over(batch)
                handle.seek(self.offset)
                chunk = handle.read(self.max_bytes)
        except FileNotFoundError:
            return batch
        except OSError as exc:
            return self._report(batch, f"cannot read {self.path}: {exc}")
        self._last_error = None
        if self.offset == 0:
            self.head = chunk[:HEAD_BYTES]
        self.offset += len(chunk)
        batch.more = len(chunk) == self.max_bytes
        self._split(chunk, batch)
        return batch

    def flush_fragment(self) -> ReadBatch:
        """Read a trailing fragment as the last line (replay: no more bytes will come to finish it)."""
        batch = ReadBatch(exists=self.inode is not None)
        if self.discarding:
            batch.skip(TOO_LONG)
        elif self.fragment:
            self._line(self.fragment, batch, last=True)
        self.fragment = b""
        self.discarding = False
        self.junk_total += batch.junk
        return batch

    def _split(self, chunk: bytes, batch: ReadBatch) -> None:
        start = 0
        if self.discarding:
            newline = chunk.find(b"\n")
            if newline < 0:
                return  # still inside the over-long line
            self.discarding = False
            batch.skip(TOO_LONG)
            start = newline + 1
        end = chunk.rfind(b"\n")
        if end < start:  # no newline in what is left: it all belongs to the unfinished line
            self._hold(chunk[start:])
        else:
            lines = chunk[start:end].split(b"\n")
            lines[0] = self.fragment + lines[0]
            self.fragment = b""
            for line in lines:
                self._line(line, batch)
            self._hold(chunk[end + 1 :])
        self.junk_total += batch.junk

    def _hold(self, tail: bytes) -> None:
        """Keep bytes of an unfinished line, unless the line is already too long to parse."""
        if len(self.fragment) + len(tail) > self.max_line_bytes:
            self.fragment = b""
            self.discarding = True
        else:
            self.fragment += tail

    def _line(self, line: bytes, batch: ReadBatch, last: bool = False) -> None:
        if not line.strip():
            return
        if len(line) > self.max_line_bytes:
            batch.skip(TOO_LONG)
            return
        try:
            parsed = parse_event(line)
        except Exception:  # parse_event catches what json raises; this keeps a tailer alive regardless
            parsed = Junk(NOT_AN_EVENT)
        if isinstance(parsed, Event):
            batch.events.append(parsed)
            return
        glued = _after_torn_fragment(line)
        if glued is not None:
            batch.skip(TORN)
            batch.events.append(glued)
        else:
            batch.skip(TORN if last and parsed.reason == NOT_AN_EVENT else parsed.reason)

    def _start_over(self, batch: ReadBatch) -> None:
        self.offset = 0
        self.fragment = b""
        self.discarding = False
        self.head = b""
        self.junk_total = 0
        self.restarts += 1
        batch.restarted = True
        batch.events.clear()
        batch.junk = 0
        batch.skipped.clear()

    def _report(self, batch: ReadBatch, message: str) -> ReadBatch:
        # An unreadable file is said once, not on every poll.
        if message != self._last_error:
            batch.error = message
            self._last_error = message
        return batch


def _after_torn_fragment(line: bytes) -> Event | None:
    """The whole event glued after a torn fragment (an older writer appended without a fresh line)."""
    position = line.find(LINE_START, 1)
    for _ in range(MAX_GLUED):
        if position < 0:
            return None
        parsed = parse_event(line[position:])
        if isinstance(parsed, Event):
            return parsed
        position = line.find(LINE_START, position + 1)
    return None


def read_events(path: Path) -> ReadBatch:
    """Every event of a finished file, its last line too even without a newline. Never raises on bad
    data; a missing or unreadable file gives an empty batch (with `error` set when unreadable)."""
    tailer = EventTailer(path)
    total = ReadBatch()
    while True:
        batch = tailer.poll()
        total.exists = total.exists or batch.exists
        total.error = total.error or batch.error
        if batch.restarted:  # replaced while we read it: what we read no longer holds
            total.events.clear()
            total.junk = 0
            total.skipped.clear()
        total.events.extend(batch.events)
        total.junk += batch.junk
        total.skipped.update(batch.skipped)
        if not batch.more:
            break
    last = tailer.flush_fragment()
    total.events.extend(last.events)
    total.junk += last.junk
    total.skipped.update(last.skipped)
    return total


def latest_run(events: list[Event]) -> list[Event]:
    """The events of the last run in file order: from its `start` on, or all of the last run id's when
    its `start` was lost."""
    for index in range(len(events) - 1, -1, -1):
        if events[index].kind == "start":
            run_id = events[index].run_id
            return [e for e in events[index:] if e.run_id == run_id]
    if not events:
        return []
    run_id = events[-1].run_id
    return [e for e in events if e.run_id == run_id]
