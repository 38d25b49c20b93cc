"""Choosing attempts: every distinct candidate answer is scored by its log-likelihood under every
augmented view of the task, and the views' scores are summed (a product of experts, the ARChitects'
`mul_aug_prob` ranking). An answer that is right stays likely whichever way the task is turned or
recoloured; a lucky completion under one view seldom does.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from arcforge_solver.engines.ttt.augment import Augmentation
from arcforge_solver.engines.ttt.format import Encoded, FormatError, GridVocabulary, encode, fit_context
from arcforge_solver.engines.ttt.likelihood import answer_log_likelihoods
from arcforge_solver.engines.ttt.model import TttModel
from arcforge_solver.tasks.model import Grid, Pair


@dataclass(eq=False)  # compared by identity: a grid has no truth value for ==
class Scored:
    """One distinct candidate answer for one test input, in the task's own orientation and colours."""

    grid: Grid
    origins: set[str] = field(default_factory=set)
    """Where it came from: "greedy", "dfs", "search"."""
    found_logprob: float = float("-inf")
    """The best log-probability it was decoded with (under the view that found it)."""
    view_scores: list[float] = field(default_factory=list)
    """Its log-likelihood under each scoring view."""

    @property
    def score(self) -> float:
        return float(sum(self.view_scores)) if self.view_scores else self.found_logprob

    def key(self) -> tuple[tuple[int, ...], bytes]:
        return grid_key(self.grid)


def grid_key(grid: Grid) -> tuple[tuple[int, ...], bytes]:
    array = np.ascontiguousarray(np.asarray(grid, dtype=np.int8))
    return tuple(array.shape), array.tobytes()


class CandidatePool:
    """Distinct answers for one test input, each remembered once with every origin it had."""

    def __init__(self) -> None:
        self.by_key: dict[tuple[tuple[int, ...], bytes], Scored] = {}

    def add(self, grid: Grid, origin: str, logprob: float = float("-inf")) -> Scored:
        key = grid_key(grid)
        entry = self.by_key.get(key)
        if entry is None:
            entry = self.by_key[key] = Scored(np.asarray(grid, dtype=np.int8))
        entry.origins.add(origin)
        entry.found_logprob = max(entry.found_logprob, logprob)
        return entry

    def __len__(self) -> int:
        return len(self.by_key)

    def entries(self) -> list[Scored]:
        return list(self.by_key.values())


def view_examples(
    vocab: GridVocabulary,
    train: Sequence[Pair],
    test_input: Grid,
    answers: Sequence[Grid],
    view: Augmentation,
    *,
    max_tokens: int,
) -> list[Encoded]:
    """Each answer as the output of `test_input` under `view`, after the view's train pairs."""
    pairs = view.pairs(train)
    query = view.grid(test_input)
    largest = max(vocab.grid_token_count(view.grid(a)) for a in answers) + 1
    context = fit_context(vocab, pairs, query, max_tokens=max_tokens, answer_tokens=largest)
    return [encode(vocab, context, query, view.grid(answer)) for answer in answers]


def product_of_experts(
    ttt: TttModel,
    train: Sequence[Pair],
    test_input: Grid,
    candidates: Sequence[Scored],
    views: Sequence[Augmentation],
    *,
    batch_size: int = 8,
    deadline: float | None = None,
) -> list[Scored]:
    """`candidates` with their per-view log-likelihoods filled in, best (highest sum) first. A view
    that cannot hold the task is skipped for every candidate alike, so sums stay comparable; so are the
    views left when monotonic time passes `deadline` (at least one view is always scored)."""
    if not candidates:
        return []
    pad = ttt.tokenizer.pad_token_id if ttt.tokenizer.pad_token_id is not None else ttt.vocab.eos
    for candidate in candidates:
        candidate.view_scores = []
    for number, view in enumerate(views):
        if number and deadline is not None and time.monotonic() >= deadline:
            break
        try:
            examples = view_examples(
                ttt.vocab, train, test_input, [c.grid for c in candidates], view, max_tokens=ttt.max_tokens
            )
        except FormatError:
            continue
        scores = answer_log_likelihoods(
            ttt.model, examples, pad_id=pad, device=ttt.device, batch_size=batch_size
        )
        for candidate, score in zip(candidates, scores, strict=True):
            candidate.view_scores.append(score)
    return rank(candidates)


def rank(candidates: Sequence[Scored]) -> list[Scored]:
    """Highest summed score first; ties go to the candidate decoded with the higher probability."""
    return sorted(candidates, key=lambda c: (-c.score, -c.found_logprob))
