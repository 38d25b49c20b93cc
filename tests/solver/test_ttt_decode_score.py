"""Decoding and choosing attempts on a model whose probabilities are set by hand: the DFS sampler
returns exactly the completions above its threshold, greedy follows the argmax, and the
product-of-experts ranking sums the log-likelihood under every view."""

from __future__ import annotations

import itertools
import math
import time
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from arcforge_solver.engines.ttt.augment import Augmentation
from arcforge_solver.engines.ttt.decode import CachedStepper, dfs_sample, greedy
from arcforge_solver.engines.ttt.format import GridVocabulary, encode
from arcforge_solver.engines.ttt.model import AdapterSettings, TttModel
from arcforge_solver.engines.ttt.score import CandidatePool, product_of_experts
from arcforge_solver.tasks.model import Pair, to_grid

torch = pytest.importorskip("torch")
from tests.support.tiny_model import build_tokenizer  # noqa: E402

TOKENIZER = build_tokenizer()
VOCAB = GridVocabulary.from_tokenizer(TOKENIZER)
V = len(TOKENIZER)  # type: ignore[arg-type]
DEAD = -40.0
"""Logit of tokens the hand-set model never means to write (probability about e^-40)."""


class LengthCache:
    """A stand-in for transformers' DynamicCache: it only knows how many positions it holds, which is
    all a model whose logits depend on (previous token, position) needs; `crop` is how the sampler
    backtracks."""

    def __init__(self) -> None:
        self.length = 0
        self.crops: list[int] = []

    def crop(self, length: int) -> None:
        assert 0 <= length <= self.length
        self.crops.append(length)
        self.length = length


class TableModel(torch.nn.Module):
    """logits(next | prev, position) = bigram[prev] + position_bias[position]: fixed, hand-set."""

    def __init__(self, bigram: Any, position_bias: Any) -> None:
        super().__init__()
        self.bigram = torch.nn.Parameter(bigram, requires_grad=False)
        self.position_bias = torch.nn.Parameter(position_bias, requires_grad=False)
        self.calls = 0

    def forward(
        self, input_ids: Any, attention_mask: Any = None, use_cache: bool = False, **kwargs: Any
    ) -> Any:
        cache = kwargs.get("cache", kwargs.get("past_key_values"))
        start = cache.length if cache is not None else 0
        positions = kwargs.get("position_ids")
        if positions is None:
            positions = torch.arange(start, start + input_ids.shape[1]).unsqueeze(0)
        logits = self.bigram[input_ids] + self.position_bias[positions]
        self.calls += 1
        if use_cache:
            cache = cache if cache is not None else LengthCache()
            cache.length = start + input_ids.shape[1]
        return SimpleNamespace(logits=logits, cache=cache if use_cache else None)


def _table(seed: int, live: list[int], positions: int = 128, scale: float = 1.5) -> TableModel:
    generator = torch.Generator().manual_seed(seed)
    bigram = torch.full((V, V), DEAD)
    rows = torch.randn((V, len(live)), generator=generator) * scale
    for column, token in enumerate(live):
        bigram[:, token] = rows[:, column]
    position_bias = torch.zeros((positions, V))
    position_bias[:, live] = torch.randn((positions, len(live)), generator=generator) * 0.5
    return TableModel(bigram, position_bias)


def _logprob(model: TableModel, prefix: list[int], continuation: tuple[int, ...]) -> float:
    """The hand computation: sum of log softmax(bigram[prev] + bias[position]) along the sequence."""
    sequence = [*prefix, *continuation]
    total = 0.0
    for position in range(len(prefix) - 1, len(sequence) - 1):
        logits = (model.bigram[sequence[position]] + model.position_bias[position]).double()
        total += float(torch.log_softmax(logits, dim=-1)[sequence[position + 1]])
    return total


