"""The transfer engine: ranged, parallel, resumable HTTP downloads into journaled partial files.

Each file is fetched into `<name>.part` (its final size from the start) next to `<name>.journal`, an
append-only log of byte spans already written. Workers take spans off one shared queue, so N
connections spread over the ranges of the big files. A worker appends a span to the journal every
`checkpoint` bytes, so a process killed at any moment loses at most that much per live connection;
a rerun fetches only what the journal lacks.

Redirects (to a CDN) are followed by hand: the Authorization header goes to the hub's host only.
429 and 5xx answers and dropped or stalled connections are retried with exponential backoff,
honouring Retry-After. `stop()` cuts every live connection, so Ctrl-C ends the run within a moment.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import random
import socket
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import urljoin, urlsplit

DEFAULT_RANGE_SIZE = 64 << 20
DEFAULT_STALL_TIMEOUT = 30.0
DEFAULT_MAX_RETRIES = 8
MIN_AUTO_RANGE = 4 << 20  # below this, more requests cost more than the parallelism gains
_READ_SIZE = 256 << 10
_JOURNAL_VERSION = 1


class TransferError(Exception):
    """A file could not be fetched; `code` is the event code (`network`, `unauthorized`, ...)."""

    def __init__(self, message: str, code: str = "network") -> None:
        super().__init__(message)
        self.code = code


class _RetryableError(Exception):
    def __init__(self, reason: str, delay: float | None = None) -> None:
        super().__init__(reason)
        self.delay = delay


@dataclass
class FileJob:
    """One file to fetch. `identity` ties a partial file to what it is a part of (commit, path, digest)."""

    name: str  # shown in events and messages, e.g. model/model-00001-of-00004.safetensors
    url: str
    size: int
    part_path: Path
    identity: str

    @property
    def journal_path(self) -> Path:
        return self.part_path.with_name(self.part_path.name + ".journal")


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        elif end > start:
            merged.append((start, end))
    return merged


def missing_spans(size: int, done: list[tuple[int, int]], range_size: int) -> list[tuple[int, int]]:
    """The spans of [0, size) not in `done`, cut at multiples of `range_size`."""
    gaps: list[tuple[int, int]] = []
    position = 0
    for start, end in [*_merge(done), (size, size)]:
        if start > position:
            gaps.append((position, min(start, size)))
        position = max(position, end)
    pieces: list[tuple[int, int]] = []
    for gap_start, gap_end in gaps:
        start = gap_start
        while start < gap_end:
            cut = min(gap_end, (start // range_size + 1) * range_size)
            pieces.append((start, cut))
            start = cut
    return pieces


class Journal:
    """The log of finished spans of one partial file. One `os.write` per line, like the events."""

    def __init__(self, job: FileJob) -> None:
        self.job = job
        self.done: list[tuple[int, int]] = []
        self._fd: int | None = None
        self._lock = threading.Lock()

    def _header(self) -> dict[str, object]:
        return {"v": _JOURNAL_VERSION, "identity": self.job.identity, "size": self.job.size}

    def load(self, discard_foreign: bool = True) -> int:
        """Read what an earlier run left; returns bytes done. A journal or partial file that belongs
        to another file (other commit, size or digest) counts as nothing and is deleted unless
        `discard_foreign` is false."""
        path, part = self.job.journal_path, self.job.part_path
        self.done = []
        try:
            lines = path.read_bytes().split(b"\n")
            header = json.loads(lines[0])
            if header != self._header() or part.stat().st_size != self.job.size:
                raise ValueError("journal of another file")
            for line in lines[1:-1]:  # the last piece is "" or a torn line
                start, end = (int(x) for x in line.split())
                if 0 <= start < end <= self.job.size:
                    self.done.append((start, end))
        except (OSError, ValueError, IndexError):
            self.done = []
            if discard_foreign:
                self.reset()
            return 0
        self.done = _merge(self.done)
        return sum(end - start for start, end in self.done)

    def reset(self) -> None:
        self.close()
        for path in (self.job.journal_path, self.job.part_path):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        self.done = []

    def open(self) -> None:
        self.job.part_path.parent.mkdir(parents=True, exist_ok=True)
        fresh = not self.job.journal_path.exists()
        if fresh:
            with self.job.part_path.open("wb") as handle:
                handle.truncate(self.job.size)  # sparse: the disk check already counted these bytes
        self._fd = os.open(self.job.journal_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        if fresh:
            os.write(self._fd, (json.dumps(self._header(), sort_keys=False) + "\n").encode())

    def record(self, start: int, end: int) -> None:
        if end <= start:
            return
        with self._lock:
            if self._fd is not None:
                os.write(self._fd, f"{start} {end}\n".encode())

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def finish(self) -> None:
        """The file is complete: the journal is no longer needed."""
        self.close()
        with contextlib.suppress(FileNotFoundError):
            self.job.journal_path.unlink()


@dataclass
class _FileState:
    job: FileJob
    journal: Journal
    fd: int = -1
    spans_left: int = 0
    bytes_done: int = 0
    location: str | None = None  # where the hub last redirected this file's URL to
    started: bool = False
    failed: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass(frozen=True)
class EngineSettings:
    workers: int = 8
    range_size: int = DEFAULT_RANGE_SIZE
    stall_timeout: float = DEFAULT_STALL_TIMEOUT
    max_retries: int = DEFAULT_MAX_RETRIES
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    token: str | None = None
    user_agent: str = "arcforge-downloader"

    @property
    def checkpoint(self) -> int:
        return max(128 << 10, min(4 << 20, self.range_size // 64))


class TransferEngine:
    """Fetches FileJobs with `workers` parallel connections.

    Callbacks run on worker threads: `on_bytes(name, n)` for every block written, `on_state(name, state,
    bytes_done)` for `resumed`/`fetching`, `on_complete(job)` once a file's bytes are all on disk (the
    caller verifies and moves it, or calls `refetch(job)`), `on_failed(job, error)`, and
    `on_retry(name, reason, delay_s)` before each retry.
    """

    def __init__(
        self,
        settings: EngineSettings,
        *,
        on_bytes: Callable[[str, int], None],
        on_state: Callable[[str, str, int], None],
        on_complete: Callable[[FileJob], None],
        on_failed: Callable[[FileJob, TransferError], None],
        on_retry: Callable[[str, str, float], None] | None = None,
    ) -> None:
        self.settings = settings
        self._on_bytes = on_bytes
        self._on_state = on_state
        self._on_complete = on_complete
        self._on_failed = on_failed
        self._on_retry = on_retry
        self._queue: deque[tuple[_FileState, int, int]] = deque()
        self._cond = threading.Condition()
        self._files: dict[str, _FileState] = {}
        self._open_files = 0
        self._stop = threading.Event()
        self._connections: set[http.client.HTTPConnection] = set()
        self._conn_lock = threading.Lock()
        self._local = threading.local()
        self._workers_alive = False

    # ---- planning ---------------------------------------------------------------------------------

    @staticmethod
    def resume_state(job: FileJob) -> int:
        """Bytes of `job` already on disk from an earlier run (0 when none or when they belong elsewhere)."""
        return Journal(job).load(discard_foreign=False)

    def add(self, job: FileJob) -> None:
        journal = Journal(job)
        done = journal.load()
        journal.open()
        state = _FileState(job, journal, bytes_done=done)
        state.fd = os.open(job.part_path, os.O_WRONLY)
        spans = missing_spans(job.size, journal.done, self._range_for(job.size))
        with self._cond:
            self._files[job.name] = state
            self._open_files += 1
            state.spans_left = len(spans)
            for start, end in spans:
                self._queue.append((state, start, end))
            self._cond.notify_all()
        if done:
            self._on_state(job.name, "resumed", done)
        if not spans:
            self._complete(state)

    def refetch(self, job: FileJob) -> None:
        """Throw the file's bytes away and fetch it again (after a checksum mismatch)."""
        state = self._files[job.name]
        state.journal.reset()
        state.journal.open()
        with self._cond:
            state.bytes_done = 0
            state.started = False
            spans = missing_spans(job.size, [], self._range_for(job.size))
            state.spans_left = len(spans)
            if state.fd >= 0:
                os.close(state.fd)
            state.fd = os.open(job.part_path, os.O_WRONLY)
            self._open_files += 1
            for start, end in spans:
                self._queue.append((state, start, end))
            self._cond.notify_all()

    def _range_for(self, size: int) -> int:
        """The range size, smaller for a file too small to give every worker a range: a repo of
        two 500 MB shards still uses all connections."""
        spread = -(-size // max(1, self.settings.workers))
        return min(self.settings.range_size, max(MIN_AUTO_RANGE, spread))

    # ---- running ----------------------------------------------------------------------------------

    def run(self) -> None:
        """Work until every added file is complete or failed, or `stop()` is called."""
        threads = [
            threading.Thread(target=self._worker, name=f"arcforge-fetch-{i}", daemon=True)
            for i in range(max(1, self.settings.workers))
        ]
        for thread in threads:
            thread.start()
        try:
            for thread in threads:
                while thread.is_alive():
                    thread.join(0.2)  # short joins keep the main thread responsive to Ctrl-C
        except KeyboardInterrupt:
            self.stop()
            # Workers journal what they wrote on their way out; file descriptors stay open until
            # they are gone, or a recycled descriptor could take a late write.
            deadline = time.monotonic() + 10
            for thread in threads:
                thread.join(max(0.0, deadline - time.monotonic()))
            self._workers_alive = any(thread.is_alive() for thread in threads)
            raise

    def stop(self) -> None:
        """Cut every connection and make workers return; journals keep what was written."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        with self._conn_lock:
            for conn in list(self._connections):
                if conn.sock is not None:
                    with contextlib.suppress(OSError):
                        conn.sock.shutdown(socket.SHUT_RDWR)

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def close(self) -> None:
        if self._workers_alive:
            return  # the process is about to exit; the kernel closes them after the last write
        for state in self._files.values():
            state.journal.close()
            if state.fd >= 0:
                os.close(state.fd)
                state.fd = -1

    def _next(self) -> tuple[_FileState, int, int] | None:
        with self._cond:
            while not self._stop.is_set():
                while self._queue:
                    item = self._queue.popleft()
                    if not item[0].failed:
                        return item
                if self._open_files == 0:
                    return None
                self._cond.wait(0.5)
            return None

    def _worker(self) -> None:
        try:
            while (item := self._next()) is not None:
                state, start, end = item
                try:
                    self._fetch_span(state, start, end)
                except TransferError as error:
                    self._fail(state, error)
                    continue
                if self._stop.is_set():
                    return
                with self._cond:
                    state.spans_left -= 1
                    last = state.spans_left == 0 and not state.failed
                if last:
                    self._complete(state)
        finally:
            for conn in list(getattr(self._local, "pool", {}).values()):
                self._forget(conn)

    def _complete(self, state: _FileState) -> None:
        try:
            self._on_complete(state.job)
        finally:
            with self._cond:
                self._open_files -= 1
                self._cond.notify_all()

    def _fail(self, state: _FileState, error: TransferError) -> None:
        with self._cond:
            if state.failed:
                return
            state.failed = True
        try:
            self._on_failed(state.job, error)
        finally:
            with self._cond:
                self._open_files -= 1
                self._cond.notify_all()

    def _fetch_span(self, state: _FileState, start: int, end: int) -> None:
        position, failures = start, 0
        if not state.started:
            state.started = True
            self._on_state(state.job.name, "fetching", state.bytes_done)
        while position < end and not self._stop.is_set() and not state.failed:
            before = position
            try:
                position = self._fetch_once(state, position, end)
                if position < end:
                    raise _RetryableError("connection closed early")
            except _RetryableError as retry:
                failures = 1 if position > before else failures + 1
                if failures > self.settings.max_retries:
                    raise TransferError(
                        f"{state.job.name}: giving up after {self.settings.max_retries} retries: {retry}"
                    ) from None
                delay = retry.delay
                if delay is None:
                    delay = min(self.settings.backoff_max, self.settings.backoff_base * 2 ** (failures - 1))
                    delay *= 0.5 + random.random()  # jitter: N workers must not retry in lockstep
                if self._on_retry is not None and not self._stop.is_set():
                    self._on_retry(state.job.name, str(retry), delay)
                self._stop.wait(delay)

    # ---- HTTP -------------------------------------------------------------------------------------

    def _connection(self, url: str) -> http.client.HTTPConnection:
        parts = urlsplit(url)
        pool: dict[str, http.client.HTTPConnection] = self._local.__dict__.setdefault("pool", {})
        key = f"{parts.scheme}://{parts.netloc}"
        conn = pool.get(key)
        if conn is None:
            timeout = self.settings.stall_timeout
            if parts.scheme == "https":
                conn = http.client.HTTPSConnection(
                    parts.netloc, timeout=timeout, context=ssl.create_default_context()
                )
            else:
                conn = http.client.HTTPConnection(parts.netloc, timeout=timeout)
            pool[key] = conn
            with self._conn_lock:
                self._connections.add(conn)
        return conn

    def _forget(self, conn: http.client.HTTPConnection) -> None:
        pool: dict[str, http.client.HTTPConnection] = self._local.__dict__.get("pool", {})
        for key, value in list(pool.items()):
            if value is conn:
                del pool[key]
        with self._conn_lock:
            self._connections.discard(conn)
        conn.close()

    def _fetch_once(self, state: _FileState, position: int, end: int) -> int:
        """One GET of [position, end); returns the position reached. Raises _RetryableError or TransferError."""
        url = state.location or state.job.url
        hub_host = urlsplit(state.job.url).netloc
        for _hop in range(8):
            parts = urlsplit(url)
            headers = {
                "Range": f"bytes={position}-{end - 1}",
                "Accept-Encoding": "identity",
                "User-Agent": self.settings.user_agent,
            }
            if self.settings.token and parts.netloc == hub_host:
                headers["Authorization"] = f"Bearer {self.settings.token}"
            conn = self._connection(url)
            target = parts.path + (f"?{parts.query}" if parts.query else "")
            try:
                conn.request("GET", target, headers=headers)
                response = conn.getresponse()
            except (OSError, http.client.HTTPException) as exc:
                self._forget(conn)
                raise _RetryableError(f"{type(exc).__name__}: {exc}") from None
            status = response.status
            if status in (301, 302, 303, 307, 308):
                response.read()
                location = response.getheader("Location")
                if not location:
                    raise TransferError(f"{state.job.name}: redirect without a Location")
                url = urljoin(url, location)
                state.location = url if urlsplit(url).netloc != hub_host else None
                continue
            if status in (200, 206):
                return self._read_body(state, conn, response, position, end)
            body = _drain(response, conn)
            self._forget(conn)  # error bodies are not worth keeping a connection in sync for
            if status == 429 or status >= 500:
                raise _RetryableError(f"HTTP {status}", _retry_after(response.getheader("Retry-After")))
            if state.location is not None and status in (403, 404, 410):
                state.location = None  # a signed CDN link expired: ask the hub again
                raise _RetryableError(f"CDN answered HTTP {status}", 0.0)
            code = {401: "unauthorized", 403: "forbidden", 404: "not_found"}.get(status, "network")
            message = response.getheader("X-Error-Message") or body[:200].decode("utf-8", "replace")
            raise TransferError(f"{state.job.name}: HTTP {status}: {message}", code)
        raise TransferError(f"{state.job.name}: too many redirects")

    def _read_body(
        self,
        state: _FileState,
        conn: http.client.HTTPConnection,
        response: http.client.HTTPResponse,
        position: int,
        end: int,
    ) -> int:
        if response.status == 206:
            content_range = response.getheader("Content-Range", "")
            try:
                first = int(content_range.split()[1].split("-")[0])
            except (IndexError, ValueError):
                first = -1
            if first != position:
                self._forget(conn)
                raise TransferError(f"{state.job.name}: asked for byte {position}, got {content_range!r}")
            write_at = position
        else:
            # The server ignored Range and sends the whole file: every byte of it is good data, so
            # write it from offset 0 up to the end of our span rather than discarding the head.
            write_at = 0
        checkpoint = self.settings.checkpoint
        recorded = write_at
        whole = False
        try:
            while write_at < end:
                if self._stop.is_set() or state.failed:
                    break
                # read1: what has arrived, up to the size; readinto would wait for a full buffer,
                # leaving that much unjournaled if the process is killed.
                block = response.read1(min(_READ_SIZE, end - write_at))
                n = len(block)
                if not n:
                    raise _RetryableError("connection closed early")
                os.pwrite(state.fd, block, write_at)
                write_at += n
                if write_at > position:
                    fresh = write_at - max(position, write_at - n)
                    state.bytes_done += fresh
                    self._on_bytes(state.job.name, fresh)
                if write_at - recorded >= checkpoint:
                    state.journal.record(recorded, write_at)
                    recorded = write_at
            whole = write_at >= end and response.status == 206 and response.length == 0
            if whole:
                response.read()  # reads nothing; marks the response done so the connection is reusable
        except (OSError, http.client.HTTPException) as exc:
            if isinstance(exc, OSError) and exc.errno == 28:  # ENOSPC
                raise TransferError(f"{state.job.name}: disk full while writing", "disk_full") from None
            if isinstance(exc, TimeoutError):
                raise _RetryableError(f"stalled: no bytes for {self.settings.stall_timeout:g} s") from None
            raise _RetryableError(f"{type(exc).__name__}: {exc}") from None
        finally:
            state.journal.record(recorded, write_at)
            if not whole:
                self._forget(conn)  # unread bytes on it: it cannot carry another request
        return write_at


def _drain(response: http.client.HTTPResponse, conn: http.client.HTTPConnection) -> bytes:
    try:
        return response.read(64 << 10)
    except (OSError, http.client.HTTPException):
        conn.close()
        return b""


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date), capped at 5 minutes."""
    if not value:
        return None
    try:
        return min(max(float(value), 0.0), 300.0)
    except ValueError:
        pass
    try:
        return min(max(parsedate_to_datetime(value).timestamp() - time.time(), 0.0), 300.0)
    except (TypeError, ValueError):
        return None
