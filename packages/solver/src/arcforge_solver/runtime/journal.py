"""The progress journal: one JSON line per finished task, so that a rerun of the same command resumes.

It lives beside the submission (`submission.json` -> `submission.journal.jsonl`) unless `--journal`
names another place. Each line holds the task id, a fingerprint of the task's content, the engine, the
final state, the best train fitness, the best program's source, the submission entries and counters.
A rerun reuses the latest line of the same engine for the same task content; lines torn by a kill
are skipped. Tasks whose engine crashed (`failed`) are tried again on a rerun.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

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
    ts: float = field(default_factory=time.time)

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> JournalRecord:
        known = {name for name in cls.__dataclass_fields__}
        return cls(**{key: value[key] for key in value if key in known})


def journal_path_for(out: str | Path) -> Path:
    target = Path(out)
    return target.with_name(target.stem + ".journal.jsonl")


class Journal:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def load(self) -> list[JournalRecord]:
        """Every readable record in write order; torn or foreign lines are skipped."""
        records: list[JournalRecord] = []
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return records
        for line in raw.split(b"\n"):
            if not line.strip():
                continue
            try:
                records.append(JournalRecord.from_json(json.loads(line)))
            except (ValueError, TypeError):
                continue
        return records

    def finished(self, engine: str, fingerprints: dict[str, str]) -> dict[str, JournalRecord]:
        """What a rerun may reuse: per task, the latest record of this engine for this very task
        content, when that record is finished."""
        latest: dict[str, JournalRecord] = {}
        for record in self.load():
            if record.engine == engine and fingerprints.get(record.task_id) == record.fingerprint:
                latest[record.task_id] = record
        return {task_id: record for task_id, record in latest.items() if record.state in FINISHED_STATES}

    def append(self, record: JournalRecord) -> None:
        line = (json.dumps(asdict(record), separators=(",", ":")) + "\n").encode()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)  # one write: a kill leaves at most a torn last line, which load() skips
        finally:
            os.close(fd)

    def reset(self) -> None:
        self.path.unlink(missing_ok=True)
