"""The LLM operators end to end with the scripted test double, and the budget logic inside the engine."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from arcforge_solver.engines.llm.budget import Shape
from arcforge_solver.engines.llm.llm_engine import HybridEngine, LlmEngine
from arcforge_solver.engines.protocol import Deadline, EngineContext, RunInfo
from arcforge_solver.sandbox.pool import SandboxPool
from arcforge_solver.tasks.model import Pair, Task
from tests.support.scripted_llm import ScriptedLlmDouble

WRONG = "Here you go:\n```python\ndef solve(grid):\n    return grid[::-1]\n```"
RIGHT = "Fixed: the rows must be mirrored.\n```python\ndef solve(grid):\n    return grid[:, ::-1]\n```"
HALF = "```python\ndef solve(grid):\n    out = grid.copy()\n    out[0] = grid[0, ::-1]\n    return out\n```"
JUNK = "\u05ee\x18 v y=l 3 ... I think the answer is 42"
LOOP = "```python\ndef solve(grid):\n    while True:\n        pass\n```"


def g(rows: list[list[int]]) -> np.ndarray:
    return np.array(rows, dtype=np.int8)


# Mirror left-right; the first pair alone is also solved by HALF (mirror the first row only).
TASK = Task(
    "mirror-lr",
    train=(
        Pair(g([[1, 2, 3]]), g([[3, 2, 1]])),
        Pair(g([[1, 2], [3, 4]]), g([[2, 1], [4, 3]])),
        Pair(g([[5, 0, 0], [0, 6, 0]]), g([[0, 0, 5], [0, 6, 0]])),
    ),
    test=(Pair(g([[7, 8, 9], [1, 1, 2]])),),
)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxPool]:
    with SandboxPool(workers=1, timeout_s=2.0, lazy=True) as pool:
        yield pool


class Events:
    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, kind: str, **data: Any) -> None:
        self.seen.append((kind, data))

    def kinds(self, kind: str) -> list[dict[str, Any]]:
        return [d for k, d in self.seen if k == kind]


def _context(sandbox: SandboxPool, events: Events | None = None) -> EngineContext:
    return EngineContext(seed=1, sandbox=sandbox, emit=events)


def test_refine_turns_a_wrong_program_into_the_solution(sandbox: SandboxPool) -> None:
    double = ScriptedLlmDouble({"generate": [WRONG], "refine": [RIGHT]})
    engine = LlmEngine(backend=double, population=2, generations=3, samples_per_call=2)
    events = Events()
    result = engine.solve(TASK, Deadline(30), _context(sandbox, events))

    best = result.candidates[0]
    assert best.train_exact == 3 and best.train_fitness == 1.0
    assert best.origin == "llm-refine"
    assert best.trusted is False
    assert best.predictions[0] is not None
    assert best.predictions[0].tolist() == [[9, 8, 7], [2, 1, 1]]
    # The refine prompt carried the wrong program and how its outputs differ from the expected ones.
    refine = [p for p in double.prompts if "This program was tried" in p]
    assert refine and "return grid[::-1]" in refine[0]
    assert "Example 2: 4 of 4 cells wrong" in refine[0]
    assert "Example 1: 2 of 3 cells wrong: (0,0) got 1 want 3" in refine[0]
    # Stopped once solved: generation 0 and one refine generation.
    assert result.stats["generations"] == 2
    assert result.stats["llm"] == {"calls": 2, "tokens": result.stats["llm"]["tokens"], "programs": 2}
    assert result.stats["llm"]["tokens"] > 0
    assert result.stats["best_fitness"] == 1.0
    running = events.kinds("item")
    assert [e["state"] for e in running] == ["running", "running"]
    assert running[-1]["train_solved"] is True
    assert running[-1]["llm"]["programs"] == 2


def test_crossover_gets_parents_that_solve_different_pairs(sandbox: SandboxPool) -> None:
    cross = "```python\ndef solve(grid):\n    return np.fliplr(grid)\n```"
    double = ScriptedLlmDouble({"generate": [WRONG, HALF, JUNK], "refine": [JUNK], "crossover": [cross]})
    engine = LlmEngine(backend=double, population=4, generations=2, samples_per_call=1)
    result = engine.solve(TASK, Deadline(30), _context(sandbox))
    crossover_prompts = [p for p in double.prompts if "Program A" in p]
    assert len(crossover_prompts) == 1
    assert "return grid[::-1]" in crossover_prompts[0] and "out[0] = grid[0, ::-1]" in crossover_prompts[0]
    assert result.candidates[0].origin == "llm-crossover"
    assert result.candidates[0].train_exact == 3


def test_junk_and_hostile_programs_leave_the_engine_standing(sandbox: SandboxPool) -> None:
    double = ScriptedLlmDouble({"generate": [JUNK, LOOP, "```python\ndef solve(grid):\n    return 1/0\n```"]})
    engine = LlmEngine(backend=double, population=3, generations=2, samples_per_call=3, program_timeout_s=0.5)
    result = engine.solve(TASK, Deadline(30), _context(sandbox))
    assert result.stats["llm_unparsable"] >= 1
    assert result.stats["llm"]["programs"] == 2  # the loop and the division; junk had no program
    assert all(c.train_fitness == 0.0 for c in result.candidates)
    assert all(p is None for c in result.candidates for p in c.predictions)


def test_duplicate_programs_are_run_once(sandbox: SandboxPool) -> None:
    same = "```python\ndef solve(grid):\n    # comment\n    return grid[::-1]\n```"
    double = ScriptedLlmDouble({"generate": [WRONG, same]})
    engine = LlmEngine(backend=double, population=4, generations=1, samples_per_call=4)
    result = engine.solve(TASK, Deadline(30), _context(sandbox))
    assert result.stats["llm"]["programs"] == 1
    assert result.stats["llm_duplicates"] == 3


def test_the_engine_returns_by_its_deadline(sandbox: SandboxPool) -> None:
    double = ScriptedLlmDouble({"generate": [LOOP]})
    engine = LlmEngine(backend=double, population=4, generations=5, samples_per_call=1, program_timeout_s=0.3)
    deadline = Deadline(1.0)
    engine.solve(TASK, deadline, _context(sandbox))
    assert deadline.elapsed() < 1.0 + 0.3 + 1.5  # one program may still be finishing its own timeout


def test_pace_is_measured_then_the_table_is_logged_and_the_shape_shrinks(sandbox: SandboxPool) -> None:
    double = ScriptedLlmDouble({"generate": [WRONG], "refine": [HALF]})
    engine = LlmEngine(backend=double, population=8, generations=3, samples_per_call=4)
    events = Events()
    for _ in range(2):
        engine.solve(TASK, Deadline(30), _context(sandbox, events))
    assert engine.pace.measured
    logs = [e["message"] for e in events.kinds("log")]
    assert any(m.startswith("LLM pace:") for m in logs)
    table = [m for m in logs if "per task:" in m]
    assert [m.split(" ×")[0] for m in table] == [
        "population 1",
        "population 2",
        "population 3",
        "population 5",
        "population 8",
    ]
    assert all(m.endswith(("✓", "✗")) for m in table)
    # A task given far less than the measured cost of the ceiling gets a smaller shape, and says so.
    per_program = engine.pace.seconds_per_program()
    tight = Deadline(per_program * 5)
    shape = engine.plan(tight, _context(sandbox, events))
    assert shape.programs() < Shape(8, 3, 4).programs()
    assert shape.programs() * per_program <= tight.seconds
    assert any("LLM shrinks to" in e["message"] for e in events.kinds("log"))


def test_run_level_table_when_the_runtime_says_what_is_left(sandbox: SandboxPool) -> None:
    double = ScriptedLlmDouble({"generate": [WRONG]})
    engine = LlmEngine(backend=double, population=5, generations=2, samples_per_call=1)
    for _ in range(2):
        engine.solve(TASK, Deadline(30), _context(sandbox))
    context = EngineContext(seed=0, sandbox=sandbox, run=RunInfo(tasks_remaining=400, budget_remaining_s=1.0))
    lines = engine.forecast_lines(30.0, context)
    assert lines[0].startswith("forecast for the 400 tasks left in 1 s: population 1 × 2 generations:")
    assert all(line.endswith("✗") for line in lines)  # one second for 400 tasks


def test_engine_builds_its_own_sandbox_when_the_runtime_gives_none() -> None:
    engine = LlmEngine(backend=ScriptedLlmDouble({"generate": [RIGHT]}), population=1, generations=1)
    try:
        result = engine.solve(TASK, Deadline(30), EngineContext(seed=0))
    finally:
        engine.close()
    assert result.candidates[0].train_exact == 3


def test_without_a_model_the_engine_refuses_to_start_with_a_clear_message() -> None:
    with pytest.raises(Exception, match="--model-dir"):
        LlmEngine()


def test_a_wrong_model_dir_fails_at_start_listing_the_folder(tmp_path: Any) -> None:
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text("{}")
    with pytest.raises(Exception, match=r"[Nn]o file named model\.safetensors") as caught:
        LlmEngine(model_dir=str(tmp_path))
    assert "config.json" in str(caught.value)


def test_hybrid_search_solves_and_generation_stops_early(sandbox: SandboxPool) -> None:
    double = ScriptedLlmDouble({"generate": [WRONG], "refine": [HALF]}, delay_s=0.5)
    engine = HybridEngine(backend=double, population=2, generations=40, samples_per_call=2)
    try:
        result = engine.solve(TASK, Deadline(30), _context(sandbox))
    finally:
        engine.close()
    best = result.candidates[0]
    assert best.train_exact == 3
    assert "search" in result.stats and "search_error" not in result.stats
    assert result.stats["search_candidates"] >= 1
    assert best.trusted and best.origin != "llm-refine"
    assert result.stats["llm"]["calls"] >= 1
    assert result.stats["generations"] < 40  # the search's solution ended the LLM generations


def test_hybrid_llm_refines_when_the_search_cannot_solve(sandbox: SandboxPool) -> None:
    # Each cell becomes (3 × colour + row) mod 10: arithmetic no DSL primitive composes to.
    def rule(rows: list[list[int]]) -> np.ndarray:
        grid = g(rows)
        return ((grid.astype(int) * 3 + np.arange(grid.shape[0])[:, None]) % 10).astype(np.int8)

    inputs = ([[1, 2], [3, 4]], [[5, 0, 7]], [[2], [2], [9]])
    odd = Task("arith", train=tuple(Pair(g(x), rule(x)) for x in inputs), test=(Pair(g([[1, 0], [0, 1]])),))
    corner = (
        "```python\ndef solve(grid):\n"
        "    return (grid.astype(int) * 3 + np.arange(grid.shape[0])[:, None]) % 10\n```"
    )
    double = ScriptedLlmDouble({"generate": [WRONG], "refine": [corner], "crossover": [corner]})
    engine = HybridEngine(backend=double, population=2, generations=3, samples_per_call=2, search_share=0.2)
    try:
        result = engine.solve(odd, Deadline(12), _context(sandbox))
    finally:
        engine.close()
    # The search may find a rule of its own too; the refined LLM program joined the same population.
    assert result.candidates[0].train_exact == 3
    assert any(c.origin in ("llm-refine", "llm-crossover") and c.train_exact == 3 for c in result.candidates)
    assert result.stats["llm"]["programs"] >= 2


class _BrokenModel(ScriptedLlmDouble):
    def generate(self, request: Any) -> Any:
        raise RuntimeError("CUDA error: device-side assert triggered")


def test_a_failing_model_ends_the_llm_part_and_hybrid_still_answers(sandbox: SandboxPool) -> None:
    events = Events()
    engine = HybridEngine(backend=_BrokenModel({}), population=2, generations=3, samples_per_call=2)
    try:
        result = engine.solve(TASK, Deadline(20), _context(sandbox, events))
    finally:
        engine.close()
    assert result.stats["llm_errors"] == 1
    assert any("device-side assert" in e["message"] for e in events.kinds("log"))
    assert result.candidates and result.candidates[0].train_exact == 3  # the search's answer


def test_without_torch_the_engine_says_which_extra_to_install(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    from tests.support.tiny_model import build_tiny_model

    model_dir = build_tiny_model(tmp_path / "tiny")
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now fails as if it were not installed
    with pytest.raises(Exception, match=r"arcforge-solver\[llm\]"):
        LlmEngine(model_dir=str(model_dir))


def test_list_style_and_dsl_style_model_code_both_run(sandbox: SandboxPool) -> None:
    lists = (
        "Looking at the examples, each row is reversed.\n\n```python\ndef solve(grid):\n"
        "    height, width = len(grid), len(grid[0])\n"
        "    return [[int(grid[r][width - 1 - c]) for c in range(width)] for r in range(height)]\n```"
    )
    dsl = "```python\nfrom arcforge_solver.dsl import flip_lr\n\ndef solve(grid):\n    return flip_lr(grid)\n```"
    double = ScriptedLlmDouble({"generate": [lists, dsl]})
    engine = LlmEngine(backend=double, population=2, generations=1, samples_per_call=2)
    result = engine.solve(TASK, Deadline(30), _context(sandbox))
    assert result.stats["llm"]["programs"] == 2
    assert result.stats["best_fitness"] == 1.0
    # Same behaviour counts once: the simpler (DSL) program stands for both.
    (best,) = result.candidates
    assert "flip_lr(grid)" in best.source
    assert best.predictions[0] is not None and best.predictions[0].tolist() == [[9, 8, 7], [2, 1, 1]]


def test_a_broken_sandbox_ends_the_llm_part_and_hybrid_still_answers() -> None:
    closed = SandboxPool(workers=1, lazy=True)
    closed.close()  # every run_program now raises SandboxError
    events = Events()
    engine = HybridEngine(backend=ScriptedLlmDouble({"generate": [WRONG]}), population=2, generations=2)
    try:
        result = engine.solve(TASK, Deadline(20), _context(closed, events))
    finally:
        engine.close()
    assert result.stats["llm_errors"] == 1
    assert any("SandboxError" in e["message"] for e in events.kinds("log"))
    assert result.candidates[0].train_exact == 3 and result.candidates[0].origin != "llm-generate"


def test_hybrid_model_refines_the_search_programs_once_they_arrive(sandbox: SandboxPool) -> None:
    # The same input maps to two different outputs: no program solves both, so nobody stops early.
    clash = Task(
        "clash",
        train=(
            Pair(g([[1, 2]]), g([[2, 1]])),
            Pair(g([[1, 2]]), g([[1, 2]])),
            Pair(g([[3, 4]]), g([[4, 3]])),
        ),
        test=(Pair(g([[5, 6]])),),
    )
    double = ScriptedLlmDouble({"generate": [WRONG], "refine": [HALF], "crossover": [HALF]})
    engine = HybridEngine(backend=double, population=2, generations=1, samples_per_call=2, search_share=0.3)
    try:
        result = engine.solve(clash, Deadline(15), _context(sandbox))
    finally:
        engine.close()
    assert result.stats["search_candidates"] >= 1
    search_sources = [c.source.strip() for c in result.candidates if c.trusted]
    later = [p for p in double.prompts if "This program was tried" in p or "Program A" in p]
    assert later, "no refine or crossover round after the search arrived"
    assert any(source in prompt for prompt in later for source in search_sources)
    assert result.stats["generations"] == 2
