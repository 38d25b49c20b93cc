"""The TTT engines end to end on CPU with the tiny random model: a valid submission through
`arcforge-solve run --engine ttt`, journal stats that carry the TTT loss, the deadline, a model
failure that ends only this engine's part, the merge policies of `ttt+search`, and the budget."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from arcforge_solver.cli import main
from arcforge_solver.engines.protocol import Candidate, Deadline, EngineContext, EngineStartError
from arcforge_solver.engines.ttt.budget import (
    TttPace,
    TttPlan,
    batch_for_memory,
    fit_plan,
    forecast_lines,
    plan_seconds,
)
from arcforge_solver.engines.ttt.engine import TaskRun, TttEngine, TttSearchEngine
from arcforge_solver.engines.ttt.model import AdapterSettings, TttModel, open_ttt_model
from arcforge_solver.engines.ttt.score import Scored
from arcforge_solver.runtime.journal import journal_path_for
from arcforge_solver.tasks.model import Pair, Task, to_grid

torch = pytest.importorskip("torch")
pytest.importorskip("peft")
from tests.solver.conftest import write_task_files  # noqa: E402
from tests.solver.test_llm_cli import TASKS  # noqa: E402  (the LLM CLI tests' two tasks)
from tests.support.tiny_model import build_tiny_model, build_tokenizer  # noqa: E402

FLIP = Task(
    "flip0001",
    (
        Pair(to_grid([[1, 2], [3, 4]]), to_grid([[2, 1], [4, 3]])),
        Pair(to_grid([[5, 0, 0]]), to_grid([[0, 0, 5]])),
    ),
    (Pair(to_grid([[7, 8]])),),
)
SMALL = {"steps": 3, "views": 2, "min_prob": 0.2}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny-ttt-engine"))


@pytest.fixture
def tasks_dir(tmp_path: Path) -> Path:
    return write_task_files(tmp_path / "tasks", TASKS)


def _journal(out: Path) -> list[dict[str, Any]]:
    path = journal_path_for(out)
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


@pytest.mark.parametrize("engine", ["ttt", "ttt+search"])
def test_run_engine_ttt_writes_a_valid_submission_and_journals_the_ttt_loss(
    engine: str, model_dir: Path, tasks_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ARCFORGE_TTT_STEPS", "4")
    monkeypatch.setenv("ARCFORGE_TTT_VIEWS", "2")
    monkeypatch.setenv("ARCFORGE_TTT_MIN_PROB", "0.2")
    out, state = tmp_path / "submission.json", tmp_path / "state"
    code = main(
        [
            "run", str(tasks_dir), "--engine", engine, "--model-dir", str(model_dir),
            "--out", str(out), "--state-dir", str(state), "--time-per-task", "20", "--workers", "1",
        ]
    )  # fmt: skip
    assert code == 0
    submission = json.loads(out.read_text())
    assert set(submission) == set(TASKS) and len(submission["twotest2"]) == 2
    assert main(["validate", str(out), "--tasks", str(tasks_dir)]) == 0
    records = {r["task_id"]: r for r in _journal(out)}
    assert set(records) == set(TASKS)
    for record in records.values():
        assert record["engine"] == engine and record["state"] == "done", record.get("error")
        stats = record["stats"]
        assert isinstance(stats["ttt_loss_start"], float) and isinstance(stats["ttt_loss_end"], float)
        assert stats["ttt_steps"] == 4 and stats["ttt_examples"] > 0
        assert "ttt_error" not in stats
    # One model per process, reset before every task.
    assert max(r["stats"]["ttt_resets"] for r in records.values()) == 2
    if engine == "ttt+search":
        # The search solves the mirror task; its program is the first candidate, whatever the random model says.
        flip = records["flip0001"]
        assert flip["train_solved"] and "def solve" in flip["program"]
        assert flip["stats"]["search_exact"] >= 1
        assert submission["flip0001"][0]["attempt_1"] == [[8, 7]] or submission["flip0001"][0][
            "attempt_2"
        ] == [[8, 7]]
    events = [json.loads(line) for line in (state / "test-run.jsonl").read_text().splitlines()]
    assert any(e["kind"] == "item" and e["data"].get("state") == "done" for e in events)


def test_a_lane_holds_the_weights_and_one_training_example(model_dir: Path) -> None:
    from arcforge_solver.engines.llm.loading import replica_bytes

    inference = replica_bytes(str(model_dir))
    assert inference is not None
    lane = TttSearchEngine.replica_bytes({"model_dir": str(model_dir)})
    assert isinstance(lane, int) and lane > inference
    assert TttEngine.holds_model and TttEngine.replica_bytes({}) is None


def test_a_wrong_model_folder_fails_at_start_with_one_clear_message(tmp_path: Path) -> None:
    with pytest.raises(EngineStartError, match="model folder not found"):
        TttEngine(str(tmp_path / "nowhere"))
    with pytest.raises(EngineStartError, match="pass --model-dir"):
        TttEngine(None)


def test_an_expired_deadline_returns_at_once_with_nothing_trained(model_dir: Path) -> None:
    engine = TttEngine(str(model_dir), **SMALL)
    result = engine.solve(FLIP, Deadline(0.0), EngineContext())
    assert result.task_id == "flip0001"
    assert result.stats["ttt_steps"] == 0 and result.stats["ttt_stopped"] == "deadline"
    assert result.stats["ttt_loss_start"] is None and result.stats["ttt_loss_end"] is None  # JSON null
    assert result.stats["ttt_decode_tokens"] == 0
    assert result.candidates == []


def test_training_ends_at_its_share_of_the_task_seconds(model_dir: Path) -> None:
    engine = TttEngine(str(model_dir), steps=1_000_000, views=1, dfs=False)
    result = engine.solve(FLIP, Deadline(2.0), EngineContext())
    assert result.stats["ttt_stopped"] == "deadline"
    assert 0 < result.stats["ttt_steps"] < 1_000_000


class Broken(torch.nn.Module):
    """A model whose every forward pass fails as a lost GPU does."""

    def __init__(self, inner: Any) -> None:
        super().__init__()
        self.inner = inner

    def get_input_embeddings(self) -> Any:
        return self.inner.get_input_embeddings()

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("CUDA error: an illegal memory access was encountered")


def test_a_model_failure_ends_only_the_engines_part_of_the_task(model_dir: Path) -> None:
    ttt = open_ttt_model(model_dir, settings=AdapterSettings(mode="lora", rank=4, alpha=4))
    ttt.model = Broken(ttt.model)
    logs: list[dict[str, Any]] = []
    engine = TttEngine(ttt_model=ttt, **SMALL)
    context = EngineContext(emit=lambda kind, **data: logs.append({"kind": kind, **data}))
    result = engine.solve(FLIP, Deadline(10.0), context)
    assert "CUDA error" in result.stats["ttt_error"]
    assert result.candidates == []
    assert any(e["kind"] == "log" and e["level"] == "warning" and "TTT" in e["message"] for e in logs)
    # The same engine goes on to the next task.
    again = engine.solve(FLIP, Deadline(10.0), EngineContext())
    assert "CUDA error" in again.stats["ttt_error"]


def test_ttt_search_keeps_the_search_program_when_the_model_fails(model_dir: Path) -> None:
    ttt = open_ttt_model(model_dir, settings=AdapterSettings(mode="lora", rank=4, alpha=4))
    ttt.model = Broken(ttt.model)
    engine = TttSearchEngine(ttt_model=ttt, **SMALL)
    try:
        result = engine.solve(FLIP, Deadline(20.0), EngineContext())
    finally:
        engine.close()
    assert "ttt_error" in result.stats
    assert result.stats["search_exact"] >= 1
    best = result.candidates[0]
    assert best.train_exact == len(FLIP.train) and "def solve" in best.source
    assert best.predictions[0] is not None
    assert np.array_equal(best.predictions[0], to_grid([[8, 7]]))


def _stub_engine(merge: str) -> TttEngine:
    tokenizer = build_tokenizer()
    from arcforge_solver.engines.ttt.format import GridVocabulary

    ttt = TttModel(
        model=None,
        tokenizer=tokenizer,
        vocab=GridVocabulary.from_tokenizer(tokenizer),
        settings=AdapterSettings(),
        device="cpu",
    )
    return TttEngine(ttt_model=ttt, merge=merge)


def _run_with_search() -> tuple[TaskRun, list[Candidate]]:
    run = TaskRun(FLIP, Deadline(10.0), TttPlan(steps=1, batch_size=1, views=1))
    programs = [
        Candidate(
            source=f"def solve(grid):\n    return {body}\n",
            trusted=True,
            train_fitness=1.0,
            train_exact=2,
            predictions=(to_grid(answer),),
        )
        for body, answer in (("grid[:, ::-1]", [[8, 7]]), ("grid * 0 + grid.max()", [[9, 9]]))
    ]
    run.search = programs
    model_a = Scored(to_grid([[7, 7]]), {"dfs"}, view_scores=[-1.0])
    model_b = Scored(to_grid([[1]]), {"greedy"}, view_scores=[-2.0])
    first = Scored(to_grid([[8, 7]]), {"search"}, view_scores=[-3.0])
    second = Scored(to_grid([[9, 9]]), {"search"}, view_scores=[-0.5])
    run.ranked = [[second, model_a, model_b, first]]  # the product of experts' order
    return run, programs


@pytest.mark.parametrize(
    ("merge", "order"),
    [
        ("search-first", [[[8, 7]], [[7, 7]], [[9, 9]], [[1]]]),
        ("score", [[[9, 9]], [[7, 7]], [[1]], [[8, 7]]]),
        ("ttt-first", [[[7, 7]], [[1]], [[8, 7]], [[9, 9]]]),
    ],
)
def test_the_merge_policy_orders_search_and_model_answers(merge: str, order: list[Any]) -> None:
    engine = _stub_engine(merge)
    run, programs = _run_with_search()
    candidates = engine.candidates(run)
    assert [c.predictions[0].tolist() for c in candidates] == order  # type: ignore[union-attr]
    for candidate in candidates:
        answer = candidate.predictions[0].tolist()  # type: ignore[union-attr]
        if answer in ([[8, 7]], [[9, 9]]):
            # The program itself, so the journal shows it and train_solved holds.
            assert candidate is programs[0 if answer == [[8, 7]] else 1]
        else:
            assert candidate.origin.startswith("ttt") and candidate.train_exact == 0
            assert candidate.source == ""  # transduction: there is no program to record or run


def test_search_first_is_the_default() -> None:
    assert TttEngine(ttt_model=_stub_engine("score").ttt).merge == "search-first"


def test_an_unknown_merge_policy_is_refused() -> None:
    with pytest.raises(EngineStartError, match="merge policy must be one of search-first, score, ttt-first"):
        _stub_engine("vote")


def test_a_setting_that_does_not_parse_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARCFORGE_TTT_STEPS", "many")
    with pytest.raises(EngineStartError, match="ARCFORGE_TTT_STEPS='many' is not a valid int"):
        _stub_engine("search-first")


def _measured(step_s: float, decode_s: float, score_s: float) -> TttPace:
    pace = TttPace()
    for _ in range(3):
        pace.record_train(10, 10 * step_s, 1000)
        pace.record_decode(100, decode_s)
        pace.record_score(4, 4 * score_s, 4)
        pace.record_task(1.0)
    return pace


def test_fit_plan_shrinks_steps_first_then_views() -> None:
    ceiling = TttPlan(steps=100, batch_size=4, views=8)
    pace = _measured(step_s=0.1, decode_s=0.5, score_s=0.05)
    assert fit_plan(ceiling, TttPace(), 1.0) == ceiling  # nothing measured yet: the ceiling
    roomy = fit_plan(ceiling, pace, 1000.0)
    assert roomy == ceiling
    tight_seconds = plan_seconds(TttPlan(60, 4, 8), pace) / 0.85
    tight = fit_plan(ceiling, pace, tight_seconds)
    assert tight.views == 8 and 55 <= tight.steps < 100
    tighter = fit_plan(ceiling, pace, plan_seconds(TttPlan(30, 4, 8), pace) / 0.85)
    assert tighter.views < 8 and tighter.steps >= 50
    starved = fit_plan(ceiling, pace, 0.5)
    assert starved.views == 1 and starved.steps < 50
    assert plan_seconds(tighter, pace) <= plan_seconds(TttPlan(30, 4, 8), pace) + 1e-9


def test_batch_follows_the_lanes_free_memory() -> None:
    config = type("Config", (), {"hidden_size": 2048, "num_hidden_layers": 24, "vocab_size": 32000})()
    assert batch_for_memory(None, 2000, config, 8) == 8  # CPU: the ceiling
    per_example = 2000 * (24 * 2048 * 34 + 32000 * 8)
    assert batch_for_memory(int(per_example * 3 / 0.6), 2000, config, 8) == 3
    assert batch_for_memory(1000, 2000, config, 8) == 1


def test_forecast_lines_mark_what_fits_the_budget() -> None:
    pace = _measured(step_s=1.0, decode_s=5.0, score_s=0.5)
    ceiling = TttPlan(steps=40, batch_size=4, views=8)
    lines = forecast_lines(ceiling, pace, tasks_left=240, budget_s=12 * 3600, lanes=4)
    assert len(lines) == 3 and all(
        line.startswith("TTT forecast for the 240 tasks left in 12.0 h") for line in lines
    )
    per_task = plan_seconds(ceiling, pace)
    assert lines[0].endswith("✓" if per_task * 240 / 4 <= 12 * 3600 else "✗")


def test_the_pace_and_forecast_are_logged_after_the_first_tasks(model_dir: Path) -> None:
    engine = TttEngine(str(model_dir), steps=2, views=1, dfs=False)
    logs: list[str] = []
    options = {"tasks_remaining": 10, "budget_remaining_s": 3600.0, "lanes": 1}
    for _ in range(3):
        context = EngineContext(
            emit=lambda kind, **data: logs.append(data["message"]) if kind == "log" else None, options=options
        )
        result = engine.solve(FLIP, Deadline(30.0), context)
        assert result.stats["ttt_steps"] == 2
    assert any(line.startswith("TTT pace: ") and "steps/s" in line for line in logs)
    assert any(line.startswith("TTT forecast for the 10 tasks left in 1.0 h") for line in logs)
    assert engine.ttt.resets == 3
