"""Test-time training on CPU with the tiny random model: leave-one-out data never holds a test output,
the loss on the task's train pairs goes down, and the adapter is reset before every task."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from arcforge_solver.engines.ttt.augment import sample_augmentations
from arcforge_solver.engines.ttt.data import leave_one_out
from arcforge_solver.engines.ttt.format import GridVocabulary, encode
from arcforge_solver.engines.ttt.model import AdapterSettings, TttModel, open_ttt_model
from arcforge_solver.engines.ttt.train import TrainSettings, train
from arcforge_solver.tasks.model import Pair, Task, to_grid

torch = pytest.importorskip("torch")
pytest.importorskip("peft")
from tests.support.tiny_model import build_tiny_model, build_tokenizer  # noqa: E402

SECRET = to_grid([[7, 7, 7], [7, 9, 7]])
"""A test output no other grid in the task uses: its tokens must never reach training."""


def swap_task() -> Task:
    swap = np.array([0, 2, 1, 3, 4, 5, 6, 7, 8, 9], dtype=np.int8)
    inputs = [to_grid([[1, 2], [0, 1]]), to_grid([[2, 2, 1]]), to_grid([[1], [2], [0]])]
    return Task(
        "swap",
        tuple(Pair(g, swap[g]) for g in inputs),
        (Pair(to_grid([[5, 5, 5], [5, 6, 5]]), SECRET),),
    )


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny-ttt"))


def _fresh(model_dir: Path, mode: str = "lora") -> TttModel:
    return open_ttt_model(model_dir, settings=AdapterSettings(mode=mode, rank=8, alpha=16))


def _contains(sequence: tuple[int, ...], part: list[int]) -> bool:
    return any(list(sequence[i : i + len(part)]) == part for i in range(len(sequence) - len(part) + 1))


def test_leave_one_out_uses_every_train_pair_as_query_and_never_a_test_pair() -> None:
    vocab = GridVocabulary.from_tokenizer(build_tokenizer())
    task = swap_task()
    views = sample_augmentations(8, len(task.train), seed=3)
    examples = leave_one_out(task, views, vocab, max_tokens=4096)
    assert len(examples) == 8 * 3
    identity = examples[:3]
    for index, example in enumerate(identity):
        query = task.train[index]
        assert query.output is not None
        others = [p for i, p in enumerate(task.train) if i != index]
        assert example == encode(vocab, others, query.input, query.output)
    for view in views:
        secret_ids = vocab.grid_ids(view.grid(SECRET))
        test_input_ids = vocab.grid_ids(view.grid(task.test[0].input))
        for example in examples:
            assert not _contains(example.ids, secret_ids)
            assert not _contains(example.ids, test_input_ids)
    # Every answer is exactly one train output under one view.
    outputs = {
        tuple(vocab.grid_ids(v.grid(p.output))) for v in views for p in task.train if p.output is not None
    }
    assert {tuple(e.answer[:-1]) for e in examples} <= outputs
    assert all(e.answer[-1] == vocab.eos for e in examples)


def test_a_context_too_long_for_the_window_is_cut_not_overflowed() -> None:
    vocab = GridVocabulary.from_tokenizer(build_tokenizer())
    task = swap_task()
    examples = leave_one_out(task, sample_augmentations(1, 3, seed=0), vocab, max_tokens=24)
    assert examples, "each query alone fits 24 tokens"
    assert all(len(e.ids) <= 24 for e in examples)


@pytest.mark.parametrize("mode", ["lora", "full"])
def test_ttt_lowers_the_loss_on_the_train_pairs(model_dir: Path, mode: str) -> None:
    ttt = _fresh(model_dir, mode)
    task = swap_task()
    examples = leave_one_out(task, sample_augmentations(4, 3, seed=0), ttt.vocab, max_tokens=ttt.max_tokens)
    report = train(
        ttt, examples, TrainSettings(steps=30, batch_size=4, learning_rate=1e-2 if mode == "lora" else 1e-3)
    )
    assert report.steps == 30
    assert report.tokens > 0
    assert len(report.losses) == 30
    # The probe loss (the same examples, before and after) falls clearly, and so do the step losses.
    assert report.loss_end < report.loss_start * 0.92, (report.loss_start, report.loss_end)
    assert sum(report.losses[-5:]) < sum(report.losses[:5])


@pytest.mark.parametrize("mode", ["lora", "full"])
def test_reset_puts_back_every_trained_weight(model_dir: Path, mode: str) -> None:
    ttt = _fresh(model_dir, mode)
    before = {n: p.detach().clone() for n, p in ttt.model.named_parameters()}
    if mode == "lora":
        assert all("lora_" in n for n, p in ttt.model.named_parameters() if p.requires_grad)
    task = swap_task()
    examples = leave_one_out(task, sample_augmentations(2, 3, seed=0), ttt.vocab, max_tokens=ttt.max_tokens)
    first = train(ttt, examples, TrainSettings(steps=10, batch_size=4, learning_rate=1e-2))
    changed = [n for n, p in ttt.model.named_parameters() if not torch.equal(p, before[n])]
    assert changed, "training changed nothing"
    ttt.reset()
    assert ttt.resets == 1
    for name, parameter in ttt.model.named_parameters():
        assert torch.equal(parameter, before[name]), name
    # The next task starts from the loaded weights: the same data gives the same starting loss.
    second = train(ttt, examples, TrainSettings(steps=1, batch_size=4, learning_rate=1e-2))
    assert second.loss_start == pytest.approx(first.loss_start, abs=1e-5)


def test_padded_batches_score_like_single_rows_on_last_position_logits(model_dir: Path) -> None:
    from arcforge_solver.engines.ttt.likelihood import answer_log_likelihoods, keep_kwargs

    ttt = _fresh(model_dir)
    assert keep_kwargs(ttt.model, 3) == {"logits_to_keep": 3}  # looked up through the peft wrapper
    grids = [to_grid([[1, 2], [3, 4]]), to_grid([[5, 0, 0]]), to_grid([[1], [2], [3], [4], [5]])]
    task = Task("sizes", tuple(Pair(g, g[::-1]) for g in grids), ())
    examples = leave_one_out(task, sample_augmentations(2, 3, seed=0), ttt.vocab, max_tokens=4096)
    assert len({len(e.ids) for e in examples}) > 1, "rows of different lengths, so some are padded"
    pad = ttt.tokenizer.pad_token_id
    batched = answer_log_likelihoods(
        ttt.model, examples, pad_id=pad, device=ttt.device, batch_size=len(examples)
    )
    single = [answer_log_likelihoods(ttt.model, [e], pad_id=pad, device=ttt.device)[0] for e in examples]
    assert batched == pytest.approx(single, abs=1e-3)


def test_a_loss_scaled_step_trains_like_a_plain_one(model_dir: Path) -> None:
    from arcforge_solver.engines.ttt.train import _scaler, _step

    ttt = _fresh(model_dir)
    assert not _scaler(ttt).is_enabled()  # float32 on CPU: no scaling
    scaler = torch.amp.GradScaler("cpu", enabled=True, init_scale=2.0**10)  # as on a float16 GPU
    optimizer = torch.optim.AdamW(ttt.trainable(), lr=1e-2)
    examples = leave_one_out(swap_task(), sample_augmentations(1, 3, seed=0), ttt.vocab, max_tokens=4096)
    ttt.model.train()
    losses = [_step(ttt, optimizer, scaler, examples, ttt.tokenizer.pad_token_id) for _ in range(8)]
    assert losses[-1] < losses[0]
    assert scaler.get_scale() > 0


def test_training_stops_at_its_deadline(model_dir: Path) -> None:
    ttt = _fresh(model_dir)
    examples = leave_one_out(swap_task(), sample_augmentations(1, 3, seed=0), ttt.vocab, max_tokens=4096)
    report = train(ttt, examples, TrainSettings(steps=50, max_seconds=0.0))
    assert report.steps == 0
    assert report.stopped == "deadline"
    assert math.isnan(report.loss_start) and math.isnan(report.loss_end)  # no forward pass at all
    # A little time: some steps, then the deadline ends the loop before the 10 000th.
    cut = train(ttt, examples, TrainSettings(steps=10_000, max_seconds=0.5))
    assert 0 < cut.steps < 10_000 and cut.stopped == "deadline"
    assert len(cut.losses) == cut.steps and not math.isnan(cut.loss_end)


def test_wrap_refuses_an_unknown_mode() -> None:
    with pytest.raises(ValueError, match="mode must be one of lora, full"):
        TttModel.wrap(object(), build_tokenizer(), AdapterSettings(mode="half"))
