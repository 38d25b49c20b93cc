"""A pool of sandbox workers that run untrusted ARC programs, each in a fresh, confined process.

    with SandboxPool(workers=2, timeout_s=2.0, memory_mb=1024) as pool:
        run = pool.run_program("def solve(grid):\\n    return grid[::-1]", [grid_a, grid_b])
        run.outputs   # (Grid | None, ...) one per input grid
        run.errors    # (ProgramError | None, ...) with .kind in syntax/timeout/memory/runtime/invalid_output
        pool.layers   # which sandbox layers are active on this kernel (also logged once)

A program is Python source defining `def solve(grid)`; it gets numpy as `np` and every name of
`arcforge_solver.dsl`. Each worker is a zygote (`sandbox.zygote`): started once, in a scrubbed
environment and a process group of its own, it forks one confined process per program, so nothing a
program changes survives it (that, and not re-importing numpy, is what keeps the pool fast). Here,
the parent side: start workers, hand each call to an idle one, and, should a zygote itself stop
answering (it kills an overrunning program on its own), kill its process group, reap it and
replace it. `run_program` is thread-safe: each call takes an idle worker. Scratch folders live
under one owner-locked root that a later pool reaps if this one is SIGKILLed (`sandbox.scratch`).
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
import threading
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from arcforge_solver.runtime.workers import GRACE_S, close_and_wait, kill_group
from arcforge_solver.sandbox import heap
from arcforge_solver.sandbox import layers as sandbox_layers
from arcforge_solver.sandbox.scratch import ScratchRoot
from arcforge_solver.sandbox.worker import (
    ANSWER_PREFIX,
    CHILD_GRACE_S,
    FRAME_HEADER,
    HELLO_ID,
    MAX_ANSWER_BYTES,
    pack_request,
    unpack_answer,
    unpack_hello,
)
from arcforge_solver.tasks.model import Grid

ERROR_KINDS = frozenset({"syntax", "timeout", "memory", "runtime", "invalid_output"})
MAX_RESPONSE_BYTES = MAX_ANSWER_BYTES + ANSWER_PREFIX.size
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


# Run in isolated mode (-I: no PYTHON* variables, no user site, no current folder on the path).
_BOOT = "import sys; sys.path.insert(0, sys.argv[1]); from arcforge_solver.sandbox.zygote import main; main(sys.argv[2])"
_PASSED_THROUGH = ("LD_LIBRARY_PATH",)
"""The only variables of the owner's environment a worker gets (where a numpy build needs them)."""


def worker_environment(scratch: str) -> dict[str, str]:
    """A scrubbed environment: no tokens, keys, home or proxy settings reach a worker."""
    env = {name: os.environ[name] for name in _PASSED_THROUGH if name in os.environ}
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
        env[name] = "1"  # one thread: keeps the address space small and the CPU accounting honest
    env["LC_CTYPE"] = "C.UTF-8"
    env["TMPDIR"] = scratch
    env["GLIBC_TUNABLES"] = heap.TUNABLES_FOR_FILLING  # so that the zygote can pack its heap
    return env


def _grid_at(cells: np.ndarray, offset: int, shape: Any) -> tuple[Grid | None, int]:
    """The output grid at `offset` of an answer's cells, checked (a program may have forged the
    answer: sides 1-30), and where the next one starts; None when malformed."""
    try:
        rows, cols = (int(v) for v in shape)
    except (TypeError, ValueError):
        return None, offset
    if not (1 <= rows <= 30 and 1 <= cols <= 30) or offset + rows * cols > len(cells):
        return None, offset
    return cells[offset : offset + rows * cols].reshape(rows, cols), offset + rows * cols


