"""The detail screen of one task: its train pairs, the best program, the predicted test outputs."""

from __future__ import annotations

from typing import Any, ClassVar

from rich.syntax import Syntax
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Static

from arcforge_tui.grids import grid_size, grid_text
from arcforge_tui.state import TaskRow


class GridView(Vertical):
    """One captioned ARC grid."""

    def __init__(self, caption: str, grid: Any) -> None:
        super().__init__(classes="grid-view")
        self._caption = caption
        self._grid = grid

    def compose(self) -> ComposeResult:
        yield Static(Text(f"{self._caption} {grid_size(self._grid)}", style="bold"), classes="grid-caption")
        yield Static(grid_text(self._grid), classes="grid-cells")


def _task_summary(row: TaskRow) -> Text:
    text = Text.assemble(("task ", "bold"), (row.task_id, "bold cyan"), f"  {row.state}")
    if row.fitness is not None:
        text.append(f"  fitness {row.fitness:.3f}")
    if row.seconds is not None:
        text.append(f"  {row.seconds:.1f} s")
    if row.attempts is not None:
        text.append(f"  attempts {row.attempts}")
    if row.correct is not None:
        text.append(
            "  correct" if row.correct else "  wrong", style="bold green" if row.correct else "bold red"
        )
    if row.llm:
        text.append(f"  llm calls {row.llm.get('calls', '?')}", style="dim")
    if row.error:
        text.append(f"\nerror: {row.error}", style="bold red")
    return text


class TaskDetailScreen(Screen[None]):
    """Shown by enter on a task row; escape goes back."""

    BINDINGS: ClassVar[list[Binding | tuple[str, str] | tuple[str, str, str]]] = [
        Binding("escape", "app.pop_screen", "Back")
    ]

    def __init__(self, row: TaskRow) -> None:
        super().__init__()
        self.row = row

    def compose(self) -> ComposeResult:
        row = self.row
        with VerticalScroll(id="detail"):
            yield Static(_task_summary(row), id="detail-summary")
            yield Static(Text("Train pairs", style="bold underline"), classes="detail-heading")
            if row.train:
                for index, pair in enumerate(row.train):
                    grids = pair if isinstance(pair, dict) else {}
                    with Horizontal(classes="grid-pair"):
                        yield GridView(f"train {index + 1} input", grids.get("input"))
                        yield GridView("→ output", grids.get("output"))
            else:
                yield Static(Text("the events carry no train pairs for this task", style="dim"))
            yield Static(Text("Best program", style="bold underline"), classes="detail-heading")
            if row.program:
                yield Static(
                    Syntax(
                        row.program.rstrip("\n"), "python", theme="monokai", line_numbers=True, word_wrap=True
                    ),
                    id="detail-program",
                )
            else:
                yield Static(Text("no program found", style="dim"), id="detail-program")
            yield Static(Text("Predicted test output", style="bold underline"), classes="detail-heading")
            if row.predictions:
                for index, entry in enumerate(row.predictions):
                    attempts = entry if isinstance(entry, list) else [entry]
                    with Horizontal(classes="grid-pair"):
                        for number, grid in enumerate(attempts[:2], start=1):
                            yield GridView(f"test {index + 1} attempt {number}", grid)
            else:
                yield Static(Text("no prediction yet", style="dim"))
        yield Footer()
