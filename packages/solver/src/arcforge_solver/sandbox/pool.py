"""A pool of long-lived worker processes that run untrusted ARC programs with limits.

    with SandboxPool(workers=2, timeout_s=2.0, memory_mb=1024) as pool:
        run = pool.run_program("def solve(grid):\\n    return grid[::-1]", [grid_a, grid_b])
        run.outputs   # (Grid | None, ...) one per input grid
        run.errors    # (ProgramError | None, ...) with .kind in syntax/timeout/memory/runtime/invalid_output

A program is Python source defining `def solve(grid)`; it gets numpy as `np` and every name of
`arcforge_solver.dsl`. How a worker confines a program is described in `sandbox.worker`. Here, the
parent side: workers are started once and reused (that is what makes the pool fast); a call that
overruns its timeout plus a grace period gets its worker's process group killed, reaped and replaced,
and the pool goes on. `run_program` is thread-safe: each call takes an idle worker.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import queue
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from arcforge_solver.runtime.workers import GRACE_S, close_and_wait, kill_group
from arcforge_solver.sandbox.worker import FRAME_HEADER
from arcforge_solver.tasks.model import Grid

ERROR_KINDS = frozenset({"syntax", "timeout", "memory", "runtime", "invalid_output"})
MAX_RESPONSE_BYTES = 4 * 1024 * 1024
"""Bounded result size: a worker that sends more is treated as broken."""
START_TIMEOUT_S = 60.0


class SandboxError(RuntimeError):
    """The pool itself failed (a worker cannot start at all), not a program."""


@dataclass(frozen=True)
class ProgramError:
    kind: str
    """syntax, timeout, memory, runtime or invalid_output."""
    message: str


@dataclass(frozen=True)
class ProgramRun:
    outputs: tuple[Grid | None, ...]
    errors: tuple[ProgramError | None, ...]
    seconds: float = 0.0
    stdout: str = ""
    """What the program printed (the start of it, at most 4 KiB)."""
    worker_replaced: bool = False

    @property
    def error(self) -> ProgramError | None:
        """The first error, or None when every grid gave a valid output."""
        return next((e for e in self.errors if e is not None), None)

    @property
    def ok(self) -> bool:
        return self.error is None


def _all_failed(
    count: int, kind: str, message: str, seconds: float = 0.0, replaced: bool = False
) -> ProgramRun:
    error = ProgramError(kind, message)
    return ProgramRun((None,) * count, (error,) * count, seconds, "", replaced)


def _package_root() -> str:
    """The folder that holds `arcforge_solver/` (so the worker imports this very copy)."""
    return str(Path(__file__).resolve().parents[2])


class _Worker:
    """One worker process and its pipes, scratch folder and CPU account."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.scratch = tempfile.mkdtemp(prefix="arcforge-sandbox-")
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (_package_root(), env.get("PYTHONPATH", "")) if p)
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
            env[name] = "1"  # one thread: keeps the address space small and the CPU accounting honest
        worker_config = json.dumps({**config, "scratch": self.scratch})
        self.process = subprocess.Popen(
            [sys.executable, "-m", "arcforge_solver.sandbox.worker", worker_config],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd=self.scratch,
            env=env,
            start_new_session=True,  # its own process group: killing it kills anything it started
            close_fds=True,
        )
        assert self.process.stdin is not None and self.process.stdout is not None
        self.to_worker = self.process.stdin.fileno()
        self.from_worker = self.process.stdout.fileno()
        self.ready = False
        self.eof = False
        self.cpu_s = 0.0
        self.own_threads = 0

    def _read_exact(self, size: int, deadline: float) -> bytes | None:
        chunks: list[bytes] = []
        while size:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            readable, _, _ = select.select([self.from_worker], [], [], remaining)
            if not readable:
                return None
            chunk = os.read(self.from_worker, min(size, 1 << 20))
            if not chunk:
                self.eof = True
                return None
            chunks.append(chunk)
            size -= len(chunk)
        return b"".join(chunks)

    def read_frame(self, deadline: float) -> dict[str, Any] | None:
        header = self._read_exact(FRAME_HEADER.size, deadline)
        if header is None:
            return None
        (size,) = FRAME_HEADER.unpack(header)
        if size > MAX_RESPONSE_BYTES:
            return None
        body = self._read_exact(size, deadline)
        if body is None:
            return None
        try:
            value = json.loads(body)
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    def wait_ready(self) -> None:
        if self.ready:
            return
        hello = self.read_frame(time.monotonic() + START_TIMEOUT_S)
        if not hello or not hello.get("ready"):
            code = self.process.poll()
            self.kill()
            raise SandboxError(f"a sandbox worker did not start (exit code {code})")
        self.ready = True
        self.own_threads = int(hello.get("threads", 0) or 0)

    def send(self, request: dict[str, Any]) -> None:
        body = json.dumps(request, separators=(",", ":")).encode()
        data = memoryview(FRAME_HEADER.pack(len(body)) + body)
        while data:
            written = os.write(self.to_worker, data)
            data = data[written:]

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """Kill the worker and anything it started, reap it (no zombies) and drop its scratch folder."""
        kill_group(self.process)
        for stream in (self.process.stdin, self.process.stdout):
            with contextlib.suppress(OSError):
                if stream is not None:
                    stream.close()
        shutil.rmtree(self.scratch, ignore_errors=True)

    def stop(self) -> None:
        """Ask politely (EOF on its input), then kill."""
        close_and_wait(self.process)
        self.kill()


def _kill_all(workers: list[_Worker]) -> None:
    for worker in workers:
        worker.kill()


