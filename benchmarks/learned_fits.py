"""Which learned final steps fit a task's raw train pairs, and how often such a fit is right on test.

    python benchmarks/learned_fits.py ../shared/arc/arc-agi-2/training --split tune

For each task of the split, the search's fitters (`learn.finishers`, deep: colour map, cell rules,
stamps, object recolouring, tile layouts) run once on the untransformed inputs, as the search runs
them on its first grid. A fit that reproduces every train output is scored on the test outputs.
Prints, per learned step, how many tasks it fitted and how many of those it got right on test,
with the task ids; no search runs, so it takes seconds. It is the cheap first look when choosing
what a new learned step must do, before the search is run on the tasks it touches. Tune on the
tune split only.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
from solver_accuracy import in_split, load_tasks, task_arguments

from arcforge_solver.engines.search.evaluator import Evaluator
from arcforge_solver.engines.search.learn import finishers
from arcforge_solver.engines.search.program import INPUT, Node
from arcforge_solver.engines.search.search_engine import kind_of_op, task_background
from arcforge_solver.runtime.progress import ProgressLine
from arcforge_solver.tasks.model import Task


def fits(task: Task) -> dict[str, bool]:
    """Each learned step that turns the raw train inputs into the train outputs: right on test?"""
    evaluator = Evaluator(task, kind_of_op)
    inputs = evaluator.value(Node(INPUT))
    assert inputs is not None
    found: dict[str, bool] = {}
    for node in finishers(
        Node(INPUT), inputs, evaluator.targets, evaluator.n_train, task_background(task), deep=True
    ):
        values = evaluator.apply(node, [inputs], "grid")
        if values is None or evaluator.fitness(values)[0] < 1.0 or node.op in found:
            continue  # the first fit of each step is the one the search ranks first
        outputs = [p.output for p in task.test]
        found[node.op] = all(
            out is not None and got is not None and np.array_equal(got, out)
            for got, out in zip(evaluator.test_values(values), outputs, strict=True)
        )
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    task_arguments(parser, "tune")
    args = parser.parse_args(argv)
    tasks = in_split(load_tasks(args.tasks), args.split)
    by_step: dict[str, list[tuple[str, bool]]] = {}
    progress = ProgressLine(sys.stderr)
    for k, task in enumerate(tasks, 1):
        for op, right in fits(task).items():
            by_step.setdefault(op, []).append((task.task_id, right))
        progress.update(f"[{k}/{len(tasks)}] {task.task_id}", force=k == len(tasks))
    progress.done()
    print(f"{len(tasks)} tasks from {args.tasks}, split {args.split}: learned steps fitted on the raw inputs")
    print(f"{'step':<18} {'fitted':>6} {'right on test':>13}")
    for op, rows in sorted(by_step.items()):
        right = [t for t, ok in rows if ok]
        print(f"{op:<18} {len(rows):>6} {len(right):>13}")
        print(f"  right: {' '.join(right) or '-'}")
        print(f"  wrong: {' '.join(t for t, ok in rows if not ok) or '-'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
