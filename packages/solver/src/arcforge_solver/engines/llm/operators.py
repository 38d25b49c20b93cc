"""The LLM operators and the sandboxed evaluation of what they write.

`LlmOperators` turns a task (and parent programs) into prompts for generate, refine and crossover,
sends them to a backend in one batched request, and extracts one program from each completion.
`SandboxEvaluator` runs every program, untrusted, through the runtime's sandbox on the train and test
inputs in one call, scores it with the same train-only fitness as the search, and keeps its per-pair
outputs and errors for the refine prompts of the next generation.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from arcforge_solver.engines.fitness import train_fitness
from arcforge_solver.engines.llm.backend import GenerationBackend, GenerationRequest, GenerationStats
from arcforge_solver.engines.llm.extract import canonical, complexity, extract_program
from arcforge_solver.engines.llm.prompts import (
    PromptParts,
    TrialReport,
    crossover_text,
    dsl_summary,
    fit_parts,
    generate_text,
    refine_text,
)
from arcforge_solver.engines.protocol import Candidate, Deadline
from arcforge_solver.tasks.model import Grid, Task

GENERATE, REFINE, CROSSOVER = "llm-generate", "llm-refine", "llm-crossover"


@dataclass(frozen=True)
class Prompt:
    text: str
    origin: str


@dataclass
class LlmCounters:
    """What one task cost: the numbers the test-run item event carries as `llm`."""

    calls: int = 0
    """Prompts sent to the model."""
    tokens: int = 0
    """Tokens generated."""
    prompt_tokens: int = 0
    programs: int = 0
    """Programs extracted and run in the sandbox."""
    unparsable: int = 0
    """Completions with no program in them."""
    duplicates: int = 0
    completions: int = 0
    errors: int = 0
    """Generation requests that failed (the task went on without them)."""
    oom_retries: int = 0
    generation_seconds: float = 0.0

    def add(self, stats: GenerationStats) -> None:
        self.calls += stats.prompts
        self.tokens += stats.new_tokens
        self.prompt_tokens += stats.prompt_tokens
        self.oom_retries += stats.oom_retries
        self.generation_seconds += stats.seconds

    def event(self) -> dict[str, int]:
        return {"calls": self.calls, "tokens": self.tokens, "programs": self.programs}


@dataclass
class LlmOperators:
    backend: GenerationBackend
    max_prompt_tokens: int = 3072
    max_new_tokens: int = 512
    temperature: float = 0.8
    top_p: float = 0.95
    dsl_names: str = field(default_factory=dsl_summary)

    def _fit(self, task: Task, render: Callable[[PromptParts], str]) -> str:
        # Count the user content; the template adds a few dozen tokens, which the margin covers.
        content = fit_parts(task, render, self.backend.count_tokens, self.max_prompt_tokens - 64)
        return self.backend.render(content)

    def generate_prompt(self, task: Task) -> Prompt:
        return Prompt(self._fit(task, lambda parts: generate_text(task, parts, self.dsl_names)), GENERATE)

    def refine_prompt(self, task: Task, source: str, report: TrialReport) -> Prompt:
        return Prompt(
            self._fit(task, lambda parts: refine_text(task, parts, source, report, self.dsl_names)), REFINE
        )

    def crossover_prompt(
        self, task: Task, first: tuple[str, Sequence[int]], second: tuple[str, Sequence[int]]
    ) -> Prompt:
        text = self._fit(task, lambda parts: crossover_text(task, parts, first, second, self.dsl_names))
        return Prompt(text, CROSSOVER)

    def run(
        self,
        prompts: Sequence[Prompt],
        *,
        samples: int,
        seed: int,
        max_seconds: float | None,
        counters: LlmCounters,
        should_stop: Callable[[], bool] | None = None,
    ) -> list[tuple[str, str]]:
        """Send the prompts in one batched request; (program, origin) for each completion holding one."""
        if not prompts:
            return []
        request = GenerationRequest(
            prompts=[p.text for p in prompts],
            samples=samples,
            max_new_tokens=self.max_new_tokens,
            temperature=self.temperature,
            top_p=self.top_p,
            seed=seed,
            max_seconds=max_seconds,
            should_stop=should_stop,
        )
        completions, stats = self.backend.generate(request)
        counters.add(stats)
        counters.completions += len(completions)
        programs: list[tuple[str, str]] = []
        for completion in completions:
            program = extract_program(completion.text)
            if program is None:
                counters.unparsable += 1
                continue
            programs.append((program, prompts[completion.prompt_index].origin))
        return programs


def _valid_grid(value: Any) -> Grid | None:
    if not isinstance(value, np.ndarray) or value.ndim != 2:
        return None
    if not (1 <= value.shape[0] <= 30 and 1 <= value.shape[1] <= 30):
        return None
    return value.astype(np.int8, copy=False)


@dataclass
class Trial:
    candidate: Candidate
    report: TrialReport


class SandboxEvaluator:
    """Runs programs for one task in the sandbox; remembers what each did."""

    def __init__(self, task: Task, sandbox: Any, timeout_s: float = 2.0) -> None:
        self.task = task
        self.sandbox = sandbox
        self.timeout_s = timeout_s
        self.inputs = [p.input for p in task.train] + [p.input for p in task.test]
        self.expected = [p.output for p in task.train if p.output is not None]
        self.reports: dict[str, TrialReport] = {}
        self.seen: set[str] = set()

    def evaluate(self, program: str, origin: str, *, trusted: bool = False) -> Trial:
        self.seen.add(canonical(program))
        run = self.sandbox.run_program(program, self.inputs, timeout_s=self.timeout_s)
        outputs = [_valid_grid(o) for o in run.outputs]
        errors = [None if e is None else f"{e.kind}: {e.message}" for e in run.errors]
        count = len(self.task.train)
        fitness, exact = train_fitness(outputs[:count], self.expected)
        candidate = Candidate(
            source=program,
            trusted=trusted,
            train_fitness=fitness,
            train_exact=exact,
            predictions=tuple(outputs[count:]),
            complexity=complexity(program),
            origin=origin,
        )
        report = TrialReport(outputs=tuple(outputs[:count]), errors=tuple(errors[:count]))
        self.reports[program] = report
        return Trial(candidate, report)

    def evaluate_many(
        self, programs: Sequence[tuple[str, str]], deadline: Deadline
    ) -> tuple[list[Trial], int]:
        """Run the new programs among `programs`, several at once when the pool has several workers
        (`run_program` is thread-safe); (trials, duplicates skipped). Stops starting programs at the deadline."""
        fresh: list[tuple[str, str]] = []
        duplicates = 0
        for program, origin in programs:
            key = canonical(program)
            if key in self.seen:
                duplicates += 1
                continue
            self.seen.add(key)
            fresh.append((program, origin))
        lanes = max(1, min(len(fresh), int(getattr(self.sandbox, "size", 1))))

        def one(item: tuple[str, str]) -> Trial | None:
            return None if deadline.expired() else self.evaluate(*item)

        if lanes == 1:
            trials = [one(item) for item in fresh]
        else:
            with ThreadPoolExecutor(max_workers=lanes, thread_name_prefix="arcforge-eval") as pool:
                trials = list(pool.map(one, fresh))
        return [t for t in trials if t is not None], duplicates

    def report_for(self, candidate: Candidate) -> TrialReport:
        """The train outputs and errors of any candidate (a search program is run once to learn them)."""
        if candidate.source not in self.reports:
            self.evaluate(candidate.source, candidate.origin, trusted=candidate.trusted)
        return self.reports[candidate.source]

    def solved_pairs(self, candidate: Candidate) -> list[int]:
        report = self.report_for(candidate)
        return [
            index
            for index, (output, expected) in enumerate(zip(report.outputs, self.expected, strict=False))
            if output is not None
            and output.shape == expected.shape
            and bool(np.array_equal(output, expected))
        ]