class SandboxPool:
    """Long-lived sandbox workers; see the module doc. Use as a context manager or call close()."""

    def __init__(
        self,
        workers: int | None = None,
        *,
        timeout_s: float = 2.0,
        memory_mb: int = 1024,
        output_limit_chars: int = 1 << 20,
        file_limit_bytes: int = 16 << 20,
        cpu_lifetime_s: int = 600,
        lazy: bool = False,
    ) -> None:
        """workers: processes (default: CPU count); timeout_s: default wall and CPU limit of a call;
        memory_mb: address space a program may add on top of the worker's own; output_limit_chars:
        the most a program may print; file_limit_bytes: the largest file it may write in its scratch
        folder; cpu_lifetime_s: CPU seconds after which a worker is recycled; lazy: start workers on
        first use instead of now."""
        self.size = max(1, workers or os.cpu_count() or 1)
        self.timeout_s = timeout_s
        self.memory_mb = memory_mb
        self.cpu_lifetime_s = cpu_lifetime_s
        self._config = {
            "memory_mb": memory_mb,
            "output_limit": output_limit_chars,
            "file_limit_bytes": file_limit_bytes,
            "cpu_lifetime_s": cpu_lifetime_s,
        }
        self._idle: queue.LifoQueue[_Worker | None] = queue.LifoQueue()
        self._all: list[_Worker] = []
        self._lock = threading.Lock()
        self._ids = itertools.count()
        self._closed = False
        self.calls = 0
        self.replacements = 0
        self._finalizer = weakref.finalize(self, _kill_all, self._all)  # no orphans if close() is forgotten
        for _ in range(self.size):
            self._idle.put(None if lazy else self._start())

    def _start(self) -> _Worker:
        worker = _Worker(self._config)
        with self._lock:
            self._all.append(worker)
        return worker

    def _retire(self, worker: _Worker) -> None:
        worker.kill()
        with self._lock:
            if worker in self._all:
                self._all.remove(worker)

    def __enter__(self) -> SandboxPool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._closed = True
        with self._lock:
            workers = list(self._all)
            self._all.clear()
        for worker in workers:
            worker.stop()

    @property
    def pids(self) -> list[int]:
        with self._lock:
            return [w.process.pid for w in self._all]

    def run_program(self, source: str, grids: Sequence[Grid], timeout_s: float | None = None) -> ProgramRun:
        """Run `solve` from `source` on each grid, in one worker, within `timeout_s` (whole call)."""
        if self._closed:
            raise SandboxError("the sandbox pool is closed")
        timeout = self.timeout_s if timeout_s is None else timeout_s
        count = len(grids)
        if count == 0:
            return ProgramRun((), ())
        payload = {
            "id": next(self._ids),
            "source": source,
            "grids": [np.asarray(g).tolist() for g in grids],
            "timeout": max(0.01, timeout),
        }
        worker = self._idle.get()
        replaced = False
        started = time.monotonic()
        try:
            if worker is None or not worker.alive():
                if worker is not None:
                    self._retire(worker)
                worker = self._start()
            worker.wait_ready()
            started = time.monotonic()
            try:
                worker.send(payload)
                response = worker.read_frame(started + timeout + GRACE_S)
            except OSError:
                response = None
            seconds = time.monotonic() - started
            self.calls += 1
            if response is None or response.get("id") != payload["id"]:
                replaced = True
                died = worker.eof or not worker.alive()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    worker.process.wait(timeout=1.0 if died else 0)
                code = worker.process.returncode
                self._retire(worker)
                worker = None
                self.replacements += 1
                if died:
                    return _all_failed(
                        count, "runtime", f"the program crashed its worker (exit code {code})", seconds, True
                    )
                return _all_failed(
                    count, "timeout", f"timed out after {timeout:g} s; worker killed", seconds, True
                )
            worker.cpu_s = float(response.get("cpu_s", 0.0))
            threads = int(response.get("threads", 0) or 0)
            # Recycle before RLIMIT_CPU would kill it mid-call, or when a program left a thread running.
            if worker.cpu_s > 0.8 * self.cpu_lifetime_s or (
                worker.own_threads and threads > worker.own_threads
            ):
                self._retire(worker)
                worker = None
            return self._decode(response, count, seconds, replaced)
        finally:
            self._idle.put(worker)

    @staticmethod
    def _decode(response: dict[str, Any], count: int, seconds: float, replaced: bool) -> ProgramRun:
        results = response.get("results")
        if not isinstance(results, list) or len(results) != count:
            return _all_failed(count, "runtime", "the worker sent a malformed answer", seconds, replaced)
        outputs: list[Grid | None] = []
        errors: list[ProgramError | None] = []
        for result in results:
            error = result.get("error") if isinstance(result, dict) else None
            output = result.get("output") if isinstance(result, dict) else None
            if error is None and output is not None:
                try:
                    grid = np.asarray(output, dtype=np.int8)
                except (ValueError, TypeError, OverflowError):
                    grid = None
                if (
                    grid is not None
                    and grid.ndim == 2
                    and 1 <= grid.shape[0] <= 30
                    and 1 <= grid.shape[1] <= 30
                ):
                    outputs.append(grid)
                    errors.append(None)
                    continue
                error = {"kind": "invalid_output", "message": "the worker sent a malformed grid"}
            kind = str(error.get("kind")) if isinstance(error, dict) else "runtime"
            message = str(error.get("message", "")) if isinstance(error, dict) else "no output"
            outputs.append(None)
            errors.append(ProgramError(kind if kind in ERROR_KINDS else "runtime", message[:600]))
        stdout = response.get("stdout", "")
        return ProgramRun(
            tuple(outputs), tuple(errors), seconds, stdout if isinstance(stdout, str) else "", replaced
        )
