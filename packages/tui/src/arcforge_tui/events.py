"""The reader of arcforge status events (docs/events.md): parse lines, tail files incrementally.

Nothing here knows about Textual: the app's thread workers call `EventTailer.poll()` and post what it
returns to the UI. The tailer reads whole lines only, keeps a trailing fragment until its newline
arrives, counts junk lines, and starts again from offset 0 when the file shrinks or is replaced.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CONTRACT_VERSION = 1
STATE_DIR_ENV = "ARCFORGE_STATE_DIR"
DEFAULT_STATE_DIR = ".arcforge"
STAGES = ("download", "upload", "test-run")
EVENT_KINDS = frozenset({"start", "progress", "item", "log", "error", "end"})
# One poll hands over at most this many bytes, so a huge backlog reaches the UI in steady batches.
MAX_BYTES_PER_POLL = 4 * 1024 * 1024
HEAD_BYTES = 64


def resolve_state_dir(flag: str | os.PathLike[str] | None = None) -> Path:
    """The state dir, as the writers resolve it: the --state-dir flag, $ARCFORGE_STATE_DIR, ./.arcforge."""
    if flag:
        return Path(flag)
    from_env = os.environ.get(STATE_DIR_ENV)
    return Path(from_env) if from_env else Path(DEFAULT_STATE_DIR)


def event_path(state_dir: Path, stage: str) -> Path:
    return state_dir / f"{stage}.jsonl"


@dataclass(frozen=True)
class Event:
    """One status event. `data` is the payload as written; readers ignore keys they do not know."""

    stage: str
    run_id: str
    kind: str
    ts: float
    seq: int
    data: dict[str, Any]


def parse_line(line: bytes | str) -> Event | None:
    """The event on one line, or None when the line is junk (not JSON, not an object, fields missing)."""
    try:
        obj = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(obj, dict):
        return None
    stage, kind, run_id = obj.get("stage"), obj.get("kind"), obj.get("run_id")
    if not (isinstance(stage, str) and isinstance(kind, str) and isinstance(run_id, str)):
        return None
    ts = obj.get("ts")
    seq = obj.get("seq")
    data = obj.get("data")
    return Event(
        stage=stage,
        run_id=run_id,
        kind=kind,
        ts=float(ts) if isinstance(ts, (int, float)) and not isinstance(ts, bool) else 0.0,
        seq=seq if isinstance(seq, int) and not isinstance(seq, bool) else -1,
        data=data if isinstance(data, dict) else {},
    )


@dataclass
class ReadBatch:
    """What one poll found: events in file order, junk lines skipped, and whether the file started over."""

    events: list[Event] = field(default_factory=list)
    junk: int = 0
    # True when the file was truncated or replaced: state built from its earlier bytes must be dropped.
    restarted: bool = False
    # True once the file exists (a stage that never wrote anything is "waiting").
    exists: bool = False
    # True when the poll stopped at its byte limit with more of the file left to read.
    more: bool = False
    error: str | None = None

    def __bool__(self) -> bool:
        return bool(self.events or self.junk or self.restarted or self.error)


class EventTailer:
    """Reads one stage's JSON-Lines file incrementally, from wherever the last poll stopped."""

    def __init__(self, path: Path, max_bytes: int = MAX_BYTES_PER_POLL) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.offset = 0
        self.inode: tuple[int, int] | None = None
        self.fragment = b""
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
        self._split(self.fragment + chunk, batch)
        return batch

    def flush_fragment(self) -> ReadBatch:
        """Count a trailing fragment as a torn line (replay: no more bytes will come to finish it)."""
        batch = ReadBatch(exists=self.inode is not None)
        if self.fragment:
            event = parse_line(self.fragment)
            if event is None:
                batch.junk = 1
                self.junk_total += 1
            else:  # a last line that lacks only its newline is still whole
                batch.events.append(event)
            self.fragment = b""
        return batch

    def _split(self, data: bytes, batch: ReadBatch) -> None:
        lines = data.split(b"\n")
        self.fragment = lines.pop()  # bytes after the last newline: an unfinished line
        for line in lines:
            if not line.strip():
                continue
            event = parse_line(line)
            if event is None:
                batch.junk += 1
            else:
                batch.events.append(event)
        self.junk_total += batch.junk

    def _start_over(self, batch: ReadBatch) -> None:
        self.offset = 0
        self.fragment = b""
        self.head = b""
        self.junk_total = 0
        self.restarts += 1
        batch.restarted = True
        batch.events.clear()
        batch.junk = 0

    def _report(self, batch: ReadBatch, message: str) -> ReadBatch:
        # An unreadable file is said once, not on every poll.
        if message != self._last_error:
            batch.error = message
            self._last_error = message
        return batch
