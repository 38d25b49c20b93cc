"""Test-time training: a few optimiser steps on one task's leave-one-out examples, loss on answers only.

The step count and batch size come from the engine's plan (the task's seconds, the lane's memory); the
loop also stops at its own deadline. An out-of-memory error halves the batch and goes on; at batch 1 it
is raised, and the engine ends its part of the task. `loss_start` and `loss_end` are the mean answer loss
over a fixed probe of the examples, measured before the first step and after the last, so they compare
like with like.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from arcforge_solver.engines.llm.backend import is_out_of_memory
from arcforge_solver.engines.ttt.format import Encoded
from arcforge_solver.engines.ttt.likelihood import answer_token_logprobs, collate, mean_answer_loss
from arcforge_solver.engines.ttt.model import TttModel

log = logging.getLogger(__name__)

PROBE_EXAMPLES = 8
"""Examples the start and end loss are measured on."""


@dataclass(frozen=True)
class TrainSettings:
    steps: int = 64
    batch_size: int = 4
    learning_rate: float = 1e-4
    warmup_share: float = 0.1
    max_seconds: float | None = None
    """Stop after this long even if steps remain."""
    seed: int = 0


@dataclass
class TrainReport:
    loss_start: float = math.nan
    loss_end: float = math.nan
    steps: int = 0
    examples: int = 0
    seconds: float = 0.0
    """Seconds in optimiser steps (the probe losses excluded): what steps/s is measured on."""
    tokens: int = 0
    batch_size: int = 0
    losses: list[float] = field(default_factory=list)
    stopped: str = ""
    """Why it ended before `steps`: "deadline", or empty."""


def _learning_rate(step: int, settings: TrainSettings) -> float:
    """Linear warm-up, then cosine decay to a tenth."""
    warmup = max(1, round(settings.steps * settings.warmup_share))
    if step < warmup:
        return settings.learning_rate * (step + 1) / warmup
    progress = (step - warmup) / max(1, settings.steps - warmup)
    return settings.learning_rate * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def train(
    ttt: TttModel,
    examples: Sequence[Encoded],
    settings: TrainSettings,
    *,
    on_step: Callable[[int, float], None] | None = None,
) -> TrainReport:
    """Fine-tune `ttt`'s trainable weights on `examples`; the model is left in eval mode."""
    import torch  # noqa: PLC0415

    report = TrainReport(examples=len(examples), batch_size=settings.batch_size)
    if not examples or settings.steps <= 0:
        return report
    if settings.max_seconds is not None and settings.max_seconds <= 0:
        report.stopped = "deadline"  # not even the probe losses: no time is left for any forward pass
        return report
    pad = ttt.tokenizer.pad_token_id if ttt.tokenizer.pad_token_id is not None else ttt.vocab.eos
    rng = random.Random(settings.seed)
    probe = list(examples) if len(examples) <= PROBE_EXAMPLES else rng.sample(list(examples), PROBE_EXAMPLES)
    report.loss_start = mean_answer_loss(ttt.model, probe, pad_id=pad, device=ttt.device, batch_size=4)
    torch.manual_seed(settings.seed)
    optimizer = torch.optim.AdamW(ttt.trainable(), lr=settings.learning_rate, weight_decay=0.0)
    scaler = _scaler(ttt)
    order: list[Encoded] = []
    batch_size = max(1, settings.batch_size)
    started = time.monotonic()
    ttt.model.train()
    try:
        for step in range(settings.steps):
            if settings.max_seconds is not None and time.monotonic() - started >= settings.max_seconds:
                report.stopped = "deadline"
                break
            while len(order) < batch_size:
                epoch = list(examples)
                rng.shuffle(epoch)
                order.extend(epoch)
            batch, order = order[:batch_size], order[batch_size:]
            for group in optimizer.param_groups:
                group["lr"] = _learning_rate(step, settings)
            try:
                loss = _step(ttt, optimizer, scaler, batch, pad)
            except (RuntimeError, MemoryError) as exc:
                if not is_out_of_memory(exc) or batch_size == 1:
                    raise
                optimizer.zero_grad(set_to_none=True)
                _release(torch)
                order = batch + order
                batch_size = max(1, batch_size // 2)
                report.batch_size = batch_size
                log.warning("TTT out of memory: batch %d now", batch_size)
                continue
            report.steps += 1
            report.tokens += sum(len(e.ids) for e in batch)
            report.losses.append(loss)
            if on_step is not None:
                on_step(step, loss)
    finally:
        report.seconds = time.monotonic() - started
        optimizer.zero_grad(set_to_none=True)
        ttt.model.eval()
    report.loss_end = mean_answer_loss(ttt.model, probe, pad_id=pad, device=ttt.device, batch_size=4)
    return report


def _scaler(ttt: TttModel) -> Any:
    """Loss scaling where the weights compute in float16 on a GPU (T4, V100: compute capability below
    8.0), so that small gradients through the frozen half-precision layers do not underflow to zero.
    The LoRA weights themselves are float32 (peft's default), which loss scaling needs; a full
    fine-tune in float16 has float16 weights and cannot be unscaled, so it trains unscaled."""
    import torch  # noqa: PLC0415

    device = getattr(ttt.device, "type", str(ttt.device))
    trainable_fp32 = all(p.dtype == torch.float32 for p in ttt.trainable())
    enabled = ttt.dtype == "float16" and device == "cuda" and trainable_fp32
    return torch.amp.GradScaler(device if device in ("cuda", "cpu") else "cpu", enabled=enabled)


def _step(ttt: TttModel, optimizer: Any, scaler: Any, batch: Sequence[Encoded], pad: int) -> float:
    import torch  # noqa: PLC0415

    sums, counts = answer_token_logprobs(ttt.model, collate(batch, pad, ttt.device))
    loss: Any = -sums.sum() / counts.sum().clamp(min=1)
    scaler.scale(loss).backward()
    scaler.unscale_(optimizer)  # clip the true gradients, not the scaled ones
    torch.nn.utils.clip_grad_norm_(ttt.trainable(), 1.0)
    scaler.step(optimizer)  # skips the step when float16 gradients overflowed
    scaler.update()
    optimizer.zero_grad(set_to_none=True)
    return float(loss.detach())


def _release(torch: object) -> None:
    cuda = getattr(torch, "cuda", None)
    if cuda is not None and cuda.is_available():
        cuda.empty_cache()
