"""What test-time training costs, measured, and the plan that fits a task's seconds.

The engine records every training step, every decode and every scoring pass. From the first tasks it
knows seconds per TTT step (at the batch in use), seconds per decoded view and seconds per scored
candidate-view, so it can price a plan: steps × step + views × decode + views × candidates × score.
`fit_plan` keeps the views while training can keep at least half its steps, then gives up views, so
each task fits the seconds the runtime's scheduler hands it (and the run fits its budget). The
forecast lines are whole-run hours per plan, logged once, as the LLM engine does.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from arcforge_solver.engines.llm.budget import SAFETY, TASKS_BEFORE_FORECAST
from arcforge_solver.runtime.timing import forecast_total_seconds, format_duration

ACTIVATION_BYTES_PER_HIDDEN = 34
"""Training activations per token, layer and hidden unit, in 16-bit bytes (Korthikanti et al., 2022,
"Reducing Activation Recomputation in Large Transformer Models": 34·s·b·h per layer, attention scores aside)."""
MEMORY_SHARE = 0.6
"""Share of the free GPU memory a training batch may plan to use (the allocator and the cache need the rest)."""


@dataclass(frozen=True)
class TttPlan:
    """How much one task gets."""

    steps: int
    batch_size: int
    views: int
    """Augmented views decoded, and (the same views) scored."""
    dfs: bool = True
    min_prob: float = 0.1
    """The DFS keeps completions at least this probable (the ARChitects used 0.1 at inference)."""

    def describe(self) -> str:
        sampler = f"DFS p≥{self.min_prob:g}" if self.dfs else "greedy"
        return f"{self.steps} TTT steps × batch {self.batch_size}, {self.views} views, {sampler}"


@dataclass
class TttPace:
    """Running totals of what training, decoding and scoring cost."""

    steps: int = 0
    step_seconds: float = 0.0
    train_tokens: int = 0
    decodes: int = 0
    decode_seconds: float = 0.0
    decode_tokens: int = 0
    scored: int = 0
    """Candidate-views scored."""
    score_seconds: float = 0.0
    candidates: int = 0
    """Distinct candidates per test input, summed over test inputs: what scoring multiplies by."""
    test_inputs: int = 0
    task_seconds: list[float] = field(default_factory=list)

    def record_train(self, steps: int, seconds: float, tokens: int) -> None:
        self.steps += steps
        self.step_seconds += seconds
        self.train_tokens += tokens

    def record_decode(self, tokens: int, seconds: float) -> None:
        self.decodes += 1
        self.decode_tokens += tokens
        self.decode_seconds += seconds

    def record_score(self, candidate_views: int, seconds: float, candidates: int) -> None:
        self.scored += candidate_views
        self.score_seconds += seconds
        self.candidates += candidates
        self.test_inputs += 1

    def record_task(self, seconds: float) -> None:
        self.task_seconds.append(seconds)
        if len(self.task_seconds) == 1 and self.steps:
            # The first task pays for warm-up (CUDA kernels, allocator): price from the tasks after it.
            self.steps, self.step_seconds, self.train_tokens = 0, 0.0, 0
            self.decodes, self.decode_seconds, self.decode_tokens = 0, 0.0, 0
            self.scored, self.score_seconds, self.candidates, self.test_inputs = 0, 0.0, 0, 0

    @property
    def measured(self) -> bool:
        return len(self.task_seconds) >= TASKS_BEFORE_FORECAST and self.steps > 0 and self.decodes > 0

    def steps_per_second(self) -> float:
        return self.steps / self.step_seconds if self.step_seconds > 0 else 0.0

    def decode_tokens_per_second(self) -> float:
        return self.decode_tokens / self.decode_seconds if self.decode_seconds > 0 else 0.0

    def seconds_per_step(self) -> float:
        return self.step_seconds / self.steps if self.steps else 0.0

    def seconds_per_decode(self) -> float:
        return self.decode_seconds / self.decodes if self.decodes else 0.0

    def seconds_per_score(self) -> float:
        return self.score_seconds / self.scored if self.scored else 0.0

    def candidates_per_input(self) -> float:
        return self.candidates / self.test_inputs if self.test_inputs else 4.0

    def seconds_per_task(self) -> float:
        return sum(self.task_seconds) / len(self.task_seconds) if self.task_seconds else 0.0


def plan_seconds(plan: TttPlan, pace: TttPace, test_inputs: int = 1) -> float:
    """Forecast seconds of one task under `plan`."""
    decode = plan.views * pace.seconds_per_decode() * test_inputs
    score = plan.views * pace.candidates_per_input() * pace.seconds_per_score() * test_inputs
    return plan.steps * pace.seconds_per_step() + decode + score


def fit_plan(ceiling: TttPlan, pace: TttPace, seconds: float, test_inputs: int = 1) -> TttPlan:
    """The plan that fits `seconds × SAFETY`: all the ceiling's views while training keeps at least
    half the ceiling's steps, fewer views otherwise, and at the last one view with what steps fit.
    The ceiling itself before the pace is measured (the phases' own deadlines still hold)."""
    if not pace.measured:
        return ceiling
    allowed = seconds * SAFETY
    per_step = pace.seconds_per_step()
    for views in range(ceiling.views, 0, -1):
        rest = allowed - plan_seconds(replace(ceiling, steps=0, views=views), pace, test_inputs)
        steps = min(ceiling.steps, int(rest / per_step)) if per_step > 0 else ceiling.steps
        if steps >= max(1, ceiling.steps // 2) or views == 1:
            return replace(ceiling, steps=max(0, steps), views=views)
    return replace(ceiling, steps=0, views=1)


LANE_TRAIN_TOKENS = 1024
"""Training tokens a GPU lane must hold beside the weights when the runtime plans lanes: one example of
a typical task; the batch then grows to what the card has free (`batch_for_memory`)."""


def training_bytes(config: Any, tokens: int) -> int:
    """Activation memory of training on `tokens` tokens: every layer's activations plus float32 logits
    and their gradient; 0 when the config does not say the model's size."""
    config = getattr(config, "text_config", None) or config
    hidden = int(getattr(config, "hidden_size", 0) or 0)
    layers = int(getattr(config, "num_hidden_layers", 0) or 0)
    vocab = int(getattr(config, "vocab_size", 0) or 0)
    return tokens * (layers * hidden * ACTIVATION_BYTES_PER_HIDDEN + vocab * 4 * 2)


def batch_for_memory(free_bytes: int | None, tokens: int, config: Any, ceiling: int) -> int:
    """The training batch that the lane's free memory holds for examples of `tokens` tokens: the
    activations of every layer plus float32 logits and their gradient. `ceiling` where memory is
    unknown (CPU), at least 1."""
    if not free_bytes or tokens <= 0:
        return max(1, ceiling)
    per_example = training_bytes(config, tokens)
    if per_example <= 0:
        return max(1, ceiling)
    return max(1, min(ceiling, int(free_bytes * MEMORY_SHARE // per_example)))


def pace_line(pace: TttPace) -> str:
    return (
        f"TTT pace: {pace.steps_per_second():.2f} steps/s, {pace.decode_tokens_per_second():.1f} decode tokens/s, "
        f"{pace.seconds_per_task():.1f} s per task over {len(pace.task_seconds)} tasks"
    )


def forecast_lines(
    ceiling: TttPlan, pace: TttPace, *, tasks_left: int, budget_s: float | None, lanes: int = 1
) -> list[str]:
    """Whole-run time for the ceiling and for smaller plans (half and a quarter of the steps and views),
    marked ✓ or ✗ against the budget when there is one."""
    lines: list[str] = []
    budget = f" in {format_duration(budget_s)}" if budget_s is not None else ""
    seen: set[TttPlan] = set()
    for share in (1.0, 0.5, 0.25):
        plan = replace(
            ceiling, steps=max(1, round(ceiling.steps * share)), views=max(1, round(ceiling.views * share))
        )
        if plan in seen:
            continue
        seen.add(plan)
        total = forecast_total_seconds(0.0, plan_seconds(plan, pace), tasks_left, lanes)
        mark = "" if budget_s is None else (" ✓" if total <= budget_s else " ✗")
        lines.append(
            f"TTT forecast for the {tasks_left} tasks left{budget}: {plan.describe()}: {format_duration(total)}{mark}"
        )
    return lines
