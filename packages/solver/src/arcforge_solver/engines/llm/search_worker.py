"""The model-free DSL search in a CPU worker process, so that it runs while the GPU generates.

`SearchWorker` keeps one spawned process (it never imports torch) that builds the search engine once
and solves the tasks it is sent. The hybrid engine submits a task, keeps generating, and polls between
generations; a search that overruns its deadline by more than a grace period is killed and the worker
replaced, so the hybrid engine always returns on time.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from arcforge_solver.engines.protocol import Deadline, EngineContext, EngineResult
from arcforge_solver.runtime.workers import (
    GRACE_S,
    Child,
    exit_with_parent,
    ignore_interrupts,
    kill_child,
    spawn_child,
    stop_children,
)
from arcforge_solver.tasks.model import Task


def search_worker_main(conn: Connection, parent_pid: int, options: dict[str, Any]) -> None:
    """The worker: build the search engine, then answer (task, seconds, seed) with an EngineResult."""
    ignore_interrupts()
    exit_with_parent(parent_pid)
    try:
        from arcforge_solver.engines.search.search_engine import SearchEngine  # noqa: PLC0415  (only in the worker)

        engine = SearchEngine(**options)
    except Exception as exc:
        conn.send(("fatal", f"{type(exc).__name__}: {exc}"))
        return
    while True:
        try:
            message = conn.recv()
        except EOFError:
            return
        if message is None:
            return
        task, seconds, seed = message
        try:
            result = engine.solve(task, Deadline(seconds), EngineContext(seed=seed))
            conn.send(("result", result))
        except Exception as exc:
            conn.send(("error", f"{type(exc).__name__}: {exc}"))


@dataclass
class SearchJob:
    task_id: str
    seconds: float
    started: float
    result: EngineResult | None = None
    error: str | None = None
    finished: bool = False

    def overdue(self) -> bool:
        return time.monotonic() > self.started + self.seconds + GRACE_S


class SearchWorker:
    """One long-lived search process; one job at a time."""

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        self.options = dict(options or {})
        self._child: Child | None = None
        self.job: SearchJob | None = None
        self.broken: str | None = None

    def submit(self, task: Task, seconds: float, seed: int) -> SearchJob:
        if self._child is None or not self._child.process.is_alive():
            self._child = spawn_child(search_worker_main, (os.getpid(), self.options), "arcforge-search")
        self.job = SearchJob(task.task_id, seconds, time.monotonic())
        try:
            self._child.conn.send((task, seconds, seed))
        except OSError as exc:
            self._finish(error=f"search worker unreachable: {exc}")
        return self.job

    def poll(self, timeout: float = 0.0) -> SearchJob | None:
        """The current job, with its result once it has one; waits up to `timeout` seconds."""
        job = self.job
        if job is None or job.finished:
            return job
        assert self._child is not None
        child = self._child
        try:
            if child.conn.poll(max(0.0, timeout)):
                message = child.conn.recv()
                if message[0] == "result":
                    self._finish(result=message[1])
                elif message[0] == "fatal":
                    self.broken = message[1]
                    self._finish(error=f"search engine cannot start: {message[1]}")
                else:
                    self._finish(error=f"search failed: {message[1]}")
        except (EOFError, OSError):
            self._finish(error=f"search worker died (exit code {child.process.exitcode})")
            self._kill()
        if not job.finished and job.overdue():
            self._finish(error="search overran its deadline; worker replaced")
            self._kill()
        return job

    def wait(self, until: float) -> SearchJob | None:
        """Poll until the job finishes or monotonic time `until` (plus the grace period) passes."""
        while self.job is not None and not self.job.finished:
            left = until - time.monotonic()
            self.poll(timeout=max(0.0, min(0.25, left + GRACE_S)))
            if left + GRACE_S <= 0 and not self.job.finished:
                self._finish(error="search overran its deadline; worker replaced")
                self._kill()
        return self.job

    def _finish(self, *, result: EngineResult | None = None, error: str | None = None) -> None:
        if self.job is not None:
            self.job.result, self.job.error, self.job.finished = result, error, True

    def _kill(self) -> None:
        if self._child is not None:
            kill_child(self._child)
        self._child = None

    def close(self) -> None:
        if self._child is not None:
            stop_children([self._child])
        self._child = None