PROMPT = [VOCAB.digits[3], VOCAB.row_separator, *VOCAB.output_marker]
LIVE = [VOCAB.digits[1], VOCAB.digits[2], VOCAB.row_separator, VOCAB.eos]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_dfs_returns_exactly_the_completions_above_the_threshold(seed: int) -> None:
    model = _table(seed, LIVE)
    max_new, min_prob = 6, 0.01
    expected: dict[tuple[int, ...], float] = {}
    for length in range(max_new):
        for body in itertools.product(LIVE[:3], repeat=length):
            completion = (*body, VOCAB.eos)
            logprob = _logprob(model, PROMPT, completion)
            if logprob >= math.log(min_prob):
                expected[completion] = logprob
    assert len(expected) >= 3, "the hand-set table should leave several completions above the threshold"

    for answer_only in (False, True):  # the whole vocabulary's vector, or just the answer tokens'
        model.calls = 0
        stepper = CachedStepper(model, "cpu", VOCAB.answer_tokens if answer_only else None)
        found, stats = dfs_sample(
            stepper, PROMPT, VOCAB, min_prob=min_prob, max_new_tokens=max_new, rectangular=False
        )
        assert not stats.truncated
        assert {c.tokens for c in found} == set(expected)
        for completion in found:
            assert completion.logprob == pytest.approx(expected[completion.tokens], abs=1e-4)
        assert [c.logprob for c in found] == sorted((c.logprob for c in found), reverse=True)
        # One forward token per tree node: the cache is cropped, never rebuilt.
        assert stats.forward_tokens == len(PROMPT) + (model.calls - 1)


def test_the_grid_constraint_only_removes_answers_that_are_not_grids() -> None:
    model = _table(4, LIVE, scale=1.0)
    kwargs: dict[str, Any] = {"min_prob": 0.002, "max_new_tokens": 8}
    free, _ = dfs_sample(CachedStepper(model, "cpu"), PROMPT, VOCAB, rectangular=False, **kwargs)
    grids, _ = dfs_sample(CachedStepper(model, "cpu"), PROMPT, VOCAB, rectangular=True, **kwargs)
    valid = {c.tokens for c in free if VOCAB.decode_grid(c.tokens) is not None}
    assert {c.tokens for c in grids} == valid
    assert valid and len(valid) < len(free)


def _argmax_path(model: TableModel, limit: int) -> list[int]:
    """The hand computation of greedy: the most probable live token at each step."""
    tokens: list[int] = []
    while not tokens or (tokens[-1] != VOCAB.eos and len(tokens) < limit):
        sequence = [*PROMPT, *tokens]
        logits = model.bigram[sequence[-1]] + model.position_bias[len(sequence) - 1]
        tokens.append(max(LIVE, key=lambda t: float(logits[t])))
    return tokens


def test_greedy_follows_the_most_probable_token() -> None:
    ending = [seed for seed in range(40) if _argmax_path(_table(seed, LIVE), 12)[-1] == VOCAB.eos]
    endless = [seed for seed in range(40) if seed not in ending]
    assert ending and endless
    for seed in (ending[0], ending[1], endless[0]):
        model = _table(seed, LIVE)
        tokens = _argmax_path(model, 12)
        completion, stats = greedy(
            CachedStepper(model, "cpu"), PROMPT, VOCAB, max_new_tokens=12, rectangular=False
        )
        if tokens[-1] != VOCAB.eos:
            assert completion is None  # no end-of-sequence within the token budget: no answer
            continue
        assert completion is not None
        assert list(completion.tokens) == tokens
        assert completion.logprob == pytest.approx(_logprob(model, PROMPT, completion.tokens), abs=1e-4)
        assert stats.forward_tokens == len(PROMPT) + len(tokens) - 1
        # Asking only for the answer tokens' log-probabilities walks the same path with the same values.
        narrow, _ = greedy(
            CachedStepper(model, "cpu", VOCAB.answer_tokens),
            PROMPT,
            VOCAB,
            max_new_tokens=12,
            rectangular=False,
        )
        assert narrow is not None and narrow.tokens == completion.tokens
        assert narrow.logprob == pytest.approx(completion.logprob, abs=1e-5)


