"""The transfer engine: ranged, parallel, resumable HTTP downloads into journaled partial files.

Each file is fetched into `<name>.part` (its final size from the start) next to `<name>.journal`, an
append-only log of byte spans already written. Workers take spans off one shared queue, so N
connections spread over the ranges of the big files. A worker appends a span to the journal every
`checkpoint` bytes, so a process killed at any moment loses at most that much per live connection;
a rerun fetches only what the journal lacks.

Redirects (to a CDN) are followed by hand: the Authorization header goes to the hub's host only.
Connections go through the proxy the environment names, with huggingface_hub's CA trust (network.py).
5xx answers and dropped or stalled connections are retried with exponential backoff, honouring
Retry-After. A 429 is a wait, not a failure: every worker holds its next hub request until the
`RateLimit` reset (plus 1 s) has passed. A connection far slower than the others for a while is
replaced by a new one (a new CDN edge), and workers are added while that raises the throughput.
`stop()` cuts every live connection, so Ctrl-C ends the run within a moment.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import random
import re
import socket
import statistics
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Literal
from urllib.parse import urljoin, urlsplit

from arcforge_downloader.network import Proxy, ProxyConfigError, proxy_for, tls_context

DEFAULT_RANGE_SIZE = 64 << 20
DEFAULT_STALL_TIMEOUT = 30.0
DEFAULT_MAX_RETRIES = 8
DEFAULT_SLOW_AFTER = 10.0
MIN_AUTO_RANGE = 4 << 20  # below this, more requests cost more than the parallelism gains
MAX_RATE_LIMIT_WAITS = 50  # 429 waits in a row without a byte: past this the run gives up on the file
SLOW_RATIO = 0.4  # "far below": under 40 % of the median speed of the other connections
_READ_SIZE = 256 << 10
_JOURNAL_VERSION = 1
# The Hub's 429 answers carry `RateLimit: "resolvers";r=0;t=42` (IETF ratelimit-headers draft):
# r requests left, t seconds to the reset. huggingface_hub >= 1.2 waits t + 1 s when r is 0
# (huggingface_hub utils/_http.py, parse_ratelimit_headers and _http_backoff_base).
_RATELIMIT = re.compile(r'"(?P<resource>[\w-]+)"\s*;\s*r\s*=\s*(?P<r>\d+)\s*;\s*t\s*=\s*(?P<t>\d+)')


class TransferError(Exception):
    """A file could not be fetched; `code` is the event code (`network`, `unauthorized`, ...)."""

    def __init__(self, message: str, code: str = "network") -> None:
        super().__init__(message)
        self.code = code


class _RetryableError(Exception):
    def __init__(self, reason: str, delay: float | None = None) -> None:
        super().__init__(reason)
        self.delay = delay


class _RateLimitedError(Exception):
    """HTTP 429: wait `delay` seconds; `resource` is the limit's name (`resolvers`, `api`) when given."""

    def __init__(self, delay: float, resource: str | None) -> None:
        super().__init__(f"rate-limited (HTTP 429{f', {resource!r} limit' if resource else ''})")
        self.delay = delay
        self.resource = resource


class _SlowConnectionError(Exception):
    """This connection stayed far below the others: drop it and carry on over a new one."""

    def __init__(self, speed: float, others: float) -> None:
        super().__init__(f"{speed / 1e6:.1f} MB/s against {others / 1e6:.1f} MB/s on the other connections")
        self.speed = speed
        self.others = others


NoticeKind = Literal["retry", "rate_limit", "reconnect", "workers"]


