"""The model-free DSL search in CPU worker processes, so that it runs while the GPU generates.

`SearchWorker` keeps one spawned process (it never imports torch) that builds the search engine once
and solves the tasks it is sent. The hybrid engine submits a task, keeps generating, and polls between
generations; a search that overruns its deadline by more than a grace period is killed and the worker
replaced, so the hybrid engine always returns on time. `SearchPortfolio` runs several of them on one
task, with different seeds, on the CPU cores a GPU lane leaves free.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from arcforge_solver.engines.protocol import Deadline, EngineContext, EngineResult
from arcforge_solver.engines.ranking import merge
from arcforge_solver.runtime.defaults import PORTFOLIO_LIMIT
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


SEED_STRIDE = 7919


def portfolio_options(index: int, options: dict[str, Any]) -> dict[str, Any]:
    """Process 0 runs the search as configured; the others spend less of their time enumerating (the
    enumeration is the same in every process) and more evolving, each from its own seed."""
    if index == 0:
        return dict(options)
    return {**options, "enumerate_share": min(float(options.get("enumerate_share", 0.7)), 0.3)}


class SearchPortfolio:
    """Several search processes on one task at once, with different seeds: the CPU cores a GPU lane
    leaves free. Same interface as `SearchWorker`; its job's result ranks all their candidates
    together, and is there as soon as one process has answered (so a solution stops the model early)."""

    def __init__(self, processes: int, options: dict[str, Any] | None = None) -> None:
        count = max(1, min(PORTFOLIO_LIMIT, processes))
        self.workers = [SearchWorker(portfolio_options(i, dict(options or {}))) for i in range(count)]
        self.job: SearchJob | None = None
        self._jobs: list[SearchJob] = []

    def submit(self, task: Task, seconds: float, seed: int) -> SearchJob:
        self._jobs = [w.submit(task, seconds, seed + SEED_STRIDE * i) for i, w in enumerate(self.workers)]
        self.job = SearchJob(task.task_id, seconds, time.monotonic())
        return self.job

    def poll(self, timeout: float = 0.0) -> SearchJob | None:
        for index, worker in enumerate(self.workers):
            worker.poll(timeout if index == 0 else 0.0)
        return self._combine()

    def wait(self, until: float) -> SearchJob | None:
        for worker in self.workers:
            worker.wait(until)
        return self._combine()

    def _combine(self) -> SearchJob | None:
        job = self.job
        if job is None or job.finished:
            return job
        answered = [j.result for j in self._jobs if j.finished and j.result is not None]
        if answered:
            stats: dict[str, Any] = {"processes": len(self._jobs), "answered": len(answered)}
            for key in ("evaluations", "evals_per_s"):
                values = [r.stats.get(key) for r in answered]
                stats[key] = sum(v for v in values if isinstance(v, int | float))
            stats["train_solved"] = any(r.stats.get("train_solved") for r in answered)
            job.result = EngineResult(job.task_id, merge(*(r.candidates for r in answered), limit=16), stats)
        if all(j.finished for j in self._jobs):
            errors = [j.error for j in self._jobs if j.error]
            job.error = None if answered else (errors[0] if errors else "no search process answered")
            job.finished = True
        return job

    def close(self) -> None:
        for worker in self.workers:
            worker.close()
