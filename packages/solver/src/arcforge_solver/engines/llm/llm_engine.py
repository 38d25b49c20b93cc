"""`LlmEngine` and `HybridEngine`: the model writes programs that evolve in the search's population.

Per task, generation 0 asks for fresh programs; every later generation spends about half its programs on
*refine* (a parent, the diff between its outputs and the expected ones, its error), a quarter on
*crossover* (two parents that solve different train pairs) and the rest on fresh programs. Every program
runs untrusted in the sandbox and is scored with the search's train-only fitness; the population is the
search's (`engines.ranking.merge`: ranked, deduplicated by source and behaviour). A task stops early
once a program reproduces every train pair.

`HybridEngine` also runs the DSL search in a CPU worker process while the model generates. Its programs
join the population when they arrive, so the model refines DSL programs too, and a search that solves
the task stops generation at once.

Both engines are `parallel = False` and `holds_model = True`: one model per process, used one task at a
time, batched inside; the runtime runs one such process per GPU lane (`replica_bytes` tells it how much
memory a replica needs). They measure their pace on the first tasks, log the forecast table, and fit
the population and generations to the seconds the runtime's scheduler gives each task: fewer when the
task's seconds are short, more generations when they are long (unless `generations` is fixed).
Prompts are sized to the model's context window less the new tokens.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from arcforge_solver.engines.llm.backend import GenerationBackend, open_backend
from arcforge_solver.engines.llm.budget import (
    SAFETY,
    Shape,
    Throughput,
    fit_shape,
    forecast_rows,
    pace_line,
    table_populations,
    task_seconds,
)
from arcforge_solver.engines.llm.loading import ModelFolderError
from arcforge_solver.engines.llm.operators import (
    LlmCounters,
    LlmOperators,
    Prompt,
    SandboxEvaluator,
)
from arcforge_solver.engines.llm.search_worker import SearchJob, SearchPortfolio, SearchWorker
from arcforge_solver.engines.protocol import (
    Candidate,
    Deadline,
    EngineContext,
    EngineResult,
    EngineStartError,
)
from arcforge_solver.engines.ranking import merge, rank
from arcforge_solver.runtime.timing import format_duration
from arcforge_solver.tasks.model import Task

log = logging.getLogger(__name__)

DEFAULT_SHAPE = Shape(population=8, generations=3, samples_per_call=4)
MAX_GENERATIONS = 256
"""Most generations a task may grow to when its seconds allow and `generations` is not fixed."""
FALLBACK_PROMPT_TOKENS = 3072
"""The prompt budget for a backend that does not say its context window."""
PROMPT_MARGIN_TOKENS = 64
REFINE_SHARE, CROSSOVER_SHARE = 0.5, 0.25
SEARCH_SHARE = 0.5
"""Hybrid: the share of a task's seconds the DSL search gets (it runs alongside generation)."""
EVALUATION_GUESS_S = 0.05
"""Seconds per sandboxed program before any are measured."""


def _env(name: str, default: Any, kind: Callable[[str], Any]) -> Any:
    value = os.environ.get(name)
    return kind(value) if value not in (None, "") else default


@dataclass
class TaskRun:
    """One task's evolution state."""

    task: Task
    deadline: Deadline
    evaluator: SandboxEvaluator
    counters: LlmCounters
    population: list[Candidate]
    """The parents of the next generation (at most `keep`)."""
    archive: list[Candidate] = field(default_factory=list)
    """Every candidate seen, LLM- or search-made: the result ranks all of them, so a solution found
    early is never crowded out of the answer by a later flood of partial programs."""
    generations_run: int = 0

    def add(self, candidates: list[Candidate], keep: int) -> None:
        self.archive.extend(candidates)
        self.population = merge(self.population, candidates, limit=keep)

    @property
    def solved(self) -> bool:
        return bool(self.population) and self.population[0].train_exact == len(self.task.train)


