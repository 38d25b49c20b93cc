"""Code extraction from canned model outputs."""

from __future__ import annotations

import ast

import pytest

from arcforge_solver.engines.llm.extract import HEADER, canonical, code_blocks, complexity, extract_program


def _defined(program: str) -> set[str]:
    module = ast.parse(program)
    names = {n.name for n in module.body if isinstance(n, ast.FunctionDef)}
    names |= {
        t.id for n in module.body if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)
    }
    return names


def _run(program: str, grid: list[list[int]]) -> object:
    import numpy as np

    namespace: dict[str, object] = {}
    exec(program, namespace)  # test-only: canned, trusted text
    solve = namespace["solve"]
    assert callable(solve)
    return np.asarray(solve(np.array(grid))).tolist()


def test_one_fenced_block_with_prose_around() -> None:
    text = (
        "Sure! The rule mirrors each row.\n\n```python\nimport numpy as np\n\ndef solve(grid):\n"
        "    return np.fliplr(grid)\n```\nThis flips the grid left to right."
    )
    program = extract_program(text)
    assert program is not None
    assert program.startswith(HEADER)
    assert "Sure!" not in program and "This flips" not in program
    assert _run(program, [[1, 2]]) == [[2, 1]]


def test_missing_fences_code_after_prose() -> None:
    text = "The answer is below.\ndef solve(grid):\n    return grid.T\n"
    program = extract_program(text)
    assert program is not None
    assert _run(program, [[1, 2]]) == [[1], [2]]


def test_helpers_in_one_block_solve_in_another() -> None:
    text = (
        "First a helper:\n```python\ndef double(g):\n    return g * 2\n```\n"
        "Then the entry point:\n```python\ndef solve(grid):\n    return double(grid)\n```\n"
    )
    program = extract_program(text)
    assert program is not None
    assert {"double", "solve"} <= _defined(program)
    assert _run(program, [[1, 3]]) == [[2, 6]]


def test_non_python_blocks_are_skipped() -> None:
    text = "```text\n0 1\n1 0\n```\n```python\ndef solve(grid):\n    return grid\n```"
    assert code_blocks(text) == ["def solve(grid):\n    return grid\n"]


def test_unclosed_fence_cut_off_mid_line_keeps_what_parses() -> None:
    text = (
        "```python\ndef helper(g):\n    return g + 1\n\ndef solve(grid):\n    return helper(grid)\n\n"
        "def unfinished(g):\n    return g[0"
    )
    program = extract_program(text)
    assert program is not None
    assert "unfinished" not in program
    assert _run(program, [[1]]) == [[2]]


def test_other_entry_point_names_become_solve() -> None:
    program = extract_program("```python\ndef transform(grid):\n    return grid[::-1]\n```")
    assert program is not None
    assert "solve = transform" in program
    assert _run(program, [[1], [2]]) == [[2], [1]]


def test_last_public_function_is_the_entry_point_when_no_known_name() -> None:
    program = extract_program(
        "```python\ndef _inner(g):\n    return g\n\ndef rotate_it(g):\n    return _inner(g).T\n```"
    )
    assert program is not None
    assert program.rstrip().endswith("solve = rotate_it")


def test_top_level_test_code_and_main_guard_are_dropped() -> None:
    text = (
        "```python\nimport numpy as np\nCOLOUR = 3\n\ndef solve(grid):\n    return np.full_like(grid, COLOUR)\n\n"
        "print(solve(np.zeros((2, 2))))\ntest = solve([[1]])\n"
        "if __name__ == '__main__':\n    print('hi')\n```"
    )
    program = extract_program(text)
    assert program is not None
    assert "print" not in program
    assert "COLOUR = 3" in program
    assert _run(program, [[0, 0]]) == [[3, 3]]


def test_os_and_subprocess_imports_are_dropped_the_sandbox_still_runs_the_rest() -> None:
    program = extract_program(
        "```python\nimport os\nimport subprocess\ndef solve(grid):\n    return grid\n```"
    )
    assert program is not None
    assert "import os" not in program and "subprocess" not in program


@pytest.mark.parametrize(
    "text",
    [
        "",
        "I cannot solve this puzzle.",
        "```\n0 1 2\n3 4 5\n```",
        "```python\nx = [1, 2,\n```",
        "\x00\x01 junk ��� \u05ee",
    ],
)
def test_no_program_gives_none(text: str) -> None:
    assert extract_program(text) is None


def test_canonical_ignores_comments_and_layout() -> None:
    a = extract_program("```python\ndef solve(grid):\n    # mirror\n    return grid[:, ::-1]\n```")
    b = extract_program("def solve(grid):\n\n    return grid[:, ::-1]   \n")
    assert a is not None and b is not None
    assert canonical(a) == canonical(b)


def test_complexity_grows_with_program_size() -> None:
    small = extract_program("def solve(grid):\n    return grid")
    big = extract_program("def solve(grid):\n    g = grid.copy()\n    g[g == 1] = 2\n    return g.T[::-1]")
    assert small is not None and big is not None
    assert 0 < complexity(small) < complexity(big)
