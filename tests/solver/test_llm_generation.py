"""Batched generation with the tiny model: many prompts per pass, samples per prompt, OOM retries."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from arcforge_solver.engines.llm.backend import (
    Completion,
    GenerationRequest,
    GenerationStats,
    TransformersBackend,
    is_out_of_memory,
    open_backend,
)
from arcforge_solver.engines.llm.loading import LoadedModel, load_model
from tests.support.tiny_model import build_tiny_model

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> LoadedModel:
    return load_model(build_tiny_model(tmp_path_factory.mktemp("tiny-gen")))


def _prompts(backend: TransformersBackend, contents: Sequence[str]) -> list[str]:
    return [backend.render(c) for c in contents]


def test_render_uses_the_chat_template(loaded: LoadedModel) -> None:
    backend = TransformersBackend(loaded)
    text = backend.render("write solve(grid)")
    assert text.startswith("<bos><|im_start|>user\nwrite solve(grid)<|im_end|>")
    assert text.endswith("<|im_start|>assistant\n")


def test_batched_generation_returns_samples_per_prompt(loaded: LoadedModel) -> None:
    backend = TransformersBackend(loaded, max_batch_sequences=16)
    prompts = _prompts(backend, ["short", "a much longer prompt " * 5, "mid length prompt"])
    completions, stats = backend.generate(GenerationRequest(prompts, samples=2, max_new_tokens=12, seed=3))
    assert len(completions) == 6
    assert sorted(c.prompt_index for c in completions) == [0, 0, 1, 1, 2, 2]
    assert all(0 <= c.new_tokens <= 12 for c in completions)
    assert stats.prompts == 3
    assert stats.new_tokens == sum(c.new_tokens for c in completions) > 0
    assert stats.prompt_tokens > 0
    assert stats.oom_retries == 0


def test_same_seed_same_text_left_padding_does_not_change_a_row(loaded: LoadedModel) -> None:
    backend = TransformersBackend(loaded)
    short, long = _prompts(backend, ["ab", "a long prompt that forces padding on the short one " * 3])
    greedy = {"samples": 1, "max_new_tokens": 10, "temperature": 0.0}
    alone, _ = backend.generate(GenerationRequest([short], **greedy))
    batched, _ = backend.generate(GenerationRequest([long, short], **greedy))
    assert batched[1].text == alone[0].text  # left padding + attention mask: the row continues unchanged
    again, _ = backend.generate(GenerationRequest([long, short], **greedy))
    assert [c.text for c in again] == [c.text for c in batched]


def test_more_samples_than_a_batch_holds_are_generated_in_rounds(loaded: LoadedModel) -> None:
    backend = TransformersBackend(loaded, max_batch_sequences=4)
    prompts = _prompts(backend, ["one", "two"])
    completions, _ = backend.generate(GenerationRequest(prompts, samples=6, max_new_tokens=4))
    assert [sum(1 for c in completions if c.prompt_index == i) for i in (0, 1)] == [6, 6]


class _OomAboveBackend(TransformersBackend):
    """Raises the CUDA out-of-memory error for batches larger than `limit` rows, like a small GPU."""

    limit: int = 2
    rows_seen: list[int]

    def _generate_chunk(
        self, request: GenerationRequest, indices: Sequence[int], **kwargs: Any
    ) -> list[Completion]:
        rows = len(indices) * kwargs["samples"]
        self.rows_seen.append(rows)
        if rows > self.limit:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return super()._generate_chunk(request, indices, **kwargs)


def test_out_of_memory_halves_the_batch_and_finishes(loaded: LoadedModel) -> None:
    backend = _OomAboveBackend(loaded, max_batch_sequences=16)
    backend.rows_seen = []
    prompts = _prompts(backend, ["p1", "p2", "p3", "p4"])
    completions, stats = backend.generate(GenerationRequest(prompts, samples=2, max_new_tokens=4))
    assert len(completions) == 8
    assert stats.oom_retries >= 2
    assert backend.max_batch_sequences == 2
    assert max(backend.rows_seen[-1:]) <= 2


def test_out_of_memory_at_one_row_gives_up_on_that_prompt_only(loaded: LoadedModel) -> None:
    backend = _OomAboveBackend(loaded, max_batch_sequences=1)
    backend.limit = 0
    backend.rows_seen = []
    completions, stats = backend.generate(
        GenerationRequest(_prompts(backend, ["p"]), samples=1, max_new_tokens=64)
    )
    assert completions == []
    assert stats.oom_retries >= 2  # halved the token budget before giving up


def test_is_out_of_memory_recognises_cpu_and_cuda_errors() -> None:
    assert is_out_of_memory(torch.OutOfMemoryError("CUDA out of memory"))
    assert is_out_of_memory(RuntimeError("[enforce fail] DefaultCPUAllocator: can't allocate memory: 8 GB"))
    assert is_out_of_memory(MemoryError())
    assert not is_out_of_memory(RuntimeError("shape mismatch"))
    assert not is_out_of_memory(ValueError("out of memory"))


def test_should_stop_ends_generation_early(loaded: LoadedModel) -> None:
    backend = TransformersBackend(loaded)
    calls = {"n": 0}

    def stop() -> bool:
        calls["n"] += 1
        return calls["n"] > 3

    completions, stats = backend.generate(
        GenerationRequest(
            _prompts(backend, ["x"]), samples=1, max_new_tokens=200, temperature=0.0, should_stop=stop
        )
    )
    assert stats.new_tokens < 50
    assert isinstance(stats, GenerationStats)
    assert all(c.new_tokens < 50 for c in completions)


def test_open_backend_picks_transformers_on_cpu(tmp_path: Path) -> None:
    backend = open_backend(str(build_tiny_model(tmp_path / "m")), max_batch_sequences=8)
    assert backend.name == "transformers"
    assert backend.count_tokens("def solve(grid):") == len("def solve(grid):")  # byte-level tokenizer
