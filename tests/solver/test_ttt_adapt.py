"""The whole TTT loop adapts a model to a task it has never seen.

A tiny random model is first pre-trained for a few seconds on generated copy tasks (output = input), so
it knows the grid format and how to copy. A colour-swap task (1 ↔ 2) is then the opposite of what it
learnt: before TTT the right test output is very unlikely. `TttEngine.solve` resets, fine-tunes on the
task's leave-one-out examples under augmentations, decodes and scores; afterwards the log-probability
of the right test output must have risen clearly. Greedy decoding need not be right yet at this size.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from arcforge_solver.engines.protocol import Deadline, EngineContext
from arcforge_solver.engines.ttt.augment import Augmentation
from arcforge_solver.engines.ttt.data import leave_one_out
from arcforge_solver.engines.ttt.engine import TttEngine
from arcforge_solver.engines.ttt.format import encode
from arcforge_solver.engines.ttt.likelihood import answer_log_likelihoods
from arcforge_solver.engines.ttt.model import AdapterSettings, TttModel, open_ttt_model
from arcforge_solver.engines.ttt.train import TrainSettings, train
from arcforge_solver.tasks.model import Pair, Task

torch = pytest.importorskip("torch")
pytest.importorskip("peft")
from tests.support.tiny_model import build_tiny_model  # noqa: E402

SWAP = np.array([0, 2, 1, 3, 4, 5, 6, 7, 8, 9], dtype=np.int8)


@pytest.fixture
def one_thread() -> Iterator[None]:
    """The machine is shared: one CPU thread for the few seconds of training."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _copy_pretrained(model_dir: Path) -> TttModel:
    base = open_ttt_model(model_dir, settings=AdapterSettings(mode="full"))
    rng = np.random.default_rng(0)
    examples = []
    for index in range(300):
        grids = [rng.integers(0, 10, size=(3, 3)).astype(np.int8) for _ in range(2)]
        task = Task(f"copy{index}", tuple(Pair(g, g.copy()) for g in grids), ())
        examples += leave_one_out(task, [Augmentation()], base.vocab, max_tokens=base.max_tokens)
    report = train(
        base, examples, TrainSettings(steps=400, batch_size=16, learning_rate=1e-2, warmup_share=0.05)
    )
    assert report.loss_end < 0.1, f"copy pre-training did not learn to copy (loss {report.loss_end:.3f})"
    # The copy-trained weights are what the TTT engine loads and resets to.
    return TttModel.wrap(base.model, base.tokenizer, AdapterSettings(mode="full"))


def test_ttt_adapts_a_copy_model_to_a_colour_swap(tmp_path: Path, one_thread: None) -> None:
    ttt = _copy_pretrained(build_tiny_model(tmp_path / "tiny"))
    rng = np.random.default_rng(1)
    inputs = [rng.integers(0, 3, size=(3, 3)).astype(np.int8) for _ in range(4)]
    train_pairs = tuple(Pair(g, SWAP[g]) for g in inputs[:3])
    test_input = inputs[3]
    task = Task("swap", train_pairs, (Pair(test_input),))  # the test output stays out of the task
    answer = encode(ttt.vocab, list(train_pairs), test_input, SWAP[test_input])
    pad = ttt.tokenizer.pad_token_id

    before = answer_log_likelihoods(ttt.model, [answer], pad_id=pad, device=ttt.device)[0]
    engine = TttEngine(ttt_model=ttt, steps=100, batch_size=4, learning_rate=1e-3, views=2, min_prob=0.1)
    result = engine.solve(task, Deadline(600.0), EngineContext())
    after = answer_log_likelihoods(ttt.model, [answer], pad_id=pad, device=ttt.device)[0]

    assert result.stats["ttt_steps"] == 100
    assert result.stats["ttt_loss_end"] < result.stats["ttt_loss_start"] / 2
    # About -100 before (the model copies 1 where 2 belongs) and about -27 after when this was written.
    assert before < -60, before
    assert after > before + 40 and after > before / 2, (before, after)
