"""The arcforge-solver writer of arcforge status events (see docs/events.md in the repository).

Each arcforge package owns a copy of this small writer because packages never import each other; the
contract test in tests/contract/ checks that every copy's output is read the same way by the TUI.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

CONTRACT_VERSION = 1
STATE_DIR_ENV = "ARCFORGE_STATE_DIR"
DEFAULT_STATE_DIR = ".arcforge"
EVENT_KINDS = frozenset({"start", "progress", "item", "log", "error", "end"})


def resolve_state_dir(flag: str | os.PathLike[str] | None = None) -> Path:
    """The state dir: the --state-dir flag, else $ARCFORGE_STATE_DIR, else ./.arcforge."""
    if flag:
        return Path(flag)
    from_env = os.environ.get(STATE_DIR_ENV)
    return Path(from_env) if from_env else Path(DEFAULT_STATE_DIR)


def new_run_id() -> str:
    return time.strftime("%Y%m%dT%H%M%S", time.gmtime()) + "-" + secrets.token_hex(2)


class EventWriter:
    """Appends one JSON line per event to <state dir>/<stage>.jsonl, each in a single write."""

    def __init__(
        self,
        stage: str,
        state_dir: str | os.PathLike[str] | None = None,
        run_id: str | None = None,
        redact: Callable[[str], str] | None = None,
    ) -> None:
        self.stage = stage
        self.run_id = run_id or new_run_id()
        self.path = resolve_state_dir(state_dir) / f"{stage}.jsonl"
        self._redact = redact
        self._seq = 0
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._broken = False

    def emit(self, kind: str, **data: Any) -> None:
        if kind not in EVENT_KINDS:
            raise ValueError(f"unknown event kind {kind!r}; expected one of {sorted(EVENT_KINDS)}")
        with self._lock:
            event = {
                "v": CONTRACT_VERSION,
                "ts": round(time.time(), 3),
                "stage": self.stage,
                "run_id": self.run_id,
                "seq": self._seq,
                "kind": kind,
                "data": self._clean(data),
            }
            self._seq += 1
            line = (json.dumps(event, separators=(",", ":"), ensure_ascii=False) + "\n").encode()
            self._append(line)

    def _clean(self, value: Any) -> Any:
        if isinstance(value, str):
            return self._redact(value) if self._redact else value
        if isinstance(value, Mapping):
            return {str(k): self._clean(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self._clean(v) for v in value]
        if isinstance(value, Path):
            return self._clean(str(value))
        if value is None or isinstance(value, (bool, int, float)):
            return value
        if hasattr(value, "tolist"):  # numpy arrays and scalars
            return self._clean(value.tolist())
        return self._clean(str(value))

    def _append(self, line: bytes) -> None:
        if self._broken:
            return
        try:
            if self._fd is None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            os.write(self._fd, line)  # one write per line: appenders never interleave inside it
        except OSError as exc:
            self._broken = True
            print(
                f"arcforge: cannot write events to {self.path}: {exc}; going on without them", file=sys.stderr
            )

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def __enter__(self) -> EventWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