class LlmEngine:
    """The model-only engine: LLM programs, evolved by refine and crossover."""

    name = "llm"
    parallel = False
    holds_model = True

    @staticmethod
    def replica_bytes(options: dict[str, Any]) -> int | None:
        """GPU memory one replica of the model in `options["model_dir"]` needs (None: unknown)."""
        from arcforge_solver.engines.llm.loading import replica_bytes  # noqa: PLC0415

        model_dir = options.get("model_dir")
        return replica_bytes(str(model_dir)) if model_dir else None

    def __init__(
        self,
        model_dir: str | None = None,
        population: int | None = None,
        generations: int | None = None,
        samples_per_call: int | None = None,
        *,
        backend: GenerationBackend | str | None = None,
        max_new_tokens: int | None = None,
        temperature: float | None = None,
        dtype: str | None = None,
        max_prompt_tokens: int | None = None,
        program_timeout_s: float | None = None,
        max_batch_sequences: int | None = None,
        **_ignored: Any,
    ) -> None:
        population = int(population or DEFAULT_SHAPE.population)
        samples = int(samples_per_call or min(DEFAULT_SHAPE.samples_per_call, population))
        self.ceiling = Shape(population, int(generations or DEFAULT_SHAPE.generations), max(1, samples))
        self.generations_fixed = generations is not None
        self.program_timeout_s = float(program_timeout_s or _env("ARCFORGE_LLM_PROGRAM_TIMEOUT", 2.0, float))
        if backend is None or isinstance(backend, str):
            backend = self._open(model_dir, backend, dtype, max_batch_sequences)
        self.backend: GenerationBackend = backend
        new_tokens = int(max_new_tokens or _env("ARCFORGE_LLM_MAX_NEW_TOKENS", 512, int))
        self.operators = LlmOperators(
            backend,
            max_prompt_tokens=prompt_budget(
                backend, new_tokens, max_prompt_tokens or _env("ARCFORGE_LLM_MAX_PROMPT_TOKENS", None, int)
            ),
            max_new_tokens=new_tokens,
            temperature=float(
                temperature if temperature is not None else _env("ARCFORGE_LLM_TEMPERATURE", 0.8, float)
            ),
        )
        self.pace = Throughput()
        self._tasks_seen = 0
        self._forecast_logged = False
        self._last_shape: Shape | None = None
        self._own_sandbox: Any = None

    @staticmethod
    def _open(
        model_dir: str | None, backend: str | None, dtype: str | None, batch: int | None
    ) -> GenerationBackend:
        if not model_dir:
            raise EngineStartError(
                "the llm and hybrid engines need a model: pass --model-dir DIR (model/ + tokenizer/)"
            )
        try:
            return open_backend(
                str(model_dir),
                backend=backend or _env("ARCFORGE_LLM_BACKEND", "auto", str),
                dtype=dtype or _env("ARCFORGE_LLM_DTYPE", "auto", str),
                max_batch_sequences=int(batch or _env("ARCFORGE_LLM_BATCH", 16, int)),
            )
        except ModelFolderError as exc:
            raise EngineStartError(str(exc)) from exc
        except ImportError as exc:
            raise EngineStartError(
                f"the llm and hybrid engines need torch and transformers: pip install 'arcforge-solver[llm]' ({exc})"
            ) from exc

    # -- the runtime's entry point ---------------------------------------------------------------
    def solve(self, task: Task, deadline: Deadline, context: EngineContext) -> EngineResult:
        started = time.monotonic()
        shape = self.plan(deadline, context)
        run = self._new_run(task, deadline, context)
        self.evolve(run, shape, context)
        return self._finish(run, shape, context, started, {})

    def close(self) -> None:
        if self._own_sandbox is not None:
            self._own_sandbox.close()
            self._own_sandbox = None

    # -- budget ------------------------------------------------------------------------------------
    def plan(self, deadline: Deadline, context: EngineContext) -> Shape:
        """The shape for this task: the ceiling, shrunk to fit the task's seconds once the pace is known."""
        shape = fit_shape(self.task_ceiling(deadline.seconds), self.pace, deadline.seconds)
        if self.pace.measured and shape != self._last_shape:
            verb = "shrinks" if shape.programs() < self.ceiling.programs() else "uses"
            _log(
                context,
                f"LLM {verb} to {shape.describe()} (≈{format_duration(task_seconds(shape, self.pace))} per task;"
                f" a task gets {format_duration(deadline.seconds)})",
                "warning" if verb == "shrinks" else "info",
            )
        self._last_shape = shape
        return shape

    def task_ceiling(self, seconds: float) -> Shape:
        """The most this task may do: the ceiling, with as many generations as `seconds` hold at the
        measured pace when `generations` was not fixed (a long allotment buys more refinement)."""
        ceiling = self.ceiling
        per_generation = ceiling.population * self.pace.seconds_per_program()
        if self.generations_fixed or not self.pace.measured or per_generation <= 0:
            return ceiling
        fits = int(seconds * SAFETY / per_generation)
        generations = max(ceiling.generations, min(MAX_GENERATIONS, fits))
        return Shape(ceiling.population, generations, ceiling.samples_per_call)

    def forecast_lines(self, seconds_per_task: float, context: EngineContext) -> list[str]:
        """The forecast table: whole-run hours per population size when the runtime says how many tasks
        and seconds are left, else per-task seconds against this task's allotment."""
        tasks_left = context.run.tasks_remaining
        budget_left = context.run.budget_remaining_s
        populations = table_populations(self.ceiling.population)
        if isinstance(tasks_left, int) and tasks_left > 0:
            rows = forecast_rows(
                self.pace,
                populations=populations,
                generations=self.ceiling.generations,
                samples_per_call=self.ceiling.samples_per_call,
                tasks_left=tasks_left,
                budget_s=float(budget_left) if budget_left is not None else None,
            )
            budget = f" in {format_duration(float(budget_left))}" if budget_left is not None else ""
            return [f"forecast for the {tasks_left} tasks left{budget}: " + row.line() for row in rows]
        rows = forecast_rows(
            self.pace,
            populations=populations,
            generations=self.ceiling.generations,
            samples_per_call=self.ceiling.samples_per_call,
            tasks_left=1,
            budget_s=seconds_per_task,
        )
        return [row.line().replace(": ", " per task: ", 1) for row in rows]

    # -- one task ----------------------------------------------------------------------------------
    def _sandbox(self, context: EngineContext) -> Any:
        if context.sandbox is not None:
            return context.sandbox
        if self._own_sandbox is None:
            from arcforge_solver.sandbox.pool import SandboxPool  # noqa: PLC0415

            self._own_sandbox = SandboxPool(workers=1, lazy=True)
        return self._own_sandbox

    def _new_run(self, task: Task, deadline: Deadline, context: EngineContext) -> TaskRun:
        evaluator = SandboxEvaluator(task, self._sandbox(context), self.program_timeout_s)
        return TaskRun(task, deadline, evaluator, LlmCounters(), [])

    def evolve(
        self,
        run: TaskRun,
        shape: Shape,
        context: EngineContext,
        *,
        incoming: Callable[[], list[Candidate]] | None = None,
        stop_early: Callable[[], bool] | None = None,
        first_generation: int = 0,
    ) -> None:
        """Generations of generate / refine / crossover until the shape, the deadline or a solution ends it.
        `incoming` hands over candidates found meanwhile elsewhere (the DSL search); `first_generation`
        above 0 skips the from-scratch round."""
        keep = max(shape.population, 4)
        for generation in range(first_generation, first_generation + shape.generations):
            if incoming is not None:
                run.add(incoming(), keep)
            if run.solved:
                break
            budget = self._generation_seconds(run, shape)
            if budget <= 0:
                break
            tokens, seconds, completions = (
                run.counters.tokens,
                run.counters.generation_seconds,
                run.counters.completions,
            )
            try:
                prompts = self._prompts(run, shape, generation)
                programs = self.operators.run(
                    prompts,
                    samples=shape.samples_per_call,
                    seed=context.seed * 7919 + self._tasks_seen * 101 + generation,
                    max_seconds=budget,
                    counters=run.counters,
                    should_stop=stop_early,
                )
                self.pace.record_generation(
                    run.counters.tokens - tokens,
                    run.counters.generation_seconds - seconds,
                    run.counters.completions - completions,
                )
                run.add(self._evaluate(run, programs), keep)
            except Exception as exc:
                # A model or sandbox failure ends the LLM's part of this task, not the task: what the
                # population holds (and the hybrid's search results) is still the answer.
                run.counters.errors += 1
                _log(
                    context,
                    f"LLM generation failed on {run.task.task_id}: {type(exc).__name__}: {exc}",
                    "warning",
                )
                break
            run.generations_run += 1
            self._progress(run, context)
            if stop_early is not None and stop_early():
                break

    def _generation_seconds(self, run: TaskRun, shape: Shape) -> float:
        """Seconds the model may generate for in this generation: what is left, minus the time to
        evaluate its programs, spread over the generations still to come."""
        remaining = run.deadline.remaining()
        per_program = (
            self.pace.evaluation_seconds / self.pace.evaluations
            if self.pace.evaluations
            else EVALUATION_GUESS_S
        )
        evaluation = shape.population * per_program
        generations_left = max(1, shape.generations - run.generations_run)
        # Spread evenly, so that a slow model still leaves time for refine; a fast one ends each
        # generation well before its share and hands the rest on.
        budget = (remaining - evaluation) / generations_left
        return budget if budget >= 0.5 else 0.0

    def _prompts(self, run: TaskRun, shape: Shape, generation: int) -> list[Prompt]:
        calls = max(1, math.ceil(shape.population / shape.samples_per_call))
        operators, task = self.operators, run.task
        parents = [c for c in rank(run.population) if c.source.strip()]
        if generation == 0 or not parents:
            prompt = operators.generate_prompt(task)
            return [prompt] * calls
        refine_calls = max(1, round(calls * REFINE_SHARE))
        cross_calls = round(calls * CROSSOVER_SHARE) if len(parents) >= 2 else 0
        generate_calls = max(0, calls - refine_calls - cross_calls)
        prompts: list[Prompt] = []
        for index in range(refine_calls):
            parent = parents[index % len(parents)]
            prompts.append(operators.refine_prompt(task, parent.source, run.evaluator.report_for(parent)))
        for first, second in _crossover_pairs(parents, run.evaluator, cross_calls):
            prompts.append(
                operators.crossover_prompt(
                    task,
                    (first.source, run.evaluator.solved_pairs(first)),
                    (second.source, run.evaluator.solved_pairs(second)),
                )
            )
        if generate_calls:
            prompts.extend([operators.generate_prompt(task)] * generate_calls)
        return prompts

    def _evaluate(self, run: TaskRun, programs: list[tuple[str, str]]) -> list[Candidate]:
        started = time.monotonic()
        trials, duplicates = run.evaluator.evaluate_many(programs, run.deadline)
        run.counters.duplicates += duplicates
        run.counters.programs += len(trials)
        self.pace.record_evaluation(len(trials), time.monotonic() - started)
        return [trial.candidate for trial in trials]

    def _progress(self, run: TaskRun, context: EngineContext) -> None:
        if context.emit is None:
            return
        best = run.population[0] if run.population else None
        context.emit(
            "item",
            state="running",
            fitness=best.train_fitness if best else None,
            train_solved=run.solved,
            llm=run.counters.event(),
            generation=run.generations_run,
        )

    def _finish(
        self, run: TaskRun, shape: Shape, context: EngineContext, started: float, extra: dict[str, Any]
    ) -> EngineResult:
        counters = run.counters
        seconds = time.monotonic() - started
        self.pace.record_task(seconds, counters.programs)
        self._tasks_seen += 1
        if self.pace.measured and not self._forecast_logged:
            self._forecast_logged = True
            _log(context, pace_line(self.pace))
            for line in self.forecast_lines(run.deadline.seconds, context):
                _log(context, line)
        candidates = merge(run.archive)
        best = candidates[0] if candidates else None
        stats: dict[str, Any] = {
            "llm": counters.event(),
            "llm_prompt_tokens": counters.prompt_tokens,
            "llm_seconds": round(counters.generation_seconds, 3),
            "llm_unparsable": counters.unparsable,
            "llm_duplicates": counters.duplicates,
            "llm_oom_retries": counters.oom_retries,
            "llm_errors": counters.errors,
            "tokens_per_s": round(counters.tokens / counters.generation_seconds, 2)
            if counters.generation_seconds
            else 0.0,
            "generations": run.generations_run,
            "shape": {
                "population": shape.population,
                "generations": shape.generations,
                "samples_per_call": shape.samples_per_call,
            },
            "best_fitness": best.train_fitness if best else 0.0,
            "backend": self.backend.name,
            **extra,
        }
        return EngineResult(task_id=run.task.task_id, candidates=candidates, stats=stats)


