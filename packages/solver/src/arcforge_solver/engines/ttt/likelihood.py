"""Batches of encoded sequences and the log-likelihood of their answers: the loss that test-time
training lowers and the score that ranks candidates are the same quantity."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from arcforge_solver.engines.ttt.format import Encoded

IGNORE = -100
"""The label that tells the loss to skip a position (prompt and padding)."""


def collate(examples: Sequence[Encoded], pad_id: int, device: Any) -> dict[str, Any]:
    """Right-padded `input_ids`, `attention_mask` and `labels` that are the answer tokens only."""
    import torch  # noqa: PLC0415

    width = max(len(e.ids) for e in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE, dtype=torch.long)
    for row, example in enumerate(examples):
        length = len(example.ids)
        ids[row, :length] = torch.tensor(example.ids, dtype=torch.long)
        mask[row, :length] = 1
        labels[row, example.answer_start : length] = ids[row, example.answer_start : length]
    return {"input_ids": ids.to(device), "attention_mask": mask.to(device), "labels": labels.to(device)}


def answer_token_logprobs(model: Any, batch: dict[str, Any]) -> Any:
    """Per row, the summed log-probability of its labelled tokens (a float tensor) and the count of them."""
    import torch  # noqa: PLC0415

    logits = model(
        input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], use_cache=False
    ).logits
    targets = batch["labels"][:, 1:]
    logprobs = torch.log_softmax(logits[:, :-1].float(), dim=-1)
    keep = targets != IGNORE
    picked = logprobs.gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    return (picked * keep).sum(dim=1), keep.sum(dim=1)


def answer_log_likelihoods(
    model: Any, examples: Sequence[Encoded], *, pad_id: int, device: Any, batch_size: int = 8
) -> list[float]:
    """The log-probability of each example's answer given its prompt, without gradients."""
    import torch  # noqa: PLC0415

    scores: list[float] = []
    with torch.no_grad():
        for start in range(0, len(examples), max(1, batch_size)):
            chunk = examples[start : start + max(1, batch_size)]
            totals, _ = answer_token_logprobs(model, collate(chunk, pad_id, device))
            scores.extend(float(v) for v in totals.cpu())
    return scores


def mean_answer_loss(
    model: Any, examples: Sequence[Encoded], *, pad_id: int, device: Any, batch_size: int = 8
) -> float:
    """Mean negative log-likelihood per answer token over `examples` (the training loss, measured)."""
    import torch  # noqa: PLC0415

    total, count = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(examples), max(1, batch_size)):
            chunk = examples[start : start + max(1, batch_size)]
            sums, counts = answer_token_logprobs(model, collate(chunk, pad_id, device))
            total -= float(sums.sum())
            count += int(counts.sum())
    return total / count if count else 0.0
