"""Where engines run: in the runtime's own process, one task at a time, or in a pool of task worker
processes, one engine per process.

Both executors take (task, seconds) and give back `TaskOutcome`s. The process executor enforces the
per-task deadline from outside: a worker that overruns it by more than a grace period is killed and
replaced, and its task ends as `timeout`. A worker that dies ends its task as `failed`.

GPU lanes are process-executor workers with an environment of their own: each lane's worker sets its
`CUDA_VISIBLE_DEVICES` before it builds the engine, so every lane loads its own model replica once, on
its own card, and each outcome says which lane ran it.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import multiprocessing.connection
import os
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from arcforge_solver.engines.protocol import (
    Deadline,
    Engine,
    EngineContext,
    EngineResult,
    EngineStartError,
    RunInfo,
)
from arcforge_solver.engines.registry import load_engine
from arcforge_solver.runtime.workers import (
    GRACE_S,
    Child,
    exit_with_parent,
    ignore_interrupts,
    kill_child,
    spawn_child,
    stop_children,
)
from arcforge_solver.sandbox.pool import SandboxPool
from arcforge_solver.tasks.model import Task

EventSink = Callable[[str, str, dict[str, Any]], None]
"""sink(task_id, kind, data): an event an engine emitted while solving a task."""


@dataclass
class TaskOutcome:
    task: Task
    state: str
    """done, failed or timeout."""
    seconds: float
    result: EngineResult | None = None
    error: str | None = None
    lane: int | None = None
    """The worker (GPU lane) that ran it; None in the runtime's own process."""


def hard_limit(seconds: float) -> float:
    """How long an engine may run on a task before its worker is killed: the deadline, a tenth more
    (a long task's engine may close late by more), and the grace period."""
    return seconds + GRACE_S + 0.1 * seconds


def _make_sandbox(workers: int, memory_mb: int | None) -> SandboxPool:
    """A lazily started sandbox pool for engines that run untrusted programs."""
    kwargs: dict[str, Any] = {"workers": workers, "lazy": True}
    if memory_mb:
        kwargs["memory_mb"] = memory_mb
    return SandboxPool(**kwargs)


def solve_one(engine: Engine, task: Task, seconds: float, context: EngineContext) -> TaskOutcome:
    """Run the engine on one task; an exception from the engine fails only that task."""
    started = time.monotonic()
    try:
        result = engine.solve(task, Deadline(seconds), context)
    except Exception as exc:
        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        return TaskOutcome(task, "failed", time.monotonic() - started, error=f"engine error: {detail}")
    return TaskOutcome(task, "done", time.monotonic() - started, result=result)


class InProcessExecutor:
    """One task at a time in this process: for engines that parallelise inside (a GPU model)."""

    def __init__(
        self,
        engine: Engine,
        *,
        seed: int,
        options: Mapping[str, Any],
        sink: EventSink,
        sandbox_workers: int,
        sandbox_memory_mb: int | None = None,
    ) -> None:
        self.engine = engine
        self.seed = seed
        self.options = dict(options)
        self.sink = sink
        self.capacity = 1
        self.sandbox = _make_sandbox(sandbox_workers, sandbox_memory_mb)
        self._queued: deque[tuple[Task, float, RunInfo]] = deque()

    def busy(self) -> int:
        return len(self._queued)

    def start(self, task: Task, seconds: float, run_info: RunInfo | None = None) -> None:
        self._queued.append((task, seconds, run_info or RunInfo()))

    def wait(self, timeout: float) -> list[TaskOutcome]:
        if not self._queued:
            return []
        task, seconds, run_info = self._queued.popleft()

        def emit(kind: str, **data: Any) -> None:
            self.sink(task.task_id, kind, data)

        context = EngineContext(
            seed=self.seed, sandbox=self.sandbox, emit=emit, options=self.options, run=run_info
        )
        return [solve_one(self.engine, task, seconds, context)]

    def close(self) -> None:
        self.sandbox.close()


