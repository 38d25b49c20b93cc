"""Progress for people and for the TUI: download events, and one redrawn line on a terminal."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, TextIO

from arcforge_downloader.events import EventWriter

TICK_SECONDS = 0.5  # progress events at most twice a second per file (the contract allows 10/s)


def human_size(n: float) -> str:
    """Decimal units, as the Hub's pages show sizes: 4.99 GB, 512.0 MB, 1.2 kB, 220 B."""
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(n) >= scale:
            return f"{n / scale:.2f} {unit}" if unit in ("TB", "GB") else f"{n / scale:.1f} {unit}"
    return f"{int(n)} B"


def human_duration(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"


@dataclass
class _FileProgress:
    size: int
    done: int = 0
    reported: int = -1
    speed: float = 0.0
    last_done: int = 0


class Progress:
    """Counts bytes per file (thread-safe), emits `item`/`progress` events and draws the terminal line."""

    def __init__(self, events: EventWriter, stream: TextIO, interactive: bool) -> None:
        self.events = events
        self.stream = stream
        self.interactive = interactive
        self._lock = threading.Lock()
        self._files: dict[str, _FileProgress] = {}
        self.fetched = 0  # bytes that crossed the network in this run
        self._started = time.monotonic()
        self._last_tick = self._started
        self._last_fetched = 0
        self._speed = 0.0
        self._files_done = 0
        self._line_drawn = False
        self._ticker: threading.Thread | None = None
        self._stop = threading.Event()
        self._wait_until = 0.0
        self._wait_reason = ""

    def track(self, name: str, size: int, done: int) -> None:
        with self._lock:
            self._files[name] = _FileProgress(size, done, reported=done, last_done=done)

    def add_bytes(self, name: str, n: int) -> None:
        with self._lock:
            self._files[name].done += n
            self.fetched += n

    def item(self, name: str, state: str, **extra: Any) -> None:
        with self._lock:
            entry = self._files.get(name)
            if state in ("fetching", "queued") and extra.get("bytes_done") == 0 and entry is not None:
                entry.done = 0
            if state == "done":
                self._files_done += 1
            size = entry.size if entry else extra.pop("bytes_total", 0)
        self.events.emit("item", file=name, state=state, bytes_total=size, **extra)
        if state in ("done", "failed", "resumed") and not self.interactive:
            detail = f" ({human_size(extra.get('bytes_done', 0))} already here)" if state == "resumed" else ""
            self.say(f"{state:>8}  {name}{detail}")

    def wait(self, seconds: float, reason: str) -> None:
        """The run is held for `seconds` (a rate limit): the line counts the wait down."""
        with self._lock:
            self._wait_until = max(self._wait_until, time.monotonic() + seconds)
            self._wait_reason = reason

    def reset_file(self, name: str) -> None:
        with self._lock:
            self._files[name].done = 0

    def say(self, message: str) -> None:
        """A whole line of text, drawn above the progress line."""
        with self._lock:
            self._clear_line()
            print(message, file=self.stream, flush=True)

    # ---- the ticker -------------------------------------------------------------------------------

    def start(self) -> None:
        self._ticker = threading.Thread(target=self._run, name="arcforge-progress", daemon=True)
        self._ticker.start()

    def finish(self) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(2)
        self.tick()
        with self._lock:
            self._clear_line()

    def _run(self) -> None:
        while not self._stop.wait(TICK_SECONDS):
            self.tick()

    def tick(self) -> None:
        now = time.monotonic()
        with self._lock:
            elapsed = max(now - self._last_tick, 1e-6)
            self._last_tick = now
            self._speed = 0.7 * self._speed + 0.3 * (self.fetched - self._last_fetched) / elapsed
            self._last_fetched = self.fetched
            total = sum(f.size for f in self._files.values())
            total_done = sum(min(f.done, f.size) for f in self._files.values())
            changed = []
            for name, entry in self._files.items():
                entry.speed = 0.7 * entry.speed + 0.3 * max(entry.done - entry.last_done, 0) / elapsed
                entry.last_done = entry.done
                if entry.done != entry.reported:
                    entry.reported = entry.done
                    changed.append((name, min(entry.done, entry.size), entry.size, int(entry.speed)))
            line = self._line(total_done, total)
        for name, done, size, speed in changed:
            # `state` only while bytes flow: the file's later states come as `item` events.
            extra = {"state": "fetching"} if done < size else {}
            self.events.emit(
                "progress",
                file=name,
                bytes_done=done,
                bytes_total=size,
                speed_bps=speed,
                total_bytes_done=total_done,
                total_bytes=total,
                **extra,
            )
        if self.interactive:
            with self._lock:
                self.stream.write("\r" + line + "\x1b[K")
                self.stream.flush()
                self._line_drawn = True

    def _line(self, done: int, total: int) -> str:
        percent = 100.0 * done / total if total else 100.0
        eta = (total - done) / self._speed if self._speed > 1 else 0
        line = (
            f"{human_size(done)} / {human_size(total)}  {percent:5.1f}%  {human_size(self._speed)}/s"
            f"  eta {human_duration(eta)}  files {self._files_done}/{len(self._files)}"
        )
        waiting = self._wait_until - time.monotonic()
        if waiting > 0:
            line += f"  waiting {waiting:.0f} s: {self._wait_reason}"
        return line

    def _clear_line(self) -> None:
        if self._line_drawn:
            self.stream.write("\r\x1b[K")
            self._line_drawn = False