@dataclass(frozen=True)
class Notice:
    """Something the engine did that a person should see: a retry, a rate-limit wait, a reconnect to
    a new edge, a change of the worker count. `wait_s` is the wait before it goes on, if any."""

    kind: NoticeKind
    message: str
    file: str | None = None
    wait_s: float | None = None
    rate_limit: str | None = None
    workers: int | None = None


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
    max_workers: int | None = None  # grow up to this while throughput rises (None: 2 × workers)
    range_size: int = DEFAULT_RANGE_SIZE
    stall_timeout: float = DEFAULT_STALL_TIMEOUT
    max_retries: int = DEFAULT_MAX_RETRIES
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    slow_after: float = DEFAULT_SLOW_AFTER  # seconds far below the others before a reconnect; 0: never
    growth_interval: float = 3.0  # seconds between looks at the throughput when growing workers
    token: str | None = None
    user_agent: str = "arcforge-downloader"

    @property
    def worker_limit(self) -> int:
        return max(self.workers, self.max_workers if self.max_workers is not None else 2 * self.workers)

    @property
    def checkpoint(self) -> int:
        return max(128 << 10, min(4 << 20, self.range_size // 64))


class _Meter:
    """Bytes read on one connection, for its speed over the last `window` seconds."""

    def __init__(self, window: float) -> None:
        self.window = window
        self.opened = time.monotonic()
        self.total = 0
        self._samples: deque[tuple[float, int]] = deque([(self.opened, 0)])

    def add(self, n: int) -> None:
        now = time.monotonic()
        self.total += n
        self._samples.append((now, self.total))
        while len(self._samples) > 2 and self._samples[1][0] <= now - self.window:
            self._samples.popleft()

    def speed(self) -> float | None:
        """Bytes per second over the window, or None before the connection has a full window."""
        now = time.monotonic()
        if now - self.opened < self.window:
            return None
        start_time, start_total = self._samples[0]
        # Time since the last block counts too: a connection that has gone quiet is slow.
        return (self.total - start_total) / max(now - start_time, 1e-6)


@dataclass(eq=False)  # hashed by identity: kept in a set of live links
class _Link:
    """One keep-alive connection of a worker: straight to the host, or through a proxy."""

    http: http.client.HTTPConnection
    proxy: Proxy | None
    meter: _Meter

    @property
    def absolute_form(self) -> bool:
        """Plain-http requests through a proxy name the whole URL (RFC 9112 §3.2.2); https tunnels do not."""
        return self.proxy is not None and not isinstance(self.http, http.client.HTTPSConnection)


class TransferEngine:
    """Fetches FileJobs with `workers` parallel connections, growing to `worker_limit` while that helps.

    Callbacks run on worker threads: `on_bytes(name, n)` for every block written, `on_state(name, state,
    bytes_done)` for `resumed`/`fetching`, `on_complete(job)` once a file's bytes are all on disk (the
    caller verifies and moves it, or calls `refetch(job)`), `on_failed(job, error)`, and
    `on_notice(notice)` for retries, rate-limit waits, reconnects and worker changes.
    """

    def __init__(
        self,
        settings: EngineSettings,
        *,
        on_bytes: Callable[[str, int], None],
        on_state: Callable[[str, str, int], None],
        on_complete: Callable[[FileJob], None],
        on_failed: Callable[[FileJob, TransferError], None],
        on_notice: Callable[[Notice], None] | None = None,
    ) -> None:
        self.settings = settings
        self._on_bytes = on_bytes
        self._on_state = on_state
        self._on_complete = on_complete
        self._on_failed = on_failed
        self._on_notice = on_notice
        self._queue: deque[tuple[_FileState, int, int]] = deque()
        self._cond = threading.Condition()
        self._files: dict[str, _FileState] = {}
        self._open_files = 0
        self._stop = threading.Event()
        self._links: set[_Link] = set()
        self._conn_lock = threading.Lock()
        self._local = threading.local()
        self._workers_alive = False
        self._tls = tls_context()
        self._hub_pause_until = 0.0  # monotonic time before which no request goes to the hub (429)
        self._bytes_read = 0  # over all connections, for the worker-growth decision
        self.reconnects = 0
        self.workers = 0

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
        two 500 MB shards still uses all connections, the ones growth may add included."""
        spread = -(-size // max(1, self.settings.worker_limit))
        return min(self.settings.range_size, max(MIN_AUTO_RANGE, spread))

    # ---- running ----------------------------------------------------------------------------------

    def run(self) -> None:
        """Work until every added file is complete or failed, or `stop()` is called."""
        threads: list[threading.Thread] = []
        for _ in range(max(1, self.settings.workers)):
            threads.append(self._start_worker())
        growth = _Growth(self.settings, time.monotonic(), self._bytes_read)
        try:
            while any(thread.is_alive() for thread in threads):
                for thread in threads:
                    thread.join(0.2)  # short joins keep the main thread responsive to Ctrl-C
                    if thread.is_alive():
                        break
                if self._should_grow(growth):
                    threads.append(self._start_worker())
                    self._notice(
                        Notice(
                            "workers",
                            f"throughput still rising ({growth.last_speed / 1e6:.1f} MB/s): "
                            f"{self.workers} connections now",
                            workers=self.workers,
                        )
                    )
        except KeyboardInterrupt:
            self.stop()
            # Workers journal what they wrote on their way out; file descriptors stay open until
            # they are gone, or a recycled descriptor could take a late write.
            deadline = time.monotonic() + 10
            for thread in threads:
                thread.join(max(0.0, deadline - time.monotonic()))
            self._workers_alive = any(thread.is_alive() for thread in threads)
            raise

    def _start_worker(self) -> threading.Thread:
        self.workers += 1
        thread = threading.Thread(target=self._worker, name=f"arcforge-fetch-{self.workers}", daemon=True)
        thread.start()
        return thread

    def _should_grow(self, growth: _Growth) -> bool:
        """One more connection, while the last one raised the throughput and spans are waiting."""
        now = time.monotonic()
        if self.workers >= self.settings.worker_limit or not growth.due(now):
            return False
        with self._cond:
            waiting = len(self._queue)
            paused = self._hub_pause_until > now
        return growth.step(now, self._bytes_read, waiting > 0 and not paused and not self._stop.is_set())

    def stop(self) -> None:
        """Cut every connection and make workers return; journals keep what was written."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        with self._conn_lock:
            for link in list(self._links):
                _shutdown(link.http)

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
                except Exception as exc:  # a bug: fail the file loudly rather than end as "interrupted"
                    self._fail(
                        state, TransferError(f"{state.job.name}: {type(exc).__name__}: {exc}", "internal")
                    )
                    continue
                if self._stop.is_set():
                    return
                with self._cond:
                    state.spans_left -= 1
                    last = state.spans_left == 0 and not state.failed
                if last:
                    self._complete(state)
        finally:
            for link in list(getattr(self._local, "pool", {}).values()):
                self._forget(link)

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

    def _notice(self, notice: Notice) -> None:
        if self._on_notice is not None and not self._stop.is_set():
            self._on_notice(notice)

    def _fetch_span(self, state: _FileState, start: int, end: int) -> None:
        position, failures, waits = start, 0, 0
        name = state.job.name
        if not state.started:
            state.started = True
            self._on_state(name, "fetching", state.bytes_done)
        while position < end and not self._stop.is_set() and not state.failed:
            before = position
            try:
                position = self._fetch_once(state, position, end)
                if position < end:
                    raise _RetryableError("connection closed early")
            except _RateLimitedError as limited:
                # Not a failure: the Hub said when to come back. Only a run of them without a byte
                # in between ends the file (a limit that never resets).
                waits = 0 if position > before else waits + 1
                if waits > MAX_RATE_LIMIT_WAITS:
                    raise TransferError(
                        f"{name}: still rate-limited after {MAX_RATE_LIMIT_WAITS} waits", "rate_limited"
                    ) from None
                self._pause_hub(name, limited)
            except _SlowConnectionError as slow:
                self.reconnects += 1
                failures = 0
                self._notice(Notice("reconnect", f"{name}: connection at {slow}: reconnecting", name))
            except _RetryableError as retry:
                failures = 1 if position > before else failures + 1
                if failures > self.settings.max_retries:
                    raise TransferError(
                        f"{name}: giving up after {self.settings.max_retries} retries: {retry}"
                    ) from None
                delay = retry.delay
                if delay is None:
                    delay = min(self.settings.backoff_max, self.settings.backoff_base * 2 ** (failures - 1))
                    delay *= 0.5 + random.random()  # jitter: N workers must not retry in lockstep
                self._notice(Notice("retry", f"{name}: {retry}; retrying in {delay:.1f} s", name, delay))
                self._stop.wait(delay)

    def _pause_hub(self, name: str, limited: _RateLimitedError) -> None:
        """Hold every worker's next hub request until the limit resets; say so once per pause."""
        until = time.monotonic() + limited.delay
        with self._cond:
            extends = until > self._hub_pause_until + 0.5
            self._hub_pause_until = max(self._hub_pause_until, until)
        if extends:
            what = f"the Hub's {limited.resource!r} limit" if limited.resource else "the Hub"
            self._notice(
                Notice(
                    "rate_limit",
                    f"{name}: rate-limited by {what} (HTTP 429): every connection waits "
                    f"{limited.delay:.1f} s; waits do not count as retries",
                    name,
                    limited.delay,
                    limited.resource,
                )
            )

    def _wait_for_hub(self) -> None:
        while not self._stop.is_set():
            with self._cond:
                left = self._hub_pause_until - time.monotonic()
            if left <= 0:
                return
            self._stop.wait(left)

    # ---- HTTP -------------------------------------------------------------------------------------

    def _connection(self, url: str) -> _Link:
        parts = urlsplit(url)
        pool: dict[str, _Link] = self._local.__dict__.setdefault("pool", {})
        key = f"{parts.scheme}://{parts.netloc}"
        link = pool.get(key)
        if link is None:
            try:
                proxy = proxy_for(url)
            except ProxyConfigError as exc:
                raise TransferError(f"cannot use the proxy from the environment: {exc}") from None
            timeout = self.settings.stall_timeout
            conn: http.client.HTTPConnection
            netloc = proxy.netloc if proxy is not None else parts.netloc
            if parts.scheme == "https":
                conn = http.client.HTTPSConnection(netloc, timeout=timeout, context=self._tls)
                if proxy is not None:  # CONNECT host:443 through the proxy, then TLS to the host
                    conn.set_tunnel(parts.hostname or "", parts.port or 443, headers=proxy.headers)
            else:
                conn = http.client.HTTPConnection(netloc, timeout=timeout)
            link = _Link(conn, proxy, _Meter(self.settings.slow_after or 1.0))
            pool[key] = link
            with self._conn_lock:
                self._links.add(link)
        return link

    def _forget(self, link: _Link) -> None:
        pool: dict[str, _Link] = self._local.__dict__.get("pool", {})
        for key, value in list(pool.items()):
            if value is link:
                del pool[key]
        with self._conn_lock:
            self._links.discard(link)
        link.http.close()

    def _fetch_once(self, state: _FileState, position: int, end: int) -> int:
        """One GET of [position, end); returns the position reached. Raises _RetryableError,
        _RateLimitedError, _SlowConnectionError or TransferError."""
        url = state.location or state.job.url
        hub_host = urlsplit(state.job.url).netloc
        name = state.job.name
        for _hop in range(8):
            parts = urlsplit(url)
            headers = {
                "Range": f"bytes={position}-{end - 1}",
                "Accept-Encoding": "identity",
                "User-Agent": self.settings.user_agent,
            }
            if self.settings.token and parts.netloc == hub_host:
                headers["Authorization"] = f"Bearer {self.settings.token}"
            if parts.netloc == hub_host:
                self._wait_for_hub()
                if self._stop.is_set():
                    return position  # stopped during a rate-limit wait: send nothing more
            link = self._connection(url)
            target = parts.path + (f"?{parts.query}" if parts.query else "")
            if link.absolute_form:
                target = f"{parts.scheme}://{parts.netloc}{target}"
                assert link.proxy is not None
                headers.update(link.proxy.headers)
            try:
                link.http.request("GET", target, headers=headers)
                response = link.http.getresponse()
            except OSError as exc:
                self._forget(link)
                if link.proxy is not None and str(exc).startswith("Tunnel connection failed"):
                    raise TransferError(f"{name}: the proxy {link.proxy.url} refused: {exc}") from None
                raise _RetryableError(f"{type(exc).__name__}: {exc}") from None
            except http.client.HTTPException as exc:
                self._forget(link)
                raise _RetryableError(f"{type(exc).__name__}: {exc}") from None
            status = response.status
            if status in (301, 302, 303, 307, 308):
                response.read()
                location = response.getheader("Location")
                if not location:
                    raise TransferError(f"{name}: redirect without a Location")
                url = urljoin(url, location)
                state.location = url if urlsplit(url).netloc != hub_host else None
                continue
            if status in (200, 206):
                return self._read_body(state, link, response, position, end)
            body = _drain(response, link.http)
            self._forget(link)  # error bodies are not worth keeping a connection in sync for
            if status == 429:
                raise rate_limit_wait(response, self.settings.backoff_base)
            if status >= 500:
                raise _RetryableError(f"HTTP {status}", _retry_after(response.getheader("Retry-After")))
            if state.location is not None and status == 400:
                # The cas-bridge answers 400 for files it will not serve over HTTP (~50 GB and up;
                # xet-core #592, huggingface_hub #3868): only the Xet protocol gets them.
                raise TransferError(
                    f"{name}: the Hub's HTTP bridge ({parts.netloc}) refuses this {state.job.size:,}-byte "
                    "file (HTTP 400): files this large download only through Xet",
                    "xet_only",
                )
            if state.location is not None and status in (403, 404, 410):
                state.location = None  # a signed CDN link expired: ask the hub again
                raise _RetryableError(f"CDN answered HTTP {status}", 0.0)
            code = {401: "unauthorized", 403: "forbidden", 404: "not_found"}.get(status, "network")
            message = response.getheader("X-Error-Message") or body[:200].decode("utf-8", "replace")
            raise TransferError(f"{name}: HTTP {status}: {message}", code)
        raise TransferError(f"{name}: too many redirects")

    def _read_body(
        self,
        state: _FileState,
        link: _Link,
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
                self._forget(link)
                raise TransferError(f"{state.job.name}: asked for byte {position}, got {content_range!r}")
            write_at = position
        else:
            # The server ignored Range and sends the whole file: every byte of it is good data, so
            # write it from offset 0 up to the end of our span rather than discarding the head.
            write_at = 0
        checkpoint = self.settings.checkpoint
        recorded = write_at
        whole = False
        next_look = time.monotonic() + 1.0
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
                link.meter.add(n)
                self._bytes_read += n  # a lost update under a race only blurs the growth estimate
                if write_at > position:
                    fresh = write_at - max(position, write_at - n)
                    state.bytes_done += fresh
                    self._on_bytes(state.job.name, fresh)
                if write_at - recorded >= checkpoint:
                    state.journal.record(recorded, write_at)
                    recorded = write_at
                if self.settings.slow_after and time.monotonic() >= next_look:
                    next_look = time.monotonic() + 1.0
                    self._check_speed(link)
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
                self._forget(link)  # unread bytes on it: it cannot carry another request
        return write_at

    def _check_speed(self, link: _Link) -> None:
        """Raise _SlowConnectionError when this connection has been far below the others for a whole window.

        Some CDN edges cap one connection (~8.7 MB/s on some cas-bridge edges, xet-core #821) while
        others run free; a new connection may land on another edge."""
        mine = link.meter.speed()
        if mine is None:
            return
        with self._conn_lock:
            others = [
                s for other in self._links if other is not link and (s := other.meter.speed()) is not None
            ]
        if len(others) < 2:
            return  # one other connection is no yardstick
        median = statistics.median(others)
        if mine < SLOW_RATIO * median:
            raise _SlowConnectionError(mine, median)


class _Growth:
    """When to add a worker: after each `interval`, while the last addition raised the throughput."""

    def __init__(self, settings: EngineSettings, now: float, read: int) -> None:
        self.interval = settings.growth_interval
        self.last_time = now
        self.last_read = read
        self.last_speed = 0.0
        self.baseline: float | None = None  # throughput before the last added worker
        self.done = settings.worker_limit <= settings.workers

    def due(self, now: float) -> bool:
        return not self.done and now - self.last_time >= self.interval

    def step(self, now: float, read: int, useful: bool) -> bool:
        speed = (read - self.last_read) / max(now - self.last_time, 1e-6)
        self.last_time, self.last_read, self.last_speed = now, read, speed
        if not useful or speed <= 0:
            return False
        if self.baseline is not None and speed < 1.05 * self.baseline:
            self.done = True  # the last connection did not help: the link, not the edges, is the limit
            return False
        self.baseline = speed
        return True


def rate_limit_wait(response: http.client.HTTPResponse, fallback: float) -> _RateLimitedError:
    """How long a 429 says to wait: the RateLimit reset + 1 s when no request is left, else
    Retry-After + 1 s (as huggingface_hub does), else a short pause."""
    match = _RATELIMIT.search(response.getheader("RateLimit") or "")
    resource = match["resource"] if match else None
    if match and int(match["r"]) == 0:
        return _RateLimitedError(min(float(match["t"]), 3600.0) + 1.0, resource)
    retry_after = _retry_after(response.getheader("Retry-After"))
    if retry_after is not None:
        return _RateLimitedError(retry_after + 1.0, resource)
    return _RateLimitedError(max(fallback, 1.0), resource)


def _shutdown(conn: http.client.HTTPConnection) -> None:
    if conn.sock is not None:
        with contextlib.suppress(OSError):
            conn.sock.shutdown(socket.SHUT_RDWR)


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
