"""Test-time training data: leave-one-out examples from a task's train pairs, under augmentations.

Each train pair in turn is the query and the other train pairs are its context, in every augmented view
of the task. Only `task.train` is read: test inputs and any test outputs never enter training.
"""

from __future__ import annotations

from collections.abc import Sequence

from arcforge_solver.engines.ttt.augment import Augmentation
from arcforge_solver.engines.ttt.format import Encoded, FormatError, GridVocabulary, encode, fit_context
from arcforge_solver.tasks.model import Task


def leave_one_out(
    task: Task, augmentations: Sequence[Augmentation], vocab: GridVocabulary, *, max_tokens: int
) -> list[Encoded]:
    """One example per (augmentation, train pair): the pair's output is the answer, the other pairs
    (as many as fit `max_tokens`) the context. Pairs whose query alone does not fit are skipped."""
    examples: list[Encoded] = []
    train = [pair for pair in task.train if pair.output is not None]
    for augmentation in augmentations:
        pairs = augmentation.pairs(train)
        for index, query in enumerate(pairs):
            assert query.output is not None
            others = pairs[:index] + pairs[index + 1 :]
            try:
                context = fit_context(
                    vocab,
                    others,
                    query.input,
                    max_tokens=max_tokens,
                    answer_tokens=vocab.grid_token_count(query.output) + 1,
                )
            except FormatError:
                continue
            examples.append(encode(vocab, context, query.input, query.output))
    return examples
