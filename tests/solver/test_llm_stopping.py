"""Generation ends where it must on real GPUs: at the chat template's end-of-turn token, at the task's
deadline (transformers inside a batch, any backend between batches), and with prompts sized to the model's
context window."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from arcforge_solver.engines.llm.backend import (
    GenerationRequest,
    TransformersBackend,
    past_deadline,
    stop_token_ids,
)
from arcforge_solver.engines.llm.llm_engine import prompt_budget
from arcforge_solver.engines.llm.loading import (
    GPU_OVERHEAD_BYTES,
    LoadedModel,
    kv_bytes_per_token,
    load_model,
    read_config,
    replica_bytes,
)
from arcforge_solver.engines.llm.pacing import MIN_BATCH_TOKENS, DecodePace, Row, generate_in_batches
from arcforge_solver.engines.llm.prompts import context_window, end_of_turn_ids
from tests.support.tiny_model import build_tiny_model, build_tokenizer

torch = pytest.importorskip("torch")

# Gemma's chat template, as google/gemma-7b-it and codegemma-7b-it ship it (tokenizer_config.json), less
# its refusal of system turns: the turn ends in <end_of_turn>, which is not the tokenizer's eos (<eos>).
GEMMA_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}"
    "{% if message['role'] == 'assistant' %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif %}"
    "{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<start_of_turn>model\n' }}{% endif %}"
)


def _gemma_style(tokenizer: Any) -> Any:
    """The tiny byte-level tokenizer with Gemma's turn tokens and template; eos stays `<eos>`."""
    tokenizer.add_special_tokens({"additional_special_tokens": ["<start_of_turn>", "<end_of_turn>"]})
    tokenizer.chat_template = GEMMA_TEMPLATE
    return tokenizer


def test_end_of_turn_comes_from_the_chat_template_not_the_eos() -> None:
    tokenizer = _gemma_style(build_tokenizer())
    end_of_turn = tokenizer.convert_tokens_to_ids("<end_of_turn>")
    assert end_of_turn != tokenizer.eos_token_id
    assert end_of_turn_ids(tokenizer) == [end_of_turn]
    # The model's generation config names only <eos>, as Gemma's does (eos_token_id 1; <end_of_turn> is 107).
    config = type("GenerationConfig", (), {"eos_token_id": tokenizer.eos_token_id})()
    assert stop_token_ids(config, tokenizer) == [tokenizer.eos_token_id, end_of_turn]


def test_chatml_and_template_free_tokenizers() -> None:
    chatml = build_tokenizer()  # the tiny model's ChatML template closes turns with <|im_end|>
    assert end_of_turn_ids(chatml) == [chatml.convert_tokens_to_ids("<|im_end|>")]
    plain = build_tokenizer()
    plain.chat_template = None
    assert end_of_turn_ids(plain) == []


@pytest.fixture(scope="module")
def gemma_loaded(tmp_path_factory: pytest.TempPathFactory) -> LoadedModel:
    """The tiny model with a Gemma-style tokenizer whose output layer always picks <end_of_turn>."""
    loaded = load_model(build_tiny_model(tmp_path_factory.mktemp("tiny-eot")))
    tokenizer = _gemma_style(loaded.tokenizer)
    model = loaded.model
    model.resize_token_embeddings(len(tokenizer), mean_resizing=False)
    model.generation_config.eos_token_id = tokenizer.eos_token_id  # eos only, like Gemma's config
    end_of_turn = tokenizer.convert_tokens_to_ids("<end_of_turn>")
    head = torch.nn.Linear(model.config.hidden_size, len(tokenizer), bias=True)
    with torch.no_grad():
        head.weight.zero_()
        head.bias.fill_(-10.0)
        head.bias[end_of_turn] = 10.0
    model.lm_head = head  # a model that answers with end-of-turn at once
    return loaded


def _forward_calls(model: Any) -> list[int]:
    calls: list[int] = []
    model.register_forward_hook(lambda *_: calls.append(1))
    return calls


