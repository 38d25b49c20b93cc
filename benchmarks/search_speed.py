"""Search engine speed at fixed work: CPU seconds for the same tasks and evaluation cap, this
checkout against a baseline checkout, side by side.

    git worktree add /tmp/arcforge-base REV
    python benchmarks/search_speed.py ../shared/arc/arc-agi-2/training --baseline /tmp/arcforge-base

Each checkout's search runs in a process of its own (its `packages/solver/src` first on the path),
one task after another, capped at `--max-evaluations` a task so both do the same work. The script
prints each side's candidate evaluations per CPU second and the ratio, and whether the two gave
the same ranked programs and predictions on every task (a speed-up must not change an answer).
CPU time, not wall time, so other jobs on the machine disturb the figures less. Without
`--baseline` it prints this checkout's figures alone. Tasks are every k-th of the tune split
(`--split`), so none of the held-out fifth is needed.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
from pathlib import Path

from solver_accuracy import held_out

from arcforge_solver.runtime.progress import ProgressLine

ROOT = Path(__file__).resolve().parents[1]

_CHILD = """
import hashlib, json, sys, time
sys.path.insert(0, sys.argv[1])
from arcforge_solver.engines.protocol import Deadline, EngineContext
from arcforge_solver.engines.search.search_engine import SearchEngine
from arcforge_solver.tasks.io import load_tasks, without_test_outputs
import arcforge_solver
assert arcforge_solver.__file__.startswith(sys.argv[1]), arcforge_solver.__file__
cap = int(sys.argv[2])
for path in sys.argv[3:]:
    task = load_tasks(path).tasks[0]
    blind = without_test_outputs(task)
    started = time.process_time()
    result = SearchEngine(max_evaluations=cap).solve(blind, Deadline(3600.0), EngineContext(seed=0))
    cpu = time.process_time() - started
    answer = [(c.source, [None if p is None else p.tolist() for p in c.predictions]) for c in result.candidates]
    digest = hashlib.sha256(json.dumps(answer).encode()).hexdigest()[:16]
    print(json.dumps({"task": task.task_id, "cpu": cpu, "evaluations": result.stats["evaluations"], "answer": digest}), flush=True)
"""


def pick(folder: Path, split: str, count: int) -> list[Path]:
    """Every k-th task file of the split, `count` of them."""
    files = sorted(folder.glob("*.json"))
    chosen = [f for f in files if split == "all" or held_out(f.stem) == (split == "holdout")]
    if not chosen:
        raise SystemExit(f"no task files of the {split} split in {folder}")
    stride = max(1, len(chosen) // count)
    return chosen[::stride][:count]


def solver_source(checkout: Path) -> Path:
    src = checkout / "packages" / "solver" / "src"
    if not (src / "arcforge_solver").is_dir():
        raise SystemExit(f"{checkout}: not an arcforge checkout (no packages/solver/src/arcforge_solver)")
    return src


def run_side(checkout: Path, cap: int, tasks: list[Path], label: str) -> list[dict[str, object]]:
    """One checkout's rows, a task at a time, with a progress line."""
    src = solver_source(checkout)
    rows: list[dict[str, object]] = []
    command = [sys.executable, "-c", _CHILD, str(src), str(cap), *map(str, tasks)]
    progress = ProgressLine(sys.stderr)
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as child:
        assert child.stdout is not None
        for line in child.stdout:
            rows.append(json.loads(line))
            progress.update(f"{label}: {len(rows)}/{len(tasks)} tasks", force=len(rows) == len(tasks))
    progress.done()
    if child.returncode != 0:
        raise SystemExit(f"{label}: the search process failed (exit {child.returncode})")
    return rows


def rate(rows: list[dict[str, object]]) -> tuple[int, float]:
    evaluations = sum(int(str(r["evaluations"])) for r in rows)
    cpu = sum(float(str(r["cpu"])) for r in rows)
    return evaluations, cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("tasks", type=Path, help="a folder of ARC task JSON files")
    parser.add_argument("--baseline", type=Path, help="another arcforge checkout to run side by side")
    parser.add_argument("--split", choices=("all", "tune", "holdout"), default="tune", help="default: tune")
    parser.add_argument("--count", type=int, default=24, help="tasks to run (default: 24)")
    parser.add_argument(
        "--max-evaluations", type=int, default=6000, help="candidate evaluations a task (default: 6000)"
    )
    args = parser.parse_args(argv)
    if not args.tasks.is_dir():
        parser.error(f"{args.tasks}: not a folder of task files")
    if args.baseline:
        solver_source(args.baseline)  # before any time is spent on this checkout
    tasks = pick(args.tasks, args.split, args.count)
    print(
        f"machine: {platform.machine()}, CPython {platform.python_version()}; {len(tasks)} {args.split} "
        f"tasks from {args.tasks}, {args.max_evaluations} evaluations each"
    )
    sides = [("this checkout", ROOT)] + ([("baseline", args.baseline.resolve())] if args.baseline else [])
    results = {label: run_side(path, args.max_evaluations, tasks, label) for label, path in sides}
    print(f"{'side':<14} {'evaluations':>11} {'CPU s':>8} {'evals/CPU s':>12}")
    for label, rows in results.items():
        evaluations, cpu = rate(rows)
        print(f"{label:<14} {evaluations:>11} {cpu:>8.1f} {evaluations / cpu:>12.0f}")
    if args.baseline:
        (ours, our_cpu), (theirs, their_cpu) = rate(results["this checkout"]), rate(results["baseline"])
        ratio = (ours / our_cpu) / (theirs / their_cpu)
        differ = [
            str(a["task"])
            for a, b in zip(results["this checkout"], results["baseline"], strict=True)
            if a["answer"] != b["answer"]
        ]
        print(f"ratio this checkout / baseline: {ratio:.2f}x evaluations per CPU second")
        print(
            "same answers on every task"
            if not differ
            else f"answers differ on {len(differ)}: {' '.join(differ)}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
