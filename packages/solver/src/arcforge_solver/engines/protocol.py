"""The engine interface: the one seam between the solver runtime and its engines.

The runtime hands an engine one `Task`, a `Deadline` and an `EngineContext`; the engine returns an
`EngineResult` whose candidates are ranked best first. The runtime turns the two best candidates with
different test predictions into attempt_1 and attempt_2, and falls back on the test input for anything
missing. Engines judge programs on train pairs only: test outputs never reach them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from arcforge_solver.runtime.timing import Deadline
from arcforge_solver.tasks.model import Grid, Task

if TYPE_CHECKING:
    from arcforge_solver.sandbox.pool import SandboxPool

__all__ = [
    "Candidate",
    "Deadline",
    "EmitFn",
    "Engine",
    "EngineContext",
    "EngineResult",
    "EngineStartError",
    "RunInfo",
]
"""`Deadline` lives in `runtime.timing` with the other time arithmetic; it is part of `solve`'s
signature, so the protocol names it too."""


@dataclass(frozen=True)
class Candidate:
    """One program and what it did on a task."""

    source: str
    """Python source defining `def solve(grid)`; it may use numpy and `arcforge_solver.dsl`."""
    trusted: bool
    """True when our own search wrote it (may run in-process); False for LLM or user code (sandbox only)."""
    train_fitness: float
    """0..1: exact train matches first, then partial credit (see the engine's fitness)."""
    train_exact: int
    """How many train pairs it reproduces exactly."""
    predictions: tuple[Grid | None, ...]
    """Its output for each test input, None where it failed or gave no valid grid."""
    complexity: int = 0
    """Smaller is simpler; ties in fitness prefer the simpler program."""
    origin: str = "search"
    """Which operator made it: search, mutation, crossover, llm-generate, llm-refine, llm-crossover…"""


@dataclass
class EngineResult:
    task_id: str
    candidates: list[Candidate]
    """Ranked best first."""
    stats: dict[str, Any] = field(default_factory=dict)
    """Counters for events: evaluations, llm calls, tokens, programs tried…"""


EmitFn = Callable[..., None]
"""emit(kind, **data): a test-run event from inside an engine (e.g. LLM counters)."""


class EngineStartError(RuntimeError):
    """The engine cannot be built (bad options, no model…): no task can run. An engine raises it from
    its constructor; the runtime then ends the run with this message and a valid fallback submission."""


@dataclass(frozen=True)
class RunInfo:
    """Where the whole run stands as a task starts, so that an engine can size its work to the run
    (the LLM engine's forecast table). The defaults describe a run of unknown size without a budget."""

    tasks_remaining: int | None = None
    """Tasks not finished yet, this one included."""
    budget_remaining_s: float | None = None
    """Seconds left of the run's `--time-budget`; None when the run has no overall budget."""
    tasks_total: int | None = None
    """Tasks in the run."""
    lanes: int = 1
    """Tasks solved side by side."""


@dataclass
class EngineContext:
    seed: int = 0
    sandbox: SandboxPool | None = None
    """Runs untrusted program source with limits; None where the engine needs none."""
    emit: EmitFn | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    """Engine-specific settings from the CLI (population, generations, model_dir…)."""
    run: RunInfo = field(default_factory=RunInfo)
    """The run's remaining tasks and budget as this task starts."""


class Engine(Protocol):
    """Engines are built once per process with `EngineClass(**options)`: options are the engine flags
    the user set (population, generations, samples_per_call, model_dir…); an engine takes what it
    knows and ignores the rest.

    Optional class attributes the runtime reads (runtime/lanes.py, runtime/run.py):
    - `holds_model = True`: the engine holds a model; it runs one worker per GPU lane (each with its
      own CUDA_VISIBLE_DEVICES and replica), or one lane sharded over every card;
    - `replica_bytes(options) -> int | None` (a static method): GPU memory one replica needs, which
      decides one lane per card or one sharded lane;
    - `cpu_search = True`: the engine also runs a CPU search, and gets `search_processes` in its
      options: the CPU cores its lane leaves, less one."""

    name: str
    parallel: bool
    """True: the runtime may fan tasks out over worker processes, one engine per process.
    False: the runtime runs tasks one at a time per lane (an engine that holds a GPU model and
    parallelises inside itself): in its own process with one lane, in one worker per GPU lane."""

    def solve(self, task: Task, deadline: Deadline, context: EngineContext) -> EngineResult: ...