@dataclass(frozen=True)
class WorkerSetup:
    """What a task worker process needs to build its engine."""

    parent_pid: int
    engine_name: str
    options: dict[str, Any]
    seed: int
    sandbox_memory_mb: int | None
    env: dict[str, str] = field(default_factory=dict)
    """Set before anything is imported or loaded: a GPU lane's CUDA_VISIBLE_DEVICES."""
    sandbox_workers: int = 1


def task_worker_main(conn: Connection, setup: WorkerSetup) -> None:
    """A task worker process: builds the engine once, then solves tasks sent over `conn`."""
    os.environ.update(setup.env)  # before the engine imports torch: CUDA reads it once, at start
    parent_pid, engine_name, options = setup.parent_pid, setup.engine_name, setup.options
    seed, sandbox_memory_mb = setup.seed, setup.sandbox_memory_mb
    ignore_interrupts()
    exit_with_parent(parent_pid)
    send_lock = threading.Lock()

    def send(message: tuple[Any, ...]) -> None:
        with send_lock:
            conn.send(message)

    building = time.monotonic()
    try:
        engine = load_engine(engine_name, options)
    except Exception as exc:
        send(("fatal", f"cannot start engine {engine_name!r}: {type(exc).__name__}: {exc}"))
        return
    sandbox = _make_sandbox(setup.sandbox_workers, sandbox_memory_mb)
    send(("ready", time.monotonic() - building))
    try:
        while True:
            try:
                message = conn.recv()
            except EOFError:
                break
            if message is None:
                break
            task, seconds, run_info = message

            def emit(kind: str, _task_id: str = task.task_id, **data: Any) -> None:
                send(("event", _task_id, kind, data))

            context = EngineContext(seed=seed, sandbox=sandbox, emit=emit, options=options, run=run_info)
            outcome = solve_one(engine, task, seconds, context)
            try:
                send(("outcome", outcome.state, outcome.seconds, outcome.result, outcome.error))
            except Exception as exc:  # e.g. an engine put something unpicklable in its stats
                send(
                    (
                        "outcome",
                        "failed",
                        outcome.seconds,
                        None,
                        f"engine result could not be sent back: {exc}",
                    )
                )
    finally:
        sandbox.close()


@dataclass
class _Slot:
    worker: Child
    ready: bool = False
    task: Task | None = None
    seconds: float = 0.0
    started: float = 0.0


