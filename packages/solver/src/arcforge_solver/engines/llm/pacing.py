"""Generation under a deadline, whatever the backend: batches, token budgets from the measured decode pace,
and a check of the clock between batches.

A backend whose `generate` cannot be interrupted mid-call (vLLM's `LLM.generate`) is bounded before it
starts: `DecodePace` measures seconds per decoding step on the batches so far, and `token_budget` gives a
batch no more new tokens than the time left allows. `generate_in_batches` sends the prompts a batch at a
time and stops starting batches once the deadline has passed or `should_stop` says so. The transformers
backend uses the same budget and also stops inside a batch (a stopping criterion).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

MIN_BATCH_TOKENS = 16
"""A batch that may generate fewer new tokens than this is not started: no program fits in it."""
PACE_SAFETY = 0.8
"""Share of the time left a batch is planned to take: decoding slows as the KV cache grows."""


@dataclass
class DecodePace:
    """Seconds per decoding step, measured on whole batches (prefill included, so it errs on the slow side)."""

    steps: int = 0
    seconds: float = 0.0

    def record(self, steps: int, seconds: float) -> None:
        if steps > 0 and seconds > 0:
            self.steps += steps
            self.seconds += seconds

    def seconds_per_step(self) -> float | None:
        return self.seconds / self.steps if self.steps else None

    def token_budget(self, requested: int, seconds_left: float | None) -> int:
        """New tokens the next batch may generate: `requested`, cut to what fits the time left once the
        pace is known; 0 when not even MIN_BATCH_TOKENS fit."""
        if seconds_left is None:
            return requested
        if seconds_left <= 0:
            return 0
        per_step = self.seconds_per_step()
        if per_step is None:
            return requested
        fits = int(seconds_left * PACE_SAFETY / per_step)
        budget = min(requested, fits)
        return budget if budget >= MIN_BATCH_TOKENS else 0


Row = tuple[int, str, int]
"""One sample: (prompt index, text, new tokens)."""


def generate_in_batches(
    prompt_count: int,
    batch_prompts: int,
    *,
    max_new_tokens: int,
    max_seconds: float | None,
    should_stop: Callable[[], bool] | None,
    pace: DecodePace,
    run_batch: Callable[[Sequence[int], int], list[Row]],
    clock: Callable[[], float] = time.monotonic,
) -> tuple[list[Row], int]:
    """Run `run_batch(prompt indices, max new tokens)` over the prompts, `batch_prompts` at a time, while the
    deadline allows; return every row produced and how many prompts were never sent."""
    started = clock()
    rows: list[Row] = []
    indices = list(range(prompt_count))
    step = max(1, batch_prompts)
    sent = 0
    while sent < len(indices):
        if should_stop is not None and should_stop():
            break
        left = None if max_seconds is None else max_seconds - (clock() - started)
        tokens = pace.token_budget(max_new_tokens, left)
        if tokens <= 0:
            break
        chunk = indices[sent : sent + step]
        batch_started = clock()
        produced = run_batch(chunk, tokens)
        longest = max((row[2] for row in produced), default=0)
        pace.record(longest, clock() - batch_started)
        rows.extend(produced)
        sent += len(chunk)
    return rows, len(indices) - sent