class _Worker:
    """One zygote process, its pipes and its scratch folder."""

    def __init__(self, config: dict[str, Any], scratch: str) -> None:
        self.scratch = scratch
        worker_config = json.dumps({**config, "scratch": self.scratch})
        self.process = subprocess.Popen(
            [sys.executable, "-I", "-B", "-c", _BOOT, _package_root(), worker_config],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd=self.scratch,
            env=worker_environment(self.scratch),
            start_new_session=True,  # its own process group: killing it kills anything it started
            close_fds=True,
        )
        assert self.process.stdin is not None and self.process.stdout is not None
        self.to_worker = self.process.stdin.fileno()
        self.from_worker = self.process.stdout.fileno()
        self.ready = False
        self.eof = False
        self.layers: dict[str, str] = {}

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
        if body is None or len(body) < ANSWER_PREFIX.size:
            return None
        (call_id,) = ANSWER_PREFIX.unpack_from(body)
        content = memoryview(body)[ANSWER_PREFIX.size :]
        decoded: Any
        blob = memoryview(b"")
        try:  # an answer is written by the program's process: a program may have forged it
            if call_id == HELLO_ID:
                decoded = unpack_hello(content)
            else:
                decoded, blob = unpack_answer(content)
        except ValueError:
            decoded = None
        value: dict[str, Any] = decoded if isinstance(decoded, dict) else {"results": None}
        # ({"results": None} is "a malformed answer" to _decode: the worker goes on.)
        value["id"] = call_id
        value["grid_bytes"] = blob
        return value

    def wait_ready(self) -> None:
        if self.ready:
            return
        hello = self.read_frame(time.monotonic() + START_TIMEOUT_S)
        if not hello or hello.get("id") != HELLO_ID or not hello.get("ready"):
            code = self.process.poll()
            self.kill()
            raise SandboxError(f"a sandbox worker did not start (exit code {code})")
        self.ready = True
        layers = hello.get("layers")
        self.layers = {str(k): str(v) for k, v in layers.items()} if isinstance(layers, dict) else {}
        sandbox_layers.say_once(self.layers)

    def send(self, call_id: int, timeout: float, source: str, grids: Sequence[Grid]) -> None:
        body = pack_request(call_id, timeout, source, grids, np)
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


def _kill_all(workers: list[_Worker], scratch: ScratchRoot) -> None:
    for worker in workers:
        worker.kill()
    scratch.close()


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
        lazy: bool = False,
        kernel_layers: bool = True,
    ) -> None:
        """workers: processes (default: CPU count); timeout_s: default wall and CPU limit of a call;
        memory_mb: address space a program may add on top of the worker's own; output_limit_chars:
        the most a program may print; file_limit_bytes: the largest file it may write in its scratch
        folder; lazy: start workers on first use instead of now; kernel_layers: install seccomp and
        Landlock where the kernel has them (False leaves the user-space layers only, for diagnosis)."""
        self.size = max(1, workers or os.cpu_count() or 1)
        self.timeout_s = timeout_s
        self.memory_mb = memory_mb
        self._config = {
            "memory_mb": memory_mb,
            "output_limit": output_limit_chars,
            "file_limit_bytes": file_limit_bytes,
            "kernel_layers": kernel_layers,
        }
        self.scratch = ScratchRoot()
        self._idle: queue.LifoQueue[_Worker | None] = queue.LifoQueue()
        self._all: list[_Worker] = []
        self._lock = threading.Lock()
        self._ids = itertools.count()
        self._closed = False
        self.calls = 0
        self.replacements = 0
        self.layers: dict[str, str] = {}
        """Which sandbox layers the workers run with (set when the first worker is ready)."""
        # No orphans or scratch folders if close() is forgotten.
        self._finalizer = weakref.finalize(self, _kill_all, self._all, self.scratch)
        for _ in range(self.size):
            self._idle.put(None if lazy else self._start())

    def _start(self) -> _Worker:
        worker = _Worker(self._config, self.scratch.folder())
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
        self.scratch.close()

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
        call_id, call_timeout = next(self._ids), max(0.01, timeout)
        worker = self._idle.get()
        replaced = False
        started = time.monotonic()
        try:
            if worker is None or not worker.alive():
                if worker is not None:
                    self._retire(worker)
                worker = self._start()
            worker.wait_ready()
            self.layers = worker.layers
            started = time.monotonic()
            try:
                worker.send(call_id, call_timeout, source, grids)
                # The zygote kills an overrunning program itself; this deadline is for the zygote.
                response = worker.read_frame(started + timeout + CHILD_GRACE_S + GRACE_S)
            except OSError:
                response = None
            seconds = time.monotonic() - started
            self.calls += 1
            if response is None or response.get("id") != call_id:
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
        cells = np.frombuffer(response.get("grid_bytes", b""), dtype=np.int8).copy()
        if len(cells) and (cells.min() < 0 or cells.max() > 9):  # colours 0-9, all grids at once
            return _all_failed(
                count, "invalid_output", "the worker sent colours outside 0-9", seconds, replaced
            )
        offset = 0
        for result in results:
            error = result.get("error") if isinstance(result, dict) else None
            shape = result.get("shape") if isinstance(result, dict) else None
            if error is None and shape is not None:
                grid, offset = _grid_at(cells, offset, shape)
                if grid is not None:
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