def prompt_budget(backend: GenerationBackend, new_tokens: int, explicit: int | None) -> int:
    """Prompt tokens: the context window less the new tokens and a margin, or `explicit` when it is
    set and smaller (a long prompt never pushes the answer out of the window)."""
    window = getattr(backend, "context_tokens", None)
    if not isinstance(window, int) or window <= 0:
        return int(explicit or FALLBACK_PROMPT_TOKENS)
    room = max(PROMPT_MARGIN_TOKENS * 2, window - new_tokens - PROMPT_MARGIN_TOKENS)
    return min(room, int(explicit)) if explicit else room


def _crossover_pairs(
    parents: list[Candidate], evaluator: SandboxEvaluator, count: int
) -> list[tuple[Candidate, Candidate]]:
    """Pairs whose solved train pairs differ the most (complementary parents), best parents first."""
    if count <= 0 or len(parents) < 2:
        return []
    pool = parents[:6]
    solved = {id(c): set(evaluator.solved_pairs(c)) for c in pool}
    options = [
        (len(solved[id(a)] ^ solved[id(b)]), -i - j, a, b)
        for i, a in enumerate(pool)
        for j, b in enumerate(pool)
        if i < j
    ]
    options.sort(key=lambda o: (o[0], o[1]), reverse=True)
    return [(a, b) for _, _, a, b in options[:count]]


