"""The progress journal: one JSON line per finished task, so that a rerun of the same command resumes.

It lives beside the submission (`submission.json` -> `submission.journal.jsonl`) unless `--journal`
names another place. Each line holds the task id, a fingerprint of the task's content, the engine, the
final state, the best train fitness, the best program's source, the submission entries and counters.
A rerun reuses the latest line of the same engine for the same task content. Nothing in the file is
trusted: a torn line (a kill mid-write), a line of the wrong types or entries that are not valid
submission grids is named in `problems` and skipped, so that task is solved again. Tasks whose engine
crashed (`failed`) are tried again on a rerun.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from arcforge_events.writer import at_line_start
from arcforge_solver.tasks.io import TaskFormatError, check_grid

FINISHED_STATES = frozenset({"done", "timeout"})


@dataclass
class JournalRecord:
    task_id: str
    fingerprint: str
    engine: str
    state: str
    seconds: float
    entries: list[dict[str, list[list[int]]]]
    fitness: float | None = None
    train_solved: bool = False
    attempts: int = 0
    program: str | None = None
    error: str | None = None
    stats: dict[str, Any] = field(default_factory=dict)
    settings: str = ""
    """A digest of the settings that shape an answer (engine, its options, seed): a rerun
    with other settings solves the task again instead of reusing this line."""
    ts: float = field(default_factory=time.time)

    @classmethod
    def from_json(cls, value: Any) -> JournalRecord:
        """A record from one parsed line, checked field by field; ValueError says what is wrong."""
        if not isinstance(value, dict):
            raise ValueError(f"a record must be a JSON object, not {type(value).__name__}")
        for name in ("task_id", "fingerprint", "engine", "state"):
            if not isinstance(value.get(name), str):
                raise ValueError(f"{name!r} must be a string")
        seconds = value.get("seconds")
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
            raise ValueError("'seconds' must be a number")
        entries = value.get("entries")
        if not isinstance(entries, list):
            raise ValueError("'entries' must be a list")
        for index, entry in enumerate(entries):
            if not isinstance(entry, dict):
                raise ValueError(f"entry {index} must be an object with attempt_1 and attempt_2")
            for key in ("attempt_1", "attempt_2"):
                try:
                    check_grid(entry.get(key), "", None, f"entry {index} {key}")
                except TaskFormatError as exc:
                    raise ValueError(str(exc).lstrip(": ")) from None
        if not isinstance(value.get("stats", {}), dict):
            raise ValueError("'stats' must be an object")
        known = set(cls.__dataclass_fields__)
        return cls(**{key: value[key] for key in value if key in known})


@dataclass(frozen=True)
class JournalProblem:
    """One line of the journal that a rerun cannot use, and why."""

    line: int
    task_id: str | None
    problem: str


def journal_path_for(out: str | Path) -> Path:
    target = Path(out)
    return target.with_name(target.stem + ".journal.jsonl")


class JournalError(OSError):
    """The journal path as a whole is unusable (a folder, or not readable)."""


class Journal:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.problems: list[JournalProblem] = []
        """The lines the last `load()` skipped, with their line numbers."""
        self.stale = 0
        """Tasks the last `finished()` found done only under another engine or other settings."""

    def check_usable(self) -> None:
        """Raise JournalError when the path cannot hold a journal: say so before any solving."""
        if self.path.is_dir():
            raise JournalError(f"{self.path}: the journal path is a folder; name a file (--journal)")
        parent = self.path.parent
        if parent.exists() and not parent.is_dir():
            raise JournalError(f"{self.path}: cannot write the journal there: {parent} is not a folder")

    def load(self) -> list[JournalRecord]:
        """Every valid record in write order; the others go to `problems`, named by line number."""
        records: list[JournalRecord] = []
        self.problems = []
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return records
        except IsADirectoryError:
            raise JournalError(
                f"{self.path}: the journal path is a folder; name a file (--journal)"
            ) from None
        except OSError as exc:
            raise JournalError(f"{self.path}: cannot read the journal: {exc.strerror or exc}") from None
        for number, line in enumerate(raw.split(b"\n"), start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except (ValueError, RecursionError):
                self.problems.append(
                    JournalProblem(number, None, "not a complete JSON line (torn by a kill?)")
                )
                continue
            try:
                records.append(JournalRecord.from_json(value))
            except (ValueError, TypeError) as exc:
                task_id = value.get("task_id") if isinstance(value, dict) else None
                self.problems.append(
                    JournalProblem(number, task_id if isinstance(task_id, str) else None, str(exc))
                )
        return records

    def finished(
        self, engine: str, fingerprints: dict[str, str], settings: str = ""
    ) -> dict[str, JournalRecord]:
        """What a rerun may reuse: per task, the latest record of this engine and these settings for
        this very task content, when that record is finished. `stale` counts the tasks that have a
        finished record only under other settings."""
        latest: dict[str, JournalRecord] = {}
        other: set[str] = set()
        for record in self.load():
            if fingerprints.get(record.task_id) != record.fingerprint:
                continue
            if record.engine == engine and record.settings == settings:
                latest[record.task_id] = record
            elif record.state in FINISHED_STATES:
                other.add(record.task_id)
        reusable = {task_id: record for task_id, record in latest.items() if record.state in FINISHED_STATES}
        self.stale = len(other - set(reusable))
        return reusable

    def append(self, record: JournalRecord) -> None:
        line = (json.dumps(asdict(record), separators=(",", ":")) + "\n").encode()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            if not at_line_start(fd):
                line = b"\n" + line  # start on a fresh line: never glue a record to a torn fragment
            os.write(fd, line)  # one write: a kill leaves at most a torn last line, which load() skips
        finally:
            os.close(fd)

    def reset(self) -> None:
        self.path.unlink(missing_ok=True)


def settings_digest(engine: str, options: Mapping[str, Any], seed: int) -> str:
    """The resume key's settings part: the engine's settings, whose change makes an earlier answer no
    longer this run's. The time per task is not among them: a run resumed with more or less time
    (Kaggle's budget left, a laptop) keeps what it already has."""
    text = json.dumps({"engine": engine, "options": options, "seed": seed}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]
