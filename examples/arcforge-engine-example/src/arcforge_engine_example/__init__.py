"""An example plug-in engine: answers with the dihedral transform (rotation or reflection) that best fits
the train pairs. Registered under the `arcforge.engines` entry points as `example` (see pyproject.toml)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from arcforge_solver.engines.protocol import Candidate, Deadline, EngineContext, EngineResult
from arcforge_solver.tasks.model import Grid, Task

__all__ = ["TRANSFORMS", "ExampleEngine", "fitness"]

# name -> (the transform, the numpy expression a program applies it with)
TRANSFORMS: dict[str, tuple[Callable[[Grid], Grid], str]] = {
    "identity": (lambda g: g, "grid"),
    "rot90": (lambda g: np.rot90(g, 1), "np.rot90(grid, 1)"),
    "rot180": (lambda g: np.rot90(g, 2), "np.rot90(grid, 2)"),
    "rot270": (lambda g: np.rot90(g, 3), "np.rot90(grid, 3)"),
    "flip_rows": (np.flipud, "np.flipud(grid)"),
    "flip_columns": (np.fliplr, "np.fliplr(grid)"),
    "transpose": (lambda g: g.T, "grid.T"),
    "antitranspose": (lambda g: np.rot90(g, 2).T, "np.rot90(grid, 2).T"),
}


def fitness(transform: Callable[[Grid], Grid], task: Task) -> tuple[int, float]:
    """(train pairs reproduced exactly, the mean share of cells right; 0 for a pair of another shape)."""
    exact, cells = 0, 0.0
    pairs = [p for p in task.train if p.output is not None]
    for pair in pairs:
        got, want = transform(pair.input), pair.output
        assert want is not None
        if got.shape == want.shape:
            share = float(np.mean(got == want))
            cells += share
            exact += share == 1.0
    return exact, cells / max(len(pairs), 1)


def program(name: str, expression: str) -> str:
    return (
        f"# arcforge-engine-example: {name}\n"
        "import numpy as np\n\n\n"
        "def solve(grid):\n"
        f"    grid = np.asarray(grid)\n    return np.ascontiguousarray({expression})\n"
    )


class ExampleEngine:
    """Tries the eight dihedral transforms on the train pairs; candidates ranked by exact pairs, then cells."""

    name = "example"
    parallel = True  # cheap and stateless: the runtime may fan tasks out over processes

    def __init__(self, **options: object) -> None:
        self.options = options  # the runtime passes every engine flag; this engine needs none

    def solve(self, task: Task, deadline: Deadline, context: EngineContext) -> EngineResult:
        scored = []
        for index, (name, (transform, expression)) in enumerate(TRANSFORMS.items()):
            exact, cells = fitness(transform, task)
            predictions = tuple(np.ascontiguousarray(transform(grid)) for grid in task.test_inputs)
            candidate = Candidate(
                source=program(name, expression),
                trusted=True,  # written here, not by a model
                train_fitness=cells,
                train_exact=exact,
                predictions=predictions,
                complexity=index,  # identity first among equals
                origin="example",
            )
            scored.append(candidate)
        scored.sort(key=lambda c: (-c.train_exact, -c.train_fitness, c.complexity))
        return EngineResult(task.task_id, scored, stats={"transforms_tried": len(scored)})