class ProcessExecutor:
    """Tasks fanned out over `workers` processes, one engine per process.

    `lane_env` gives worker i the environment `lane_env[i]` (a GPU lane's CUDA_VISIBLE_DEVICES);
    `on_ready(lane, seconds)` hears when a worker's engine is built and how long that took."""

    def __init__(
        self,
        engine_name: str,
        *,
        options: Mapping[str, Any],
        seed: int,
        workers: int,
        sink: EventSink,
        sandbox_memory_mb: int | None = None,
        lane_env: Sequence[Mapping[str, str]] | None = None,
        sandbox_workers: int = 1,
        on_ready: Callable[[int, float], None] | None = None,
    ) -> None:
        self.engine_name = engine_name
        self.options = dict(options)
        self.seed = seed
        self.sink = sink
        self.capacity = max(1, workers)
        self.sandbox_memory_mb = sandbox_memory_mb
        self.lane_env = [dict(env) for env in lane_env or []]
        self.sandbox_workers = max(1, sandbox_workers)
        self.on_ready = on_ready
        self._slots: list[_Slot] = [self._spawn(index) for index in range(self.capacity)]
        self._waiting: deque[tuple[Task, float, RunInfo]] = deque()
        self._early_deaths = 0

    def _spawn(self, index: int) -> _Slot:
        env = self.lane_env[index] if index < len(self.lane_env) else {}
        setup = WorkerSetup(
            os.getpid(),
            self.engine_name,
            self.options,
            self.seed,
            self.sandbox_memory_mb,
            env=env,
            sandbox_workers=self.sandbox_workers,
        )
        # A lane's engine may start workers of its own (the hybrid's search), which a daemon may not.
        lane = bool(self.lane_env)
        return _Slot(spawn_child(task_worker_main, (setup,), "arcforge-task-worker", daemon=not lane))

    def busy(self) -> int:
        return sum(slot.task is not None for slot in self._slots) + len(self._waiting)

    def start(self, task: Task, seconds: float, run_info: RunInfo | None = None) -> None:
        self._waiting.append((task, seconds, run_info or RunInfo()))
        self._dispatch()

    def _dispatch(self) -> None:
        for slot in self._slots:
            if not self._waiting:
                return
            if slot.task is None and slot.ready:
                task, seconds, run_info = self._waiting.popleft()
                slot.task, slot.seconds, slot.started = task, seconds, time.monotonic()
                with contextlib.suppress(OSError):  # a dead worker's sentinel reports it in wait()
                    slot.worker.conn.send((task, seconds, run_info))

    def wait(self, timeout: float) -> list[TaskOutcome]:
        outcomes: list[TaskOutcome] = []
        now = time.monotonic()
        limits = [
            slot.started + hard_limit(slot.seconds) - now for slot in self._slots if slot.task is not None
        ]
        timeout = max(0.0, min([timeout, *limits]))
        waitables: list[Any] = [slot.worker.conn for slot in self._slots] + [
            slot.worker.process.sentinel for slot in self._slots
        ]
        ready = multiprocessing.connection.wait(waitables, timeout=timeout)
        for index, slot in enumerate(list(self._slots)):
            if slot.worker.conn in ready:
                outcomes.extend(self._drain(index))
            elif slot.worker.process.sentinel in ready:
                if not slot.ready:
                    self._early_deaths += 1
                    if self._early_deaths >= 3:
                        raise EngineStartError(
                            f"task workers keep dying before the engine is ready (exit code {slot.worker.process.exitcode})"
                        )
                outcomes.extend(
                    self._replace(
                        index, "failed", f"task worker died (exit code {slot.worker.process.exitcode})"
                    )
                )
        now = time.monotonic()
        for index, slot in enumerate(list(self._slots)):
            if slot.task is not None and now > slot.started + hard_limit(slot.seconds):
                outcomes.extend(
                    self._replace(
                        index, "timeout", f"engine overran its {slot.seconds:.1f} s deadline; worker killed"
                    )
                )
        self._dispatch()
        return outcomes

    def _drain(self, index: int) -> list[TaskOutcome]:
        slot = self._slots[index]
        outcomes: list[TaskOutcome] = []
        while True:
            try:
                if not slot.worker.conn.poll():
                    break
                message = slot.worker.conn.recv()
            except (EOFError, OSError):
                return outcomes + self._replace(
                    index, "failed", f"task worker died (exit code {slot.worker.process.exitcode})"
                )
            kind = message[0]
            if kind == "ready":
                slot.ready = True
                if self.on_ready is not None:
                    self.on_ready(index, float(message[1]))
            elif kind == "fatal":
                raise EngineStartError(message[1])
            elif kind == "event":
                _, task_id, event_kind, data = message
                self.sink(task_id, event_kind, data)
            elif kind == "outcome" and slot.task is not None:
                _, state, seconds, result, error = message
                outcomes.append(
                    TaskOutcome(slot.task, state, seconds, result=result, error=error, lane=index)
                )
                slot.task = None
        return outcomes

    def _replace(self, index: int, state: str, error: str) -> list[TaskOutcome]:
        slot = self._slots[index]
        kill_child(slot.worker)
        self._slots[index] = self._spawn(index)
        if slot.task is None:
            return []
        return [TaskOutcome(slot.task, state, time.monotonic() - slot.started, error=error, lane=index)]

    def close(self) -> None:
        stop_children([slot.worker for slot in self._slots])
        self._slots = []