def test_generation_stops_at_end_of_turn(gemma_loaded: LoadedModel) -> None:
    backend = TransformersBackend(gemma_loaded)
    calls = _forward_calls(gemma_loaded.model)
    prompt = backend.render("write solve(grid)")
    assert prompt.endswith("<start_of_turn>model\n")
    completions, stats = backend.generate(
        GenerationRequest([prompt], samples=2, max_new_tokens=40, temperature=0.8, seed=1)
    )
    assert [c.new_tokens for c in completions] == [0, 0]
    assert [c.text for c in completions] == ["", ""]
    assert stats.new_tokens == 0
    # One forward pass made the end-of-turn token and generation stopped: not 40 passes to max_new_tokens.
    assert len(calls) == 1


def test_a_past_deadline_stops_inside_a_batch(tmp_path: Path) -> None:
    loaded = load_model(build_tiny_model(tmp_path / "m"))
    backend = TransformersBackend(loaded)
    assert past_deadline(time.monotonic() - 1.0, None)
    assert not past_deadline(time.monotonic() + 3600.0, None)
    assert past_deadline(None, lambda: True)
    assert not past_deadline(None, None)
    # A request whose deadline has already passed sends nothing at all.
    completions, stats = backend.generate(
        GenerationRequest([backend.render("x")], max_new_tokens=50, max_seconds=0.0)
    )
    assert completions == [] and stats.new_tokens == 0


def test_prompts_are_sized_to_the_context_window(tmp_path: Path) -> None:
    loaded = load_model(build_tiny_model(tmp_path / "m"))
    backend = TransformersBackend(loaded)
    assert backend.context_tokens == 4096  # the tiny config's max_position_embeddings
    assert backend.prompt_limit(512) == 4096 - 512
    assert prompt_budget(backend, 512, None) == 4096 - 512 - 64
    assert prompt_budget(backend, 512, 1000) == 1000  # an explicit budget below the window is kept
    assert prompt_budget(backend, 512, 100_000) == 4096 - 512 - 64  # never beyond the window
    # A longer prompt than the window allows keeps its right end, so the answer still has room.
    long_prompt = backend.render("0123456789" * 600)
    calls = _forward_calls(loaded.model)
    completions, stats = backend.generate(GenerationRequest([long_prompt], max_new_tokens=8, temperature=0.0))
    assert stats.prompt_tokens == 4096 - 8
    assert len(completions) == 1 and len(calls) >= 1


def test_context_window_from_config_and_tokenizer() -> None:
    config = type("C", (), {"max_position_embeddings": 8192})()
    tokenizer = type("T", (), {"model_max_length": int(1e30)})()  # transformers' "unknown" sentinel
    assert context_window(config, tokenizer) == 8192
    assert context_window(config, type("T", (), {"model_max_length": 2048})()) == 2048
    nested = type("C", (), {"text_config": type("L", (), {"max_position_embeddings": 32768})()})()
    assert context_window(nested, None) == 32768
    assert context_window(object(), None) is None


def test_replica_bytes_counts_weights_kv_cache_and_overhead(tmp_path: Path) -> None:
    # Gemma-7B's shape (config.json of google/gemma-7b): 28 layers, 16 KV heads of 256, 8192 positions.
    model = tmp_path / "gemma" / "model"
    model.mkdir(parents=True)
    config = {
        "num_hidden_layers": 28,
        "num_attention_heads": 16,
        "num_key_value_heads": 16,
        "head_dim": 256,
        "hidden_size": 3072,
        "max_position_embeddings": 8192,
        "torch_dtype": "float32",
    }
    (model / "config.json").write_text(json.dumps(config))
    (model / "model.safetensors.index.json").write_text(
        json.dumps({"metadata": {"total_size": 34_000_000_000}})
    )
    (model / "model-00001-of-00001.safetensors").write_bytes(b"\0")
    (tmp_path / "gemma" / "tokenizer").mkdir()
    (tmp_path / "gemma" / "tokenizer" / "tokenizer.json").write_text("{}")
    assert kv_bytes_per_token(read_config(model)) == 448 * 1024  # ~448 KiB per token
    expected = 17_000_000_000 + 448 * 1024 * 8192 + GPU_OVERHEAD_BYTES  # fp32 on disk, bf16 on the GPU
    assert replica_bytes(tmp_path / "gemma") == expected
    assert replica_bytes(tmp_path / "missing") is None


