"""ARC grids as Rich text: each cell two spaces wide on its ARC colour."""

from __future__ import annotations

from typing import Any

from rich.style import Style
from rich.text import Text

# The 10 standard ARC colours, by cell value.
ARC_COLOURS = (
    "#000000",  # 0 black
    "#0074D9",  # 1 blue
    "#FF4136",  # 2 red
    "#2ECC40",  # 3 green
    "#FFDC00",  # 4 yellow
    "#AAAAAA",  # 5 grey
    "#F012BE",  # 6 magenta
    "#FF851B",  # 7 orange
    "#7FDBFF",  # 8 sky blue
    "#870C25",  # 9 maroon
)
_CELL_STYLES = tuple(Style(bgcolor=colour) for colour in ARC_COLOURS)
_BAD_CELL = Style(bgcolor="#FFFFFF", color="#000000")


def is_grid(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(row, list) for row in value)
        and all(isinstance(cell, int) and not isinstance(cell, bool) for row in value for cell in row)
    )


def grid_text(grid: Any) -> Text:
    """The grid as coloured cells; anything that is not a grid of ints says so in words."""
    if not is_grid(grid):
        return Text("(no grid)", style="italic")
    text = Text()
    for y, row in enumerate(grid):
        if y:
            text.append("\n")
        for cell in row:
            if 0 <= cell < len(_CELL_STYLES):
                text.append("  ", _CELL_STYLES[cell])
            else:  # not an ARC colour: show the value so nothing is hidden
                text.append(f"{cell:>2}"[-2:], _BAD_CELL)
    return text


def grid_size(grid: Any) -> str:
    if not is_grid(grid):
        return "?"
    return f"{len(grid)}×{max(len(row) for row in grid)}"
