"""The plain progress line on a terminal: rewritten in place on a tty, one line per update otherwise."""

from __future__ import annotations

import time
from typing import TextIO


class ProgressLine:
    def __init__(self, stream: TextIO, tty_interval_s: float = 0.2, plain_interval_s: float = 10.0) -> None:
        self.stream = stream
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        # A log file gets a line now and then, a terminal a smooth counter.
        self.min_interval_s = tty_interval_s if self.tty else plain_interval_s
        self._shown = ""
        self._last = 0.0

    def update(self, line: str, force: bool = False) -> None:
        """Show the line; updates closer together than the interval are dropped unless forced."""
        now = time.monotonic()
        if not force and now - self._last < self.min_interval_s:
            return
        self._last = now
        if self.tty:
            pad = max(0, len(self._shown) - len(line))
            self.stream.write("\r" + line + " " * pad)
            self._shown = line
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def message(self, text: str) -> None:
        """A line of its own, above the progress line."""
        self.done()
        self.stream.write(text + "\n")
        self.stream.flush()

    def done(self) -> None:
        if self.tty and self._shown:
            self.stream.write("\n")
            self.stream.flush()
        self._shown = ""