def _log(context: EngineContext, message: str, level: str = "info") -> None:
    log.info(message)
    if context.emit is not None:
        context.emit("log", level=level, message=message)


class HybridEngine(LlmEngine):
    """The DSL search on a CPU worker and the LLM on the GPU, one population."""

    name = "hybrid"
    parallel = False
    cpu_search = True
    """The runtime passes `search_processes`: the CPU cores its lane leaves free, for the DSL search."""

    def __init__(
        self,
        *args: Any,
        search_share: float | None = None,
        search_processes: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.search_share = float(
            search_share
            if search_share is not None
            else _env("ARCFORGE_HYBRID_SEARCH_SHARE", SEARCH_SHARE, float)
        )
        processes = int(search_processes or _env("ARCFORGE_HYBRID_SEARCH_PROCESSES", 1, int))
        self.search: SearchWorker | SearchPortfolio = (
            SearchPortfolio(processes) if processes > 1 else SearchWorker()
        )

    def solve(self, task: Task, deadline: Deadline, context: EngineContext) -> EngineResult:
        started = time.monotonic()
        shape = self.plan(deadline, context)
        run = self._new_run(task, deadline, context)
        search_seconds = max(0.5, deadline.remaining() * self.search_share)
        job = self.search.submit(task, search_seconds, context.seed)
        delivered = False

        def incoming() -> list[Candidate]:
            nonlocal delivered
            current = self.search.poll()
            if delivered or current is None or not current.finished or current.result is None:
                return []
            delivered = True
            return current.result.candidates

        def search_solved() -> bool:
            current = self.search.poll()
            if current is None or current.result is None:
                return False
            best = current.result.candidates[0] if current.result.candidates else None
            return best is not None and best.train_exact == len(task.train)

        self.evolve(run, shape, context, incoming=incoming, stop_early=search_solved)
        # The search may still be running: its programs are worth the wait (it stops at its deadline).
        self.search.wait(job.started + job.seconds)
        arrived = incoming()
        run.add(arrived, max(shape.population, 4))
        if arrived and not run.solved and run.generations_run > 0:
            # The model finished before the search did: one more round, in which it refines and
            # crosses over the search's programs, if the task's seconds still allow one.
            self.evolve(run, Shape(shape.population, 1, shape.samples_per_call), context, first_generation=1)
        return self._finish(run, shape, context, started, _search_stats(job))

    def close(self) -> None:
        self.search.close()
        super().close()


def _search_stats(job: SearchJob) -> dict[str, Any]:
    stats: dict[str, Any] = {"search_seconds": round(job.seconds, 2)}
    if job.error:
        stats["search_error"] = job.error
    if job.result is not None:
        stats["search"] = dict(job.result.stats)
        stats["search_candidates"] = len(job.result.candidates)
    return stats
