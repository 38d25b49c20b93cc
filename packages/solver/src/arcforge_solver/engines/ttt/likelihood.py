"""Batches of encoded sequences and the log-likelihood of their answers: the loss that test-time
training lowers and the score that ranks candidates are the same quantity.

Rows are left-padded, so every answer ends at the last position, with position ids counted from each
row's first real token. The model is then asked for logits of the last positions only (transformers'
`logits_to_keep`): with a 150k-token vocabulary, logits of a whole 8k-token prompt would take more
memory than the model itself.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

from arcforge_solver.engines.ttt.format import Encoded

IGNORE = -100
"""The label that tells the loss to skip a position (prompt and padding)."""


def collate(examples: Sequence[Encoded], pad_id: int, device: Any) -> dict[str, Any]:
    """Left-padded `input_ids`, `attention_mask`, `position_ids`, and `labels` that are the answer
    tokens only."""
    import torch  # noqa: PLC0415

    width = max(len(e.ids) for e in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    labels = torch.full((len(examples), width), IGNORE, dtype=torch.long)
    for row, example in enumerate(examples):
        offset = width - len(example.ids)
        ids[row, offset:] = torch.tensor(example.ids, dtype=torch.long)
        mask[row, offset:] = 1
        labels[row, offset + example.answer_start :] = ids[row, offset + example.answer_start :]
    positions = (mask.cumsum(dim=1) - 1).clamp(min=0)
    return {
        "input_ids": ids.to(device),
        "attention_mask": mask.to(device),
        "position_ids": positions.to(device),
        "labels": labels.to(device),
    }


_KEEP_KEYWORDS: dict[type[Any], str | None] = {}


def _keep_keyword(model_class: type[Any]) -> str | None:
    """The argument that limits which positions get logits: `logits_to_keep` (transformers 4.50 on),
    `num_logits_to_keep` (4.45-4.49), or None for a model without one."""
    if model_class not in _KEEP_KEYWORDS:
        forward = getattr(model_class, "forward", None)
        try:
            names = set(inspect.signature(forward).parameters) if forward is not None else set()
        except (TypeError, ValueError):
            names = set()
        found = [name for name in ("logits_to_keep", "num_logits_to_keep") if name in names]
        _KEEP_KEYWORDS[model_class] = found[0] if found else None
    return _KEEP_KEYWORDS[model_class]


def keep_kwargs(model: Any, keep: int) -> dict[str, int]:
    """`{keyword: keep}` for `model` (a peft wrapper is looked through), or {} when it has none."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    keyword = _keep_keyword(type(base))
    return {keyword: keep} if keyword else {}


def answer_token_logprobs(model: Any, batch: dict[str, Any]) -> Any:
    """Per row, the summed log-probability of its labelled tokens (a float tensor) and their count."""
    import torch  # noqa: PLC0415

    labels = batch["labels"]
    answer = int((labels != IGNORE).sum(dim=1).max())
    keep = min(labels.shape[1], answer + 1)
    logits = model(
        input_ids=batch["input_ids"],
        attention_mask=batch["attention_mask"],
        position_ids=batch["position_ids"],
        use_cache=False,
        **keep_kwargs(model, keep),
    ).logits[:, -keep:]
    # Logits at position t predict token t + 1: the last `keep - 1` tokens are the ones scored.
    targets = labels[:, labels.shape[1] - keep + 1 :]
    logprobs = torch.log_softmax(logits[:, :-1].float(), dim=-1)
    scored = targets != IGNORE
    picked = logprobs.gather(-1, targets.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    return (picked * scored).sum(dim=1), scored.sum(dim=1)


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
