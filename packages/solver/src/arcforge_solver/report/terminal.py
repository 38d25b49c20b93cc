"""`arcforge-solve show TASK_ID`: one task in the terminal, with its grids in the ARC colours, the best
program highlighted, and why it fails (which train pair, which cells)."""

from __future__ import annotations

from collections.abc import Sequence

from arcforge_solver.report.diagnose import PairVerdict, diagnose
from arcforge_solver.report.highlight import highlight_python
from arcforge_solver.report.html_report import ARC_PALETTE
from arcforge_solver.report.run_view import TaskView, wrong_cells

RESET = "\x1b[0m"
_CODE_COLOURS = {
    "keyword": "\x1b[35m",
    "builtin": "\x1b[36m",
    "string": "\x1b[33m",
    "number": "\x1b[32m",
    "comment": "\x1b[2m",
    "name": "\x1b[94m",
}


def render_task(task: TaskView, colour: bool = True, check: bool = True) -> str:
    """The whole view of one task as text; `colour` False gives plain digits (pipes, NO_COLOR)."""
    lines = [
        f"task {task.task_id}: {task.state} ({task.outcome})"
        + (f", {task.seconds:.2f} s" if task.seconds is not None else "")
        + (f", train fitness {task.fitness:.3f}" if task.fitness is not None else "")
        + (f", engine {task.engine}" if task.engine else "")
        + (f", found by {task.found_by}" if task.found_by else "")
    ]
    if task.error:
        lines.append(f"error: {task.error}")
    for n, (grid_in, grid_out) in enumerate(task.train, start=1):
        lines.append("")
        lines.extend(
            side_by_side(
                [(f"train {n} input", grid_in, set()), (f"train {n} output", grid_out, set())], colour
            )
        )
    for n, test in enumerate(task.tests, start=1):
        panels: list[tuple[str, Sequence[Sequence[int]] | None, set[tuple[int, int]]]] = [
            (f"test {n} input", test.input, set())
        ]
        for k, attempt in enumerate(test.attempts, start=1):
            wrong = wrong_cells(attempt, test.expected)
            label = f"attempt {k}" + (
                "" if test.expected is None else (f" ({len(wrong)} wrong)" if wrong else " (right)")
            )
            panels.append((label, attempt, wrong))
        if test.expected is not None:
            panels.append(("expected", test.expected, set()))
        lines.append("")
        lines.extend(side_by_side(panels, colour))
    lines.append("")
    if task.program:
        lines.append("best program:")
        lines.append(_code(task.program, colour))
    else:
        lines.append("no program was recorded for this task")
    if check and task.program:
        lines.append(_diagnosis(diagnose(task)))
    return "\n".join(lines)


def side_by_side(
    panels: Sequence[tuple[str, Sequence[Sequence[int]] | None, set[tuple[int, int]]]], colour: bool
) -> list[str]:
    """Grids next to each other under their labels; wrong cells show an `x`."""
    drawn = [_grid_lines(grid, wrong, colour) for _label, grid, wrong in panels]
    widths = [max(len(label), 2 * _width(grid)) for label, grid, _wrong in panels]
    height = max(len(d) for d in drawn)
    out = ["   ".join(label.ljust(w) for (label, _g, _w), w in zip(panels, widths, strict=True)).rstrip()]
    for row in range(height):
        cells = []
        for d, (_label, grid, _wrong), w in zip(drawn, panels, widths, strict=True):
            text = d[row] if row < len(d) else ""
            visible = 2 * _width(grid) if row < len(d) else 0
            cells.append(text + " " * (w - visible))
        out.append("   ".join(cells).rstrip())
    return out


def _width(grid: Sequence[Sequence[int]] | None) -> int:
    return len(grid[0]) if grid else 3


def _grid_lines(grid: Sequence[Sequence[int]] | None, wrong: set[tuple[int, int]], colour: bool) -> list[str]:
    if not grid:
        return ["(none)"]
    lines = []
    for r, row in enumerate(grid):
        parts = []
        for c, value in enumerate(row):
            mark = "x" if (r, c) in wrong else " "
            if colour and 0 <= value <= 9:
                red, green, blue = (int(ARC_PALETTE[value][i : i + 2], 16) for i in (1, 3, 5))
                fg = "\x1b[97m" if value in (0, 1, 9) else "\x1b[30m"
                parts.append(f"\x1b[48;2;{red};{green};{blue}m{fg}{mark} {RESET}")
            else:
                parts.append(f"{value if 0 <= value <= 9 else '?'}{mark}")
        lines.append("".join(parts))
    return lines


def _code(source: str, colour: bool) -> str:
    if not colour:
        return "\n".join("    " + line for line in source.rstrip().splitlines())
    text = "".join(
        f"{_CODE_COLOURS[kind]}{piece}{RESET}" if kind in _CODE_COLOURS else piece
        for kind, piece in highlight_python(source.rstrip())
    )
    return "\n".join("    " + line for line in text.splitlines())


def _diagnosis(verdicts: list[PairVerdict] | str) -> str:
    if isinstance(verdicts, str):
        return f"check: {verdicts}"
    wrong = [v for v in verdicts if not v.right]
    if not wrong:
        return f"check: the program reproduces all {len(verdicts)} train pairs"
    lines = [f"check: the program fails {len(wrong)} of {len(verdicts)} train pairs"]
    lines.extend(f"  train {v.index + 1}: {v.why}" for v in wrong)
    return "\n".join(lines)
