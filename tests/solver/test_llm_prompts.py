"""Prompts: compact grids, refine prompts that carry the diff, crossover, fitting a token budget."""

from __future__ import annotations

import numpy as np

from arcforge_solver.engines.llm.prompts import (
    PromptParts,
    TrialReport,
    chat_prompt,
    crossover_text,
    diff_text,
    dsl_summary,
    fit_parts,
    generate_text,
    grid_text,
    refine_text,
)
from arcforge_solver.tasks.model import Pair, Task


def g(rows: list[list[int]]) -> np.ndarray:
    return np.array(rows, dtype=np.int8)


TASK = Task(
    "mirror",
    train=(
        Pair(g([[1, 2, 0], [3, 4, 0]]), g([[0, 2, 1], [0, 4, 3]])),
        Pair(g([[5, 6]]), g([[6, 5]])),
    ),
    test=(Pair(g([[7, 8, 9]]), g([[9, 8, 7]])),),
)
ALL = PromptParts((0, 1), True)


def test_grid_text_is_compact_with_size() -> None:
    assert grid_text(g([[1, 2, 0], [3, 4, 0]])) == "2x3\n120\n340"
    assert grid_text(None) == "(none)"


def test_generate_prompt_shows_train_pairs_and_test_inputs_never_test_outputs() -> None:
    text = generate_text(TASK, ALL, "rot90(grid)")
    assert "Example 1\ninput 2x3\n120\n340\noutput 2x3\n021\n043" in text
    assert "Test input 1\ninput 1x3\n789" in text
    assert "987" not in text  # the test output
    assert "def solve(grid)" in text or "`solve(grid)`" in text
    assert "DSL helpers: rot90(grid)" in text


def test_dsl_summary_lists_real_helpers_within_the_limit() -> None:
    summary = dsl_summary(limit_chars=300)
    assert 0 < len(summary) <= 300
    assert "(grid" in summary


def test_diff_lists_wrong_cells_and_marks_them() -> None:
    text = diff_text(g([[0, 2, 1], [0, 9, 3]]), g([[0, 2, 1], [0, 4, 3]]), None)
    assert "1 of 6 cells wrong" in text
    assert "(1,1) got 9 want 4" in text
    assert "021\n0x3" in text


def test_diff_reports_wrong_size_error_and_correct() -> None:
    assert "wrong size: got 1x2, expected 2x3" in diff_text(g([[1, 2]]), g([[1, 2, 3], [4, 5, 6]]), None)
    assert diff_text(None, g([[1]]), "runtime: IndexError: index 5 is out of bounds") == (
        "error: runtime: IndexError: index 5 is out of bounds"
    )
    assert diff_text(g([[1]]), g([[1]]), None) == "correct"


def test_refine_prompt_contains_the_program_and_the_diff_per_example() -> None:
    program = "def solve(grid):\n    return grid[:, ::-1]"
    report = TrialReport(
        outputs=(g([[0, 2, 1], [0, 4, 3]]), None),
        errors=(None, "timeout: timed out after 2 s"),
    )
    text = refine_text(TASK, ALL, program, report)
    assert "This program was tried:\n```python\ndef solve(grid):\n    return grid[:, ::-1]\n```" in text
    assert "Example 1: correct" in text
    assert "Example 2: error: timeout: timed out after 2 s" in text
    assert "corrected program" in text


def test_refine_prompt_shows_cell_diff_for_a_partly_wrong_output() -> None:
    report = TrialReport(outputs=(g([[0, 2, 1], [0, 4, 4]]), g([[6, 5]])), errors=(None, None))
    text = refine_text(TASK, ALL, "def solve(grid):\n    return grid", report)
    assert "Example 1: 1 of 6 cells wrong: (1,2) got 4 want 3" in text
    assert "Example 2: correct" in text


def test_crossover_prompt_names_what_each_parent_solves() -> None:
    text = crossover_text(
        TASK, ALL, ("def solve(grid):\n    return grid", [0]), ("def solve(grid):\n    return grid.T", [])
    )
    assert "Program A (solves examples 1):" in text
    assert "Program B (solves no example exactly):" in text
    assert "return grid.T" in text


def test_fit_parts_drops_tests_then_pairs_to_fit() -> None:
    def render(parts: PromptParts) -> str:
        return generate_text(TASK, parts)

    def words(text: str) -> int:
        return len(text.split())

    full = words(render(ALL))
    assert "Test input" in fit_parts(TASK, render, words, full)
    without_tests = fit_parts(TASK, render, words, full - 1)
    assert "Test input" not in without_tests and "Example 2" in without_tests
    one_pair = fit_parts(TASK, render, words, words(render(PromptParts((0,), False))))
    assert "Example 1" in one_pair and "Example 2" not in one_pair


class _TemplateTokenizer:
    chat_template = "x"

    def apply_chat_template(
        self, messages: list[dict[str, str]], tokenize: bool, add_generation_prompt: bool
    ) -> str:
        assert not tokenize and add_generation_prompt
        return f"<u>{messages[0]['content']}</u><a>"


class _RefusingTokenizer(_TemplateTokenizer):
    def apply_chat_template(
        self, messages: list[dict[str, str]], tokenize: bool, add_generation_prompt: bool
    ) -> str:
        raise ValueError("System role not supported")


def test_chat_prompt_uses_the_template_or_falls_back_to_plain_text() -> None:
    assert chat_prompt(_TemplateTokenizer(), "hello") == "<u>hello</u><a>"
    assert chat_prompt(_RefusingTokenizer(), "hello") == "hello\n\n```python\n"
    assert chat_prompt(object(), "hello").endswith("```python\n")
