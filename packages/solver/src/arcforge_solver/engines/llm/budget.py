"""What the LLM costs, measured, and the population shape that fits the time left.

The engine records every generation call (tokens, seconds) and every sandbox evaluation. From the first
tasks it knows tokens per second, tokens per program and evaluation seconds per program, so it can say
what one task costs at any population and number of generations. That gives:

- the forecast table (the seed's "population 2: 7 h ✓ / population 5: 17 h ✗", computed rather than
  guessed), logged once the pace is known;
- `fit_shape`: the largest shape (most programs per task; ties to the wider population) whose forecast
  fits the seconds a task is given. The runtime's scheduler spreads the remaining budget over the
  remaining tasks, so fitting each task's deadline fits the run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from arcforge_solver.runtime.timing import forecast_total_seconds, format_duration

TASKS_BEFORE_FORECAST = 2
"""Tasks measured before the engine trusts its pace: the first includes warm-up (CUDA kernels, caches)."""
SAFETY = 0.85
"""Share of a task's seconds a planned shape may use: the rest absorbs noise and the sandbox."""


@dataclass(frozen=True)
class Shape:
    """How much the LLM does per task."""

    population: int
    """Programs generated per generation (and survivors kept)."""
    generations: int
    """Rounds: the first generates from scratch, later ones refine and cross over."""
    samples_per_call: int
    """Completions per prompt (num_return_sequences)."""

    def programs(self) -> int:
        return self.population * self.generations

    def describe(self) -> str:
        return f"population {self.population} × {self.generations} generation{'s' if self.generations != 1 else ''}"


@dataclass
class Throughput:
    """Running totals of what generation and evaluation cost."""

    new_tokens: int = 0
    generation_seconds: float = 0.0
    completions: int = 0
    evaluations: int = 0
    evaluation_seconds: float = 0.0
    task_seconds: list[float] = field(default_factory=list)
    task_programs: list[int] = field(default_factory=list)

    def record_generation(self, new_tokens: int, seconds: float, completions: int) -> None:
        self.new_tokens += new_tokens
        self.generation_seconds += seconds
        self.completions += completions

    def record_evaluation(self, programs: int, seconds: float) -> None:
        self.evaluations += programs
        self.evaluation_seconds += seconds

    def record_task(self, seconds: float, programs: int) -> None:
        self.task_seconds.append(seconds)
        self.task_programs.append(programs)
        if len(self.task_seconds) == 1 and self.completions:
            # The first task pays for warm-up (CUDA kernels, caches): keep its time for the record
            # but price programs from the tasks after it.
            self.new_tokens, self.generation_seconds, self.completions = 0, 0.0, 0
            self.evaluations, self.evaluation_seconds = 0, 0.0

    @property
    def measured(self) -> bool:
        return len(self.task_seconds) >= TASKS_BEFORE_FORECAST and self.completions > 0

    def tokens_per_second(self) -> float:
        return self.new_tokens / self.generation_seconds if self.generation_seconds > 0 else 0.0

    def seconds_per_program(self) -> float:
        """Generation plus evaluation wall time per program, measured at the batch sizes in use."""
        generation = self.generation_seconds / self.completions if self.completions else 0.0
        evaluation = self.evaluation_seconds / self.evaluations if self.evaluations else 0.0
        return generation + evaluation

    def seconds_per_task(self) -> float:
        return sum(self.task_seconds) / len(self.task_seconds) if self.task_seconds else 0.0


def task_seconds(shape: Shape, pace: Throughput) -> float:
    """Forecast seconds of one task at `shape`."""
    return shape.programs() * pace.seconds_per_program()


def fit_shape(ceiling: Shape, pace: Throughput, seconds: float) -> Shape:
    """The shape with the most programs per task, no bigger than `ceiling` in either dimension, whose
    forecast fits `seconds × SAFETY`; ties go to the wider population. The smallest shape (1 × 1) when
    nothing fits, and `ceiling` itself before the pace is measured."""
    if not pace.measured:
        return ceiling
    allowed = seconds * SAFETY
    best: Shape | None = None
    for population in range(1, ceiling.population + 1):
        for generations in range(1, ceiling.generations + 1):
            shape = Shape(population, generations, min(ceiling.samples_per_call, population))
            if task_seconds(shape, pace) > allowed:
                continue
            if best is None or (shape.programs(), shape.population) > (best.programs(), best.population):
                best = shape
    return best or Shape(1, 1, 1)


@dataclass(frozen=True)
class ForecastRow:
    shape: Shape
    total_s: float
    budget_s: float | None

    @property
    def fits(self) -> bool:
        return self.budget_s is None or self.total_s <= self.budget_s

    def line(self) -> str:
        """`population 2 × 3 generations: 7.0 h ✓`; no mark without a budget to compare with."""
        mark = "" if self.budget_s is None else (" ✓" if self.fits else " ✗")
        return f"{self.shape.describe()}: {format_duration(self.total_s)}{mark}"


def forecast_rows(
    pace: Throughput,
    *,
    populations: Sequence[int],
    generations: int,
    samples_per_call: int,
    tasks_left: int,
    budget_s: float | None,
    elapsed_s: float = 0.0,
    lanes: int = 1,
) -> list[ForecastRow]:
    """Whole-run forecasts, one per population size, at the measured pace."""
    rows: list[ForecastRow] = []
    for population in populations:
        shape = Shape(population, generations, min(samples_per_call, population))
        per_task = task_seconds(shape, pace)
        rows.append(
            ForecastRow(shape, forecast_total_seconds(elapsed_s, per_task, tasks_left, lanes), budget_s)
        )
    return rows


def table_populations(ceiling: int) -> list[int]:
    """Population sizes worth comparing: 1, 2, 3, 5, 8, 13 … up to and including the ceiling."""
    sizes = [1, 2, 3, 5, 8, 13, 21, 34, 55, 89]
    picked = [s for s in sizes if s < ceiling]
    return [*picked, ceiling]


def pace_line(pace: Throughput) -> str:
    return (
        f"LLM pace: {pace.tokens_per_second():.1f} tokens/s, {pace.seconds_per_program():.2f} s per program, "
        f"{pace.seconds_per_task():.1f} s per task over {len(pace.task_seconds)} tasks"
    )
