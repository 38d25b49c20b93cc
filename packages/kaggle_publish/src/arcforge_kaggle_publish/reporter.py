"""What a command tells the world: status events for the TUI and plain lines for a person."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, TextIO

from arcforge_kaggle_publish.credentials import Redactor
from arcforge_kaggle_publish.events import EventWriter


class Reporter:
    """Writes `upload` (or `test-run`) events and prints one short line per change of state."""

    def __init__(self, stage: str, state_dir: Path, redact: Redactor, out: TextIO | None = None) -> None:
        self.redact = redact
        self.events = EventWriter(stage, state_dir, redact=redact)
        self._out = out

    def say(self, message: str) -> None:
        print(self.redact(message), file=self._out or sys.stdout, flush=True)

    def warn(self, message: str) -> None:
        print("warning: " + self.redact(message), file=sys.stderr, flush=True)
        self.events.emit("log", level="warning", message=message)

    def emit(self, kind: str, **data: Any) -> None:
        self.events.emit(kind, **data)

    def close(self) -> None:
        self.events.close()
