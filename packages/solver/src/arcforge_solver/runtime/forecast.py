"""The full run's forecast: its hours, GPU hours and how much work each task gets.

Two sources of rates feed the same arithmetic: assumed rates, before any run (`arcforge-solve forecast
--tasks 240 --time-budget 11h --gpus 4 …`), and the rates a short run measured (a TEST_MODE run prints the
forecast of the full set it stands in for). The per-task seconds are the scheduler's own
(`per_task_allotment`): the budget, less its reserve, times the lanes, over the tasks.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from arcforge_solver.runtime.defaults import PORTFOLIO_LIMIT
from arcforge_solver.runtime.lanes import Gpu, auto_workers, plan_lanes
from arcforge_solver.runtime.scheduler import RESERVE_FRACTION, per_task_allotment
from arcforge_solver.runtime.timing import format_duration

LLM_POPULATION = 8
"""The LLM engine's default population, for the `population × generations` a task's seconds buy."""


@dataclass(frozen=True)
class Rates:
    """What one lane does in one second of a task, and how tasks end."""

    source: str
    """`measured on …` or `assumed: …`: printed beside the figures."""
    llm_tokens_per_s: float | None = None
    llm_samples_per_s: float | None = None
    """Completions per second per lane (each is one candidate program when the model answers with code)."""
    llm_programs_per_s: float | None = None
    """Programs extracted and run per second per lane (measured; ≤ samples)."""
    search_evaluations_per_s: float | None = None
    """DSL program evaluations per second of one search process."""
    search_share: float = 1.0
    """Share of a task's seconds the search runs for (the hybrid engine gives it half)."""
    solved_share: float | None = None
    """Share of tasks that end early because a program reproduces every train pair."""
    solved_seconds: float | None = None
    """Mean seconds of those tasks."""


