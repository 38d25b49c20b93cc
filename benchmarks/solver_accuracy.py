"""Accuracy of the model-free search engine on ARC tasks with known answers.

    python benchmarks/solver_accuracy.py /work/shared/arc/arc-agi-1/training --time-per-task 30 --workers 2
    python benchmarks/solver_accuracy.py TASKS --time-per-task 5 --split holdout --limit 80

TASKS is a folder of task JSON files (with test outputs), or one such file. Prints the three scores
(Kaggle's, the per-task fraction, the share of tasks fully solved), seconds per task and candidate
evaluations per second, for the chosen split and, with `--split all`, for the tune and held-out parts
separately. A task is held out when sha256(task_id) % 5 == 0 (the project's fixed split).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from arcforge_solver.engines.protocol import Deadline, EngineContext
from arcforge_solver.engines.ranking import pick_attempts
from arcforge_solver.engines.search.search_engine import SearchEngine
from arcforge_solver.tasks.model import Pair, Task, to_grid


def held_out(task_id: str) -> bool:
    return int(hashlib.sha256(task_id.encode()).hexdigest(), 16) % 5 == 0


def load_tasks(path: Path) -> list[Task]:
    files = sorted(path.glob("*.json")) if path.is_dir() else [path]
    tasks = []
    for file in files:
        data = json.loads(file.read_text())
        train = tuple(Pair(to_grid(p["input"]), to_grid(p["output"])) for p in data["train"])
        test = tuple(Pair(to_grid(p["input"]), to_grid(p["output"])) for p in data["test"])
        tasks.append(Task(file.stem, train, test, source=str(file)))
    return tasks


def _run_one(job: tuple[Task, float, int, dict[str, Any]]) -> dict[str, Any]:
    task, seconds, seed, options = job
    engine = SearchEngine(**options)
    # the expected test outputs stay here: the engine sees only the test inputs
    blind = Task(task.task_id, task.train, tuple(Pair(p.input) for p in task.test), task.source)
    started = time.monotonic()
    result = engine.solve(blind, Deadline(seconds), EngineContext(seed=seed))
    elapsed = time.monotonic() - started
    attempts = pick_attempts(result.candidates)
    correct = []
    for i, pair in enumerate(task.test):
        hit = any(
            a.predictions[i] is not None and np.array_equal(a.predictions[i], pair.output) for a in attempts
        )
        correct.append(hit)
    best = result.candidates[0] if result.candidates else None
    return {
        "task_id": task.task_id,
        "held_out": held_out(task.task_id),
        "correct": correct,
        "seconds": elapsed,
        "evaluations": int(result.stats.get("evaluations", 0)),
        "train_solved": bool(result.stats.get("train_solved", False)),
        "fitness": best.train_fitness if best else 0.0,
        "program": best.source if best else "",
        "origin": best.origin if best else "",
        "completed_cost": int(result.stats.get("completed_cost", 0)),
    }


def scores(rows: list[dict[str, Any]]) -> dict[str, float]:
    outputs = [c for r in rows for c in r["correct"]]
    return {
        "kaggle": sum(outputs) / len(outputs) if outputs else 0.0,
        "task_fraction": sum(sum(r["correct"]) / len(r["correct"]) for r in rows) / len(rows)
        if rows
        else 0.0,
        "tasks_fully_solved": sum(all(r["correct"]) for r in rows) / len(rows) if rows else 0.0,
    }


def report(label: str, rows: list[dict[str, Any]]) -> str:
    if not rows:
        return f"{label}: no tasks"
    s = scores(rows)
    seconds = sum(r["seconds"] for r in rows)
    evaluations = sum(r["evaluations"] for r in rows)
    solved = sum(all(r["correct"]) for r in rows)
    train = sum(r["train_solved"] for r in rows)
    return (
        f"{label}: {len(rows)} tasks  kaggle {s['kaggle']:.3f}  task_fraction {s['task_fraction']:.3f}  "
        f"tasks_fully_solved {s['tasks_fully_solved']:.3f} ({solved})  train-exact {train}  "
        f"{seconds / len(rows):.2f} s/task  {evaluations / seconds if seconds else 0:.0f} evals/s"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "tasks", type=Path, help="a folder of ARC task JSON files with test outputs, or one file"
    )
    parser.add_argument("--time-per-task", type=float, default=30.0, help="seconds the engine gets per task")
    parser.add_argument("--workers", type=int, default=1, help="tasks solved at once, one process each")
    parser.add_argument(
        "--split", choices=("all", "tune", "holdout"), default="all", help="which part of the tasks to run"
    )
    parser.add_argument(
        "--limit", type=int, default=0, help="run only the first N tasks of the split (0: all)"
    )
    parser.add_argument("--seed", type=int, default=0, help="the engine's random seed")
    parser.add_argument("--max-cost", type=int, default=4, help="the deepest enumeration level")
    parser.add_argument("--out", type=Path, help="write per-task results (JSON) here, for failure analysis")
    args = parser.parse_args(argv)
    if not args.tasks.exists():
        parser.error(f"no such file or folder: {args.tasks}")
    tasks = load_tasks(args.tasks)
    if args.split != "all":
        tasks = [t for t in tasks if held_out(t.task_id) == (args.split == "holdout")]
    if args.limit:
        tasks = tasks[: args.limit]
    options = {"max_cost": args.max_cost}
    jobs = [(t, args.time_per_task, args.seed, options) for t in tasks]
    rows: list[dict[str, Any]] = []
    started = time.monotonic()
    with multiprocessing.get_context("spawn").Pool(max(1, args.workers)) as pool:
        for row in pool.imap_unordered(_run_one, jobs):
            rows.append(row)
            mark = "ok " if all(row["correct"]) else ("trn" if row["train_solved"] else "-- ")
            print(
                f"[{len(rows)}/{len(jobs)}] {mark} {row['task_id']} {row['seconds']:.1f}s "
                f"fitness {row['fitness']:.3f}",
                file=sys.stderr,
                flush=True,
            )
    rows.sort(key=lambda r: r["task_id"])
    print(
        f"settings: {len(tasks)} tasks from {args.tasks}, {args.time_per_task:g} s/task, "
        f"{args.workers} workers, split {args.split}, wall {time.monotonic() - started:.0f} s"
    )
    print(report("all", rows))
    if args.split == "all":
        print(report("tune", [r for r in rows if not r["held_out"]]))
        print(report("holdout", [r for r in rows if r["held_out"]]))
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