def test_greedy_then_dfs_share_the_prompts_cache() -> None:
    model = _table(1, LIVE)
    alone, _ = dfs_sample(CachedStepper(model, "cpu"), PROMPT, VOCAB, min_prob=0.01, max_new_tokens=6)
    stepper = CachedStepper(model, "cpu")
    greedy(stepper, PROMPT, VOCAB, max_new_tokens=6)
    calls = model.calls
    after, stats = dfs_sample(stepper, PROMPT, VOCAB, min_prob=0.01, max_new_tokens=6)
    assert [(c.tokens, round(c.logprob, 6)) for c in after] == [
        (c.tokens, round(c.logprob, 6)) for c in alone
    ]
    assert stats.forward_tokens == model.calls - calls  # one token per call: the prompt was not run again


def test_dfs_stops_at_its_deadline_and_its_completion_limit() -> None:
    model = _table(0, LIVE)
    _, late = dfs_sample(
        CachedStepper(model, "cpu"),
        PROMPT,
        VOCAB,
        min_prob=1e-6,
        max_new_tokens=8,
        deadline=time.monotonic() - 1,
    )
    assert late.truncated
    few, stats = dfs_sample(
        CachedStepper(model, "cpu"),
        PROMPT,
        VOCAB,
        min_prob=1e-6,
        max_new_tokens=8,
        max_completions=2,
        rectangular=False,
    )
    assert len(few) == 2 and stats.truncated


def _scorer(seed: int) -> TttModel:
    colours = [VOCAB.digits[c] for c in range(10)]
    model = _table(seed, [*colours, VOCAB.row_separator, VOCAB.eos], positions=512, scale=1.0)
    return TttModel(
        model=model, tokenizer=TOKENIZER, vocab=VOCAB, settings=AdapterSettings(mode="full"), device="cpu"
    )


def test_product_of_experts_ranks_by_the_summed_log_likelihood_of_every_view() -> None:
    train = (Pair(to_grid([[1, 2], [0, 1]]), to_grid([[2, 1], [0, 2]])), Pair(to_grid([[3]]), to_grid([[3]])))
    test_input = to_grid([[1, 0], [2, 2]])
    answers = [
        to_grid([[2, 0], [1, 1]]),
        to_grid([[1, 0], [2, 2]]),
        to_grid([[2, 0]]),
        to_grid([[5, 5], [5, 5]]),
    ]
    views = [Augmentation(), Augmentation(dihedral=1, colours=(0, 2, 1, 3, 4, 5, 6, 7, 8, 9), order=(1, 0))]
    disagreeing = None
    for seed in range(40):
        ttt = _scorer(seed)
        pool = CandidatePool()
        for answer in answers:
            pool.add(answer, "dfs")
        ranked = product_of_experts(ttt, train, test_input, pool.entries(), views)
        expected = []
        for answer in answers:
            per_view = []
            for view in views:
                encoded = encode(VOCAB, view.pairs(train), view.grid(test_input), view.grid(answer))
                per_view.append(_logprob(ttt.model, list(encoded.prompt), encoded.answer))
            expected.append(per_view)
        by_key = {a.tobytes() + bytes(a.shape): e for a, e in zip(answers, expected, strict=True)}
        for entry in ranked:
            assert entry.view_scores == pytest.approx(
                by_key[entry.grid.tobytes() + bytes(entry.grid.shape)], abs=1e-3
            )
        totals = [sum(e) for e in expected]
        assert np.array_equal(ranked[0].grid, answers[int(np.argmax(totals))])
        assert [r.score for r in ranked] == sorted((r.score for r in ranked), reverse=True)
        if int(np.argmax([e[0] for e in expected])) != int(np.argmax(totals)):
            disagreeing = seed
            break
    # Somewhere the identity view alone would pick another answer than the product does.
    assert disagreeing is not None


def test_a_pool_keeps_each_answer_once_with_every_origin() -> None:
    pool = CandidatePool()
    pool.add(to_grid([[1]]), "greedy", -2.0)
    pool.add(to_grid([[1]]), "dfs", -1.0)
    pool.add(to_grid([[1, 1]]), "search")
    assert len(pool) == 2
    entry = pool.entries()[0]
    assert entry.origins == {"greedy", "dfs"} and entry.found_logprob == -1.0