@dataclass(frozen=True)
class FullRunForecast:
    tasks: int
    budget_s: float | None
    cap_s: float | None
    lanes: int
    gpus: int
    """GPUs the run keeps busy (every lane's card, or all cards of a sharded lane); 0 on the CPU."""
    where: str
    """How the lanes are laid out, for the first line."""
    rates: Rates

    @property
    def seconds_per_task(self) -> float:
        """The scheduler's allotment of the first task (later ones get what early solves leave, too)."""
        usable = None if self.budget_s is None else self.budget_s * (1 - RESERVE_FRACTION)
        return per_task_allotment(usable, self.tasks, self.lanes, self.cap_s)

    @property
    def planned_s(self) -> float:
        """Wall-clock seconds the scheduler hands out if every task uses its whole allotment."""
        planned = self.tasks * self.seconds_per_task / max(1, self.lanes)
        if self.budget_s is not None:
            planned = min(planned, self.budget_s * (1 - RESERVE_FRACTION))
        return planned

    @property
    def expected_s(self) -> float:
        """Seconds the run is expected to take: solved tasks end early; with a budget and no per-task cap
        the time they save goes to the tasks still unsolved, so the run still takes its planned hours."""
        share, seconds = self.rates.solved_share, self.rates.solved_seconds
        if share is None or seconds is None:
            return self.planned_s
        if self.budget_s is not None and self.cap_s is None and share < 1:
            return self.planned_s
        mean = share * min(seconds, self.seconds_per_task) + (1 - share) * self.seconds_per_task
        return min(self.planned_s, self.tasks * mean / max(1, self.lanes))

    @property
    def gpu_hours(self) -> float:
        return self.expected_s / 3600 * self.gpus

    @property
    def budget_share(self) -> float | None:
        return None if not self.budget_s else self.expected_s / self.budget_s

    def per_task(self) -> dict[str, float]:
        """Work one unsolved task gets in its seconds, by kind."""
        seconds = self.seconds_per_task
        rates = self.rates
        work: dict[str, float] = {}
        if rates.llm_samples_per_s:
            work["llm_samples"] = seconds * rates.llm_samples_per_s
        if rates.llm_programs_per_s:
            work["llm_programs"] = seconds * rates.llm_programs_per_s
        if rates.llm_tokens_per_s:
            work["llm_tokens"] = seconds * rates.llm_tokens_per_s
        if rates.search_evaluations_per_s:
            work["search_evaluations"] = seconds * rates.search_share * rates.search_evaluations_per_s
        return work

    def lines(self) -> list[str]:
        budget = "no overall budget" if self.budget_s is None else f"budget {format_duration(self.budget_s)}"
        cap = "" if self.cap_s is None else f", at most {format_duration(self.cap_s)} each"
        out = [
            f"full run: {self.tasks} tasks, {budget}, on {self.where}",
            f"each task gets {format_duration(self.seconds_per_task)} ({self.lanes} lane"
            f"{'s' if self.lanes != 1 else ''} over {self.tasks} tasks{cap})",
        ]
        share = self.budget_share
        used = "" if share is None else f", {share:.0%} of the budget"
        out.append(
            f"hours planned: {self.planned_s / 3600:.1f} h; expected: {self.expected_s / 3600:.1f} h{used};"
            f" GPU hours: {self.gpu_hours:.1f} ({self.gpus} GPU{'s' if self.gpus != 1 else ''}"
            f"{', one decoding at a time' if self.lanes == 1 and self.gpus > 1 else ''})"
        )
        work = self.per_task()
        parts: list[str] = []
        if "llm_samples" in work:
            samples = work["llm_samples"]
            generations = int(samples // LLM_POPULATION)
            shape = (
                f"population {LLM_POPULATION} × {generations} generation{'s' if generations != 1 else ''}"
                if generations
                else f"less than one generation of population {LLM_POPULATION}"
            )
            parts.append(f"≈{samples:,.0f} LLM samples ({shape})")
        if "llm_programs" in work:
            parts.append(f"≈{work['llm_programs']:,.0f} LLM programs run")
        if "search_evaluations" in work:
            parts.append(f"≈{work['search_evaluations'] / 1e6:,.1f} M search evaluations")
        if parts:
            out.append("what fits in one unsolved task: " + ", ".join(parts))
        out.append(f"rates {self.rates.source}")
        return out

    def as_event(self) -> dict[str, Any]:
        return {
            "tasks": self.tasks,
            "budget_s": self.budget_s,
            "time_per_task_s": round(self.seconds_per_task, 2),
            "lanes": self.lanes,
            "gpus": self.gpus,
            "planned_hours": round(self.planned_s / 3600, 3),
            "expected_hours": round(self.expected_s / 3600, 3),
            "gpu_hours": round(self.gpu_hours, 3),
            "budget_share": None if self.budget_share is None else round(self.budget_share, 4),
            "per_task": {k: round(v, 1) for k, v in self.per_task().items()},
            "rates": self.rates.source,
        }


def measured_rates(
    results: Iterable[tuple[float, bool, Mapping[str, Any]]], *, lanes_label: str
) -> Rates | None:
    """Rates from finished tasks: (seconds, train_solved, engine stats) each; None when none finished.
    Reads the stats the engines write: `evals_per_s` (search; under `search` for the hybrid, with its
    `search_seconds`), `llm` {tokens, programs} and `llm_seconds` (LLM engines)."""
    rows = list(results)
    if not rows:
        return None
    seconds = sum(s for s, _, _ in rows)
    solved = [s for s, ok, _ in rows if ok]
    llm_seconds = sum(float(stats.get("llm_seconds") or 0.0) for _, _, stats in rows)
    llm = [stats["llm"] for _, _, stats in rows if isinstance(stats.get("llm"), Mapping)]
    tokens = sum(int(entry.get("tokens", 0)) for entry in llm)
    programs = sum(int(entry.get("programs", 0)) for entry in llm)
    evals: list[float] = []
    shares: list[float] = []
    for task_seconds, _, stats in rows:
        nested = stats.get("search")
        search = nested if isinstance(nested, Mapping) else stats
        rate = search.get("evals_per_s")
        if isinstance(rate, int | float):
            evals.append(float(rate))
            ran = stats.get("search_seconds")
            share = float(ran) / task_seconds if isinstance(ran, int | float) and task_seconds > 0 else 1.0
            shares.append(min(1.0, share))
    return Rates(
        source=f"measured on this run's {len(rows)} task{'s' if len(rows) != 1 else ''} ({lanes_label})",
        llm_tokens_per_s=tokens / llm_seconds if llm_seconds > 0 else None,
        llm_programs_per_s=programs / seconds if llm and seconds > 0 else None,
        search_evaluations_per_s=sum(evals) / len(evals) if evals else None,
        search_share=sum(shares) / len(shares) if shares else 1.0,
        solved_share=len(solved) / len(rows),
        solved_seconds=sum(solved) / len(solved) if solved else 0.0,
    )


ASSUMED_TOKENS_PER_S = 60.0
"""Per L4 lane, transformers, a 7B model in bf16: an L4 reads its ~300 GB/s (NVIDIA datasheet) through
~17 GB of weights about 17 times a second, so one decoding step takes ≥ 57 ms; at ~4 rows per batch
(the KV cache left beside the weights) and ~90 % of that bound, ≈ 60 tokens/s. Not measured here."""
ASSUMED_TOKENS_PER_SAMPLE = 350.0
"""New tokens per LLM completion: a `solve(grid)` program and its fence, below the 512-token cap."""
ASSUMED_SEARCH_EVALUATIONS_PER_S = 11_000.0
"""One search process, measured by benchmarks/solver_accuracy.py on 2 shared x86-64 cores (README)."""


def assumed_forecast(
    *,
    tasks: int,
    budget_s: float | None,
    cap_s: float | None,
    holds_model: bool,
    search_share: float,
    gpus: Sequence[Gpu],
    cpus: int,
    replica_bytes: int | None,
    tokens_per_s: float = ASSUMED_TOKENS_PER_S,
    tokens_per_sample: float = ASSUMED_TOKENS_PER_SAMPLE,
    search_evaluations_per_s: float = ASSUMED_SEARCH_EVALUATIONS_PER_S,
    source: str | None = None,
) -> FullRunForecast:
    """The full run's forecast before any run: lanes planned as the runtime plans them, assumed rates
    (`source` says where they come from when they are not the assumptions)."""
    if holds_model:
        plan = plan_lanes(gpus, replica_bytes)
        lanes, used, where = plan.lanes, plan.gpus_used, plan.layout
        # The cores a lane leaves run the hybrid's search portfolio, as the runtime hands them out.
        cores = auto_workers(plan.lanes if plan.gpus else 0, cpus) // max(1, lanes)
        processes = min(PORTFOLIO_LIMIT, max(1, cores - 1))
        rates = Rates(
            source=source
            or (
                f"assumed, not measured: {tokens_per_s:.4g} tokens/s per lane, {tokens_per_sample:.4g} tokens"
                f" per sample, {search_evaluations_per_s:,.0f} search evaluations/s per process"
                + (f" × {processes} search processes per lane" if search_share > 0 else "")
            ),
            llm_tokens_per_s=tokens_per_s,
            llm_samples_per_s=tokens_per_s / tokens_per_sample,
            search_evaluations_per_s=search_evaluations_per_s * processes,
            search_share=search_share,
        )
    else:
        lanes, used = auto_workers(0, cpus), 0
        where = f"{lanes} CPU worker{'s' if lanes != 1 else ''} (one search process per core; no GPU used)"
        rates = Rates(
            source=source
            or f"assumed, not measured: {search_evaluations_per_s:,.0f} search evaluations/s per process",
            search_evaluations_per_s=search_evaluations_per_s,
            search_share=1.0,
        )
    return FullRunForecast(tasks, budget_s, cap_s, lanes, used, where, rates)