class _Clock:
    """Time that moves only when a fake batch says so: the deadline logic without sleeping."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _batches(clock: _Clock, seconds_per_step: float, log: list[tuple[list[int], int]]) -> Any:
    def run_batch(indices: Sequence[int], max_tokens: int) -> list[Row]:
        log.append((list(indices), max_tokens))
        clock.now += max_tokens * seconds_per_step  # every row runs to its token budget
        return [(i, "x" * max_tokens, max_tokens) for i in indices]

    return run_batch


def test_batches_stop_at_the_deadline_and_tokens_follow_the_pace() -> None:
    clock, log = _Clock(), []
    pace = DecodePace()
    rows, unsent = generate_in_batches(
        10,
        2,
        max_new_tokens=200,
        max_seconds=10.0,
        should_stop=None,
        pace=pace,
        run_batch=_batches(clock, 0.02, log),  # 200 tokens = 4 s per batch
        clock=clock,
    )
    # Batch 1 runs at the full 200 tokens (no pace yet) and takes 4 s; then 0.02 s per step is known.
    assert log[0] == ([0, 1], 200)
    assert pace.seconds_per_step() == pytest.approx(0.02)
    # Batch 2 fits: 6 s left × 0.8 / 0.02 = 240 ≥ 200. Batch 3: 2 s left → 80 tokens. Then 0.4 s left → 16.
    assert [tokens for _, tokens in log] == [200, 200, 80, 16]
    assert clock.now <= 10.0 + 1e-9  # never past the deadline
    assert unsent == 2 and len(rows) == 8


def test_no_batch_starts_after_the_deadline_or_a_stop() -> None:
    clock, log = _Clock(), []
    pace = DecodePace(steps=100, seconds=1.0)  # 0.01 s per step, measured before
    rows, unsent = generate_in_batches(
        4,
        1,
        max_new_tokens=64,
        max_seconds=0.0,
        should_stop=None,
        pace=pace,
        run_batch=_batches(clock, 0.01, log),
        clock=clock,
    )
    assert (rows, unsent, log) == ([], 4, [])
    stops = iter([False, True])
    rows, unsent = generate_in_batches(
        4,
        1,
        max_new_tokens=64,
        max_seconds=None,
        should_stop=lambda: next(stops),
        pace=pace,
        run_batch=_batches(clock, 0.01, log),
        clock=clock,
    )
    assert len(rows) == 1 and unsent == 3
    assert pace.token_budget(64, 0.1) == 0  # 0.1 s × 0.8 / 0.01 = 8 tokens < MIN_BATCH_TOKENS
    assert pace.token_budget(64, 1.0) == 64
    assert MIN_BATCH_TOKENS == 16


def test_a_long_task_buys_more_generations_unless_they_are_fixed() -> None:
    from arcforge_solver.engines.llm.budget import Throughput
    from arcforge_solver.engines.llm.llm_engine import MAX_GENERATIONS, LlmEngine
    from tests.support.scripted_llm import ScriptedLlmDouble

    engine = LlmEngine(backend=ScriptedLlmDouble({}), population=8)
    assert engine.task_ceiling(600.0).generations == 3  # the pace is not known yet
    pace = Throughput()
    pace.record_generation(new_tokens=700, seconds=2.0, completions=2)
    pace.record_task(5.0, 2)  # the warm-up task: measurements restart after it
    pace.record_generation(new_tokens=700, seconds=2.0, completions=2)  # 1 s a program
    pace.record_task(2.0, 2)
    engine.pace = pace
    # 600 s × 0.85 / (8 programs × 1 s) = 63 generations of population 8.
    assert engine.task_ceiling(600.0).generations == 63
    assert engine.task_ceiling(10.0).generations == 3  # never fewer than the default ceiling
    assert engine.task_ceiling(10**6).generations == MAX_GENERATIONS
    fixed = LlmEngine(backend=ScriptedLlmDouble({}), population=8, generations=2)
    fixed.pace = pace
    assert fixed.task_ceiling(600.0).generations == 2
