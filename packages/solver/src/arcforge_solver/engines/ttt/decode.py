"""Decoding answers: greedy, and the depth-first sampler that keeps every completion whose cumulative
probability stays above a threshold (the ARChitects' DFS, "The LLM ARChitect", 2024).

Both walk the model one token at a time over a key-value cache. The DFS shares one cache for the whole
tree and crops it back to a node's length before it extends that node with another child, so each
forward pass costs one token. Children are tried most probable first, so the first completion found is
the greedy one; a branch is abandoned as soon as its log-probability falls below `log(min_prob)`, so the
tree explored is exactly the set of prefixes above the threshold. Probabilities are the model's own over
its whole vocabulary; only answer tokens (digits, row separator, end-of-sequence) are ever followed, and
with `rectangular=True` a row may not outgrow the first one and ends only at its width, so no ragged
grid is ever expanded. The walk is iterative (answers run to 931 tokens) and stops at a deadline.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from arcforge_solver.engines.ttt.format import MAX_SIDE, GridVocabulary
from arcforge_solver.engines.ttt.likelihood import keep_kwargs


@dataclass(frozen=True)
class Completion:
    tokens: tuple[int, ...]
    """The answer tokens, ending with end-of-sequence."""
    logprob: float


@dataclass
class DecodeStats:
    forward_tokens: int = 0
    seconds: float = 0.0
    truncated: bool = False
    """The deadline or the completion limit ended the walk before the tree was exhausted."""


def cache_keyword() -> str:
    """transformers 5 renamed the `past_key_values` argument and output to `cache`; older releases
    know only the old name."""
    try:
        from transformers.modeling_outputs import CausalLMOutputWithPast  # noqa: PLC0415
    except ImportError:
        return "past_key_values"
    return (
        "cache"
        if "cache" in getattr(CausalLMOutputWithPast, "__dataclass_fields__", {})
        else "past_key_values"
    )


def _output_cache(out: Any) -> Any:
    cache = getattr(out, "cache", None)
    return cache if cache is not None else out.past_key_values


class CachedStepper:
    """Next-token log-probabilities along one sequence, extended and cut back over a KV cache.

    With `tokens`, each step returns {token: log-probability} for those tokens only (still normalised
    over the whole vocabulary): on a GPU that moves a dozen numbers to the host per step, not the
    vocabulary's 150k. Without, the whole vector (a CPU tensor). A stepper serves one state of the
    model's weights: make a new one after training."""

    def __init__(self, model: Any, device: Any, tokens: Sequence[int] | None = None) -> None:
        self.model = model
        self.device = device
        self.tokens = list(tokens) if tokens is not None else None
        self._index: Any = None
        self._prompt: tuple[int, ...] | None = None
        self._first: Any = None
        self.cache: Any = None
        self.length = 0
        self.forward_tokens = 0
        self.keyword = cache_keyword()

    def start(self, prompt: Sequence[int]) -> Any:
        """Run the prompt; return the log-probabilities of the token after it. The same prompt again
        (greedy, then the DFS) costs nothing: the cache still holds it, and `extend` cuts back to it."""
        import torch  # noqa: PLC0415

        key = tuple(prompt)
        if key == self._prompt and self.cache is not None:
            return self._first
        self.cache = None
        with torch.no_grad():
            out = self.model(
                input_ids=torch.tensor([list(prompt)], dtype=torch.long, device=self.device),
                use_cache=True,
                **keep_kwargs(self.model, 1),  # the prompt's last position only: no 8k × vocab logits
            )
        self.cache = _output_cache(out)
        self.length = len(prompt)
        self.forward_tokens += len(prompt)
        self._prompt, self._first = key, self._logprobs(out.logits[0, -1])
        return self._first

    def extend(self, length: int, token: int) -> Any:
        """Cut the sequence back to its first `length` tokens, append `token`, return the next
        log-probabilities."""
        import torch  # noqa: PLC0415

        if length < self.length:
            self.cache.crop(length)
        elif length > self.length:
            raise ValueError(f"cannot extend at {length}: the cache holds {self.length} tokens")
        with torch.no_grad():
            out = self.model(
                input_ids=torch.tensor([[token]], dtype=torch.long, device=self.device),
                use_cache=True,
                **{self.keyword: self.cache},
            )
        self.cache = _output_cache(out)
        self.length = length + 1
        self.forward_tokens += 1
        return self._logprobs(out.logits[0, -1])

    def _logprobs(self, logits: Any) -> Any:
        import torch  # noqa: PLC0415

        logprobs = torch.log_softmax(logits.float(), dim=-1)
        if self.tokens is None:
            return logprobs.cpu()
        if self._index is None:
            self._index = torch.tensor(self.tokens, dtype=torch.long, device=logprobs.device)
        return dict(zip(self.tokens, logprobs[self._index].tolist(), strict=True))


