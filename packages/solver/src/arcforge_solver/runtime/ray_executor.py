"""The Ray executor: a run's tasks as Ray tasks, on an existing cluster or on a local one Ray starts.

It has the process executor's interface (`capacity`, `busy`, `start`, `wait`, `close`), so the run
loop, the journal, the events and the submission stay the driver's: a Ray task gets (task, seconds),
builds its engine once per Ray worker process (cached by engine and options), solves, and returns
the outcome with the events the engine emitted; the driver forwards those through the run's sink.

- A task that overruns its seconds plus the grace period (and, on a cold worker, the start
  allowance) is cancelled with `ray.cancel(force=True)`, which kills its worker, and ends `timeout`.
- A worker lost mid-task (killed, out of memory, its node gone) is Ray's to handle: the task is
  retried on another worker (`max_retries`) with what is left of its seconds, and the task ends
  `failed` only when every try died.

Ray is imported only when this executor is used; without it, one clear error names the extra.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import pickle
import socket
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from arcforge_solver.engines.protocol import Engine, EngineContext, EngineStartError, RunInfo
from arcforge_solver.engines.registry import load_engine
from arcforge_solver.runtime.executors import (
    EventSink,
    TaskOutcome,
    _make_sandbox,
    hard_limit,
    solve_one,
)
from arcforge_solver.sandbox.pool import SandboxPool
from arcforge_solver.tasks.model import Task

RAY_INSTALL_HINT = "pip install 'arcforge-solver[ray]'"
MAX_RETRIES = 2
"""Tries after the first when a task's worker dies (Ray's `max_retries`)."""
START_ALLOWANCE_S = 20.0
"""Added to the deadline of tasks sent before the executor has heard back `capacity` times: a cold
Ray worker first starts a Python process, imports the solver and builds the engine."""
ENGINES_PER_WORKER = 4
"""Engines a Ray worker keeps built at once (a sweep sends it several settings in turn)."""
CONNECT_CHECK_S = 10.0
"""How long a cluster's host:port may take to accept a connection before the run gives up (Ray's own
retries go on for minutes)."""
LOCAL_LOOPBACK_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
"""Ray reads it at import: "0" keeps a local cluster on 127.0.0.1 instead of the machine's address
(ray/_private/services.py, get_node_ip_address)."""


class RayUnavailableError(EngineStartError):
    """Ray is not installed, or the cluster cannot be reached: the run cannot start."""


def import_ray(local: bool) -> ModuleType:
    """The `ray` module, or one clear error naming the extra to install. `local`: keep a cluster that
    Ray starts on loopback (set before Ray's first import, which reads it)."""
    if local:
        os.environ.setdefault(LOCAL_LOOPBACK_ENV, "0")
    try:
        import ray  # noqa: PLC0415  (the optional extra: only when --executor ray is chosen)
    except ImportError:
        raise RayUnavailableError(
            f"--executor ray needs Ray, which is not installed: {RAY_INSTALL_HINT}"
        ) from None
    module: ModuleType = ray  # typed whether or not Ray's stubs are installed
    return module


def cluster_address(given: str | None) -> str | None:
    """The cluster a run joins: the address given, else $RAY_ADDRESS (what `ray job submit` sets for
    its entrypoint), else None: a local cluster."""
    return given or os.environ.get("RAY_ADDRESS") or None


def _host_port(address: str) -> tuple[str, int] | None:
    """(host, port) of a plain `host:port` address; None for `auto` and `ray://` client addresses."""
    host, _, port = address.rpartition(":")
    if not host or "://" in address or not port.isdigit():
        return None
    return host.strip("[]"), int(port)


def is_loopback(address: str | None) -> bool:
    """A local cluster, or a cluster address on this machine's loopback (127.0.0.1:6379)."""
    if address is None:
        return True
    parts = _host_port(address)
    return parts is not None and (parts[0] in ("localhost", "::1") or parts[0].startswith("127."))


def check_reachable(address: str) -> None:
    """RayUnavailableError at once when nothing listens at a `host:port` address."""
    parts = _host_port(address)
    if parts is None:
        return
    try:
        socket.create_connection(parts, timeout=CONNECT_CHECK_S).close()
    except OSError as exc:
        raise RayUnavailableError(
            f"cannot reach the Ray cluster at {address}: {exc.strerror or exc}"
            " (start one with `ray start --head`, or check --ray-address)"
        ) from None


def connect(address: str | None, workers: int | None) -> tuple[int, bool]:
    """Join the cluster at `address`, or start a local one of `workers` CPUs (loopback, no dashboard);
    reuse a connection this process already has. Returns (the tasks to run at once, whether this call
    started the connection and so must shut it down)."""
    ray = import_ray(local=is_loopback(address))
    owned = False
    if not ray.is_initialized():
        if address is not None:
            check_reachable(address)
        quiet: dict[str, Any] = {"log_to_driver": False, "logging_level": logging.WARNING}
        try:
            if address is None:
                # "local": a new cluster even where $RAY_ADDRESS or a stale /tmp/ray file names one.
                cpus = max(1, workers or os.cpu_count() or 1)
                ray.init(address="local", num_cpus=cpus, include_dashboard=False, **quiet)
            else:
                ray.init(address=address, **quiet)
        except Exception as exc:  # a wrong address, a cluster that is down or of another version
            where = f"the Ray cluster at {address}" if address else "a local Ray cluster"
            raise RayUnavailableError(f"cannot start on {where}: {type(exc).__name__}: {exc}") from None
        owned = True
    if workers:
        return workers, owned
    cpus = int(ray.cluster_resources().get("CPU", 1))
    return max(1, cpus), owned


@contextlib.contextmanager
def ray_session(address: str | None, workers: int | None) -> Iterator[int]:
    """One Ray connection for several runs (a sweep): the executors inside reuse it and leave it up."""
    capacity, owned = connect(address, workers)
    try:
        yield capacity
    finally:
        if owned:
            import_ray(local=is_loopback(address)).shutdown()


@dataclass(frozen=True)
class RayTaskSetup:
    """What a Ray task needs to build (or find) its engine."""

    engine_name: str
    options: dict[str, Any]
    seed: int
    sandbox_memory_mb: int | None


_engines: dict[str, Engine] = {}
"""Per Ray worker process: the engines built so far, by engine and options."""
_sandboxes: dict[int | None, SandboxPool] = {}


def _close_sandboxes() -> None:
    for sandbox in _sandboxes.values():
        sandbox.close()


atexit.register(_close_sandboxes)


def solve_in_worker(
    setup: RayTaskSetup, task: Task, seconds: float, until: float, run_info: RunInfo
) -> tuple[Any, ...]:
    """The body of a Ray task: ("outcome", state, seconds, result, error, events) or ("fatal", why).

    The engine gets `seconds`, or less when the wall clock is near `until`: a try that Ray retried
    after a lost worker gets only what the task has left, so the task ends within its limit."""
    seconds = max(0.0, min(seconds, until - time.time()))
    key = json.dumps([setup.engine_name, setup.options], sort_keys=True, default=str)
    engine = _engines.get(key)
    if engine is None:
        try:
            engine = load_engine(setup.engine_name, setup.options)
        except Exception as exc:
            return ("fatal", f"cannot start engine {setup.engine_name!r}: {type(exc).__name__}: {exc}")
        while len(_engines) >= ENGINES_PER_WORKER:
            _engines.pop(next(iter(_engines)))
        _engines[key] = engine
    sandbox = _sandboxes.get(setup.sandbox_memory_mb)
    if sandbox is None:
        sandbox = _sandboxes[setup.sandbox_memory_mb] = _make_sandbox(1, setup.sandbox_memory_mb)
    events: list[tuple[str, dict[str, Any]]] = []

    def emit(kind: str, **data: Any) -> None:
        events.append((kind, data))

    context = EngineContext(seed=setup.seed, sandbox=sandbox, emit=emit, options=setup.options, run=run_info)
    outcome = solve_one(engine, task, seconds, context)
    try:
        pickle.dumps((outcome.result, events))
    except Exception as exc:  # e.g. an engine put something unpicklable in its stats
        return (
            "outcome",
            "failed",
            outcome.seconds,
            None,
            f"engine result could not be sent back: {exc}",
            [],
        )
    return ("outcome", outcome.state, outcome.seconds, outcome.result, outcome.error, events)


@dataclass
class _InFlight:
    task: Task
    seconds: float
    sent: float
    cold: bool


class RayExecutor:
    """Tasks as Ray tasks, at most `capacity` at once (the local cluster's CPUs, `workers` on a
    cluster, or else every CPU the cluster has)."""

    def __init__(
        self,
        engine_name: str,
        *,
        options: Mapping[str, Any],
        seed: int,
        workers: int | None,
        sink: EventSink,
        address: str | None = None,
        sandbox_memory_mb: int | None = None,
        max_retries: int = MAX_RETRIES,
    ) -> None:
        self.sink = sink
        self.capacity, self._owned = connect(address, workers)
        self._ray = import_ray(local=is_loopback(address))
        self._setup = RayTaskSetup(engine_name, dict(options), seed, sandbox_memory_mb)
        self._remote = self._ray.remote(num_cpus=1, max_retries=max_retries)(solve_in_worker)
        self._max_retries = max_retries
        self._in_flight: dict[Any, _InFlight] = {}
        self._heard = 0

    def busy(self) -> int:
        return len(self._in_flight)

    def start(self, task: Task, seconds: float, run_info: RunInfo | None = None) -> None:
        cold = self._heard + len(self._in_flight) < self.capacity
        # Wall clock, not monotonic: the worker may be another machine (clusters keep clocks in step).
        until = time.time() + seconds + (START_ALLOWANCE_S if cold else 0.0)
        ref = self._remote.remote(self._setup, task, seconds, until, run_info or RunInfo())
        self._in_flight[ref] = _InFlight(task, seconds, time.monotonic(), cold)

    def _limit(self, flight: _InFlight) -> float:
        return flight.sent + hard_limit(flight.seconds) + (START_ALLOWANCE_S if flight.cold else 0.0)

    def wait(self, timeout: float) -> list[TaskOutcome]:
        if not self._in_flight:
            return []
        now = time.monotonic()
        soonest = min(self._limit(flight) for flight in self._in_flight.values()) - now
        refs = list(self._in_flight)
        ready, _ = self._ray.wait(refs, num_returns=1, timeout=max(0.0, min(timeout, soonest)))
        if ready:  # and whatever else has finished by now
            ready, _ = self._ray.wait(refs, num_returns=len(refs), timeout=0)
        outcomes = [self._collect(ref) for ref in ready]
        now = time.monotonic()
        for ref, flight in list(self._in_flight.items()):
            if now > self._limit(flight):
                self._ray.cancel(ref, force=True)  # kills the worker; Ray does not retry a cancel
                del self._in_flight[ref]
                outcomes.append(
                    TaskOutcome(
                        flight.task,
                        "timeout",
                        now - flight.sent,
                        error=f"engine overran its {flight.seconds:.1f} s deadline; Ray task cancelled",
                    )
                )
        return outcomes

    def _collect(self, ref: Any) -> TaskOutcome:
        flight = self._in_flight.pop(ref)
        self._heard += 1
        exceptions = self._ray.exceptions
        try:
            message = self._ray.get(ref)
        except (exceptions.WorkerCrashedError, exceptions.NodeDiedError, exceptions.OutOfMemoryError) as exc:
            error = f"its Ray worker died on every try ({1 + self._max_retries}): {type(exc).__name__}"
            return TaskOutcome(flight.task, "failed", time.monotonic() - flight.sent, error=error)
        except exceptions.RayError as exc:
            error = f"Ray task failed: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            return TaskOutcome(flight.task, "failed", time.monotonic() - flight.sent, error=error)
        if message[0] == "fatal":
            raise EngineStartError(message[1])
        _, state, seconds, result, error, events = message
        for kind, data in events:
            self.sink(flight.task.task_id, kind, data)
        return TaskOutcome(flight.task, state, seconds, result=result, error=error)

    def close(self) -> None:
        for ref in self._in_flight:
            with contextlib.suppress(Exception):
                self._ray.cancel(ref, force=True)
        self._in_flight = {}
        if self._owned:
            self._ray.shutdown()
            self._owned = False