@dataclass
class _RowShape:
    """Where an answer is in its grid: the first row's width once known, cells in the current row."""

    width: int | None = None
    column: int = 0
    rows: int = 0

    def allows(self, token: int, vocab: GridVocabulary) -> bool:
        if token == vocab.eos:
            return self.rows >= 1 and self.column == 0
        if token == vocab.row_separator:
            return (
                self.column >= 1
                and (self.width is None or self.column == self.width)
                and self.rows < MAX_SIDE
            )
        limit = self.width if self.width is not None else MAX_SIDE
        return self.column < limit and self.rows < MAX_SIDE

    def after(self, token: int, vocab: GridVocabulary) -> _RowShape:
        if token == vocab.row_separator:
            return _RowShape(self.width if self.width is not None else self.column, 0, self.rows + 1)
        if token == vocab.eos:
            return self
        return _RowShape(self.width, self.column + 1, self.rows)


def _children(logprobs: Any, vocab: GridVocabulary, shape: _RowShape | None) -> list[tuple[float, int]]:
    """(log-probability, token) of the answer tokens allowed here, most probable first."""
    options = [
        (float(logprobs[token]), token)
        for token in vocab.answer_tokens
        if shape is None or shape.allows(token, vocab)
    ]
    options.sort(key=lambda item: (-item[0], item[1]))
    return options


def greedy(
    stepper: CachedStepper,
    prompt: Sequence[int],
    vocab: GridVocabulary,
    *,
    max_new_tokens: int,
    rectangular: bool = True,
    deadline: float | None = None,
) -> tuple[Completion | None, DecodeStats]:
    """The most probable answer token at every step, until end-of-sequence."""
    stats = DecodeStats()
    started = time.monotonic()
    before = stepper.forward_tokens
    logprobs = stepper.start(prompt)
    tokens: list[int] = []
    total = 0.0
    shape: _RowShape | None = _RowShape() if rectangular else None
    completion: Completion | None = None
    while len(tokens) < max_new_tokens:
        if deadline is not None and time.monotonic() >= deadline:
            stats.truncated = True
            break
        options = _children(logprobs, vocab, shape)
        if not options:
            break
        logprob, token = options[0]
        tokens.append(token)
        total += logprob
        if token == vocab.eos:
            completion = Completion(tuple(tokens), total)
            break
        if shape is not None:
            shape = shape.after(token, vocab)
        logprobs = stepper.extend(len(prompt) + len(tokens) - 1, token)
    stats.forward_tokens = stepper.forward_tokens - before
    stats.seconds = time.monotonic() - started
    return completion, stats


@dataclass
class _Frame:
    depth: int
    logprob: float
    shape: _RowShape | None
    options: list[tuple[float, int]]
    next_option: int = 0


def dfs_sample(
    stepper: CachedStepper,
    prompt: Sequence[int],
    vocab: GridVocabulary,
    *,
    min_prob: float,
    max_new_tokens: int,
    max_completions: int = 64,
    rectangular: bool = True,
    deadline: float | None = None,
) -> tuple[list[Completion], DecodeStats]:
    """Every answer whose probability is at least `min_prob`, most probable first. A prefix is expanded
    only while its own probability is at least `min_prob` (probabilities only shrink as it grows), so
    the result is exact unless `stats.truncated` says the deadline or `max_completions` cut it short."""
    if not 0.0 < min_prob <= 1.0:
        raise ValueError(f"min_prob must be in (0, 1], not {min_prob}")
    threshold = math.log(min_prob)
    stats = DecodeStats()
    started = time.monotonic()
    before = stepper.forward_tokens
    found: list[Completion] = []
    path: list[int] = []
    first = stepper.start(prompt)
    root_shape = _RowShape() if rectangular else None
    stack = [_Frame(0, 0.0, root_shape, _children(first, vocab, root_shape))]
    while stack:
        if deadline is not None and time.monotonic() >= deadline:
            stats.truncated = True
            break
        frame = stack[-1]
        if frame.next_option >= len(frame.options):
            stack.pop()
            if path:
                path.pop()
            continue
        logprob, token = frame.options[frame.next_option]
        frame.next_option += 1
        total = frame.logprob + logprob
        if total < threshold:
            # Options are sorted: every later sibling is below the threshold too.
            frame.next_option = len(frame.options)
            continue
        if token == vocab.eos:
            found.append(Completion((*path, token), total))
            if len(found) >= max_completions:
                stats.truncated = True
                break
            continue
        if frame.depth + 1 >= max_new_tokens:
            continue  # no room left for end-of-sequence
        shape = frame.shape.after(token, vocab) if frame.shape is not None else None
        logprobs = stepper.extend(len(prompt) + frame.depth, token)
        path.append(token)
        stack.append(_Frame(frame.depth + 1, total, shape, _children(logprobs, vocab, shape)))
    stats.forward_tokens = stepper.forward_tokens - before
    stats.seconds = time.monotonic() - started
    found.sort(key=lambda c: -c.logprob)
    return found, stats
