"""Accuracy of the model-free search engine on ARC tasks with known answers.

    python benchmarks/solver_accuracy.py /work/shared/arc/arc-agi-1/training --time-per-task 30 --workers 2
    python benchmarks/solver_accuracy.py TASKS --time-per-task 5 --split holdout --limit 80
    python benchmarks/solver_accuracy.py TASKS --split holdout --curve 1,5,30 --workers 1
    python benchmarks/solver_accuracy.py TASKS --split holdout --time-per-task 1 --no-check symmetry

TASKS is a folder of task JSON files (with test outputs), or one such file. Prints the three scores
(Kaggle's, the per-task fraction, the share of tasks fully solved), how many tasks got a train-exact
program and the share of those whose attempts were right on the test input (also apart for the
tasks whose first choice fits without a memorised cell table), seconds per task and
candidate evaluations per second, for the chosen split and, with `--split all`, for the tune and
held-out parts separately. Then a failure table for the unsolved held-out tasks: no candidate fit the
train pairs (the enumeration finished its `--max-cost` levels), one fit but was wrong on test, or it
timed out (no fit, and the deadline or the evaluation cap cut the enumeration off before those levels),
and how many of the wrong ones had a right train-exact program lower down (what better selection alone
could win). `--curve 1,5,30` prints accuracy against time
per task, from one run a task to the longest time: the search's schedule counts evaluations, not
seconds, so that run is, at each shorter time, where a run with that time ends (`--separate-runs`
runs each time on its own instead). The attempts are picked as the runtime picks them: the
first two distinct predictions in the engine's order. A task is held out when sha256(task_id) % 5 == 0
(the project's fixed split).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from arcforge_solver.engines.protocol import Candidate, Deadline, EngineContext, EngineResult
from arcforge_solver.engines.ranking import first_two_distinct, predictions_key, rank
from arcforge_solver.engines.search.properties import CHECKS
from arcforge_solver.engines.search.search_engine import SearchEngine, order_by_vote, task_background
from arcforge_solver.tasks.model import Pair, Task, to_grid


def held_out(task_id: str) -> bool:
    return int(hashlib.sha256(task_id.encode()).hexdigest(), 16) % 5 == 0


def task_arguments(parser: argparse.ArgumentParser, split: str) -> None:
    """The task folder and `--split` (default `split`), as every accuracy benchmark takes them."""
    parser.add_argument(
        "tasks", type=Path, help="a folder of ARC task JSON files with test outputs, or one file"
    )
    parser.add_argument(
        "--split", choices=("all", "tune", "holdout"), default=split, help="which part of the tasks to run"
    )


def in_split(tasks: list[Task], split: str) -> list[Task]:
    """The tasks of `split`: all, the held-out fifth, or the rest (tune)."""
    return tasks if split == "all" else [t for t in tasks if held_out(t.task_id) == (split == "holdout")]


def load_tasks(path: Path) -> list[Task]:
    files = sorted(path.glob("*.json")) if path.is_dir() else [path]
    tasks = []
    for file in files:
        try:
            data = json.loads(file.read_text())
            train = tuple(Pair(to_grid(p["input"]), to_grid(p["output"])) for p in data["train"])
            test = tuple(Pair(to_grid(p["input"]), to_grid(p["output"])) for p in data["test"])
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise SystemExit(
                f"{file}: not an ARC task with test outputs ({type(exc).__name__}: {exc})"
            ) from exc
        tasks.append(Task(file.stem, train, test, source=str(file)))
    return tasks


def variants(checks: list[str]) -> dict[str, tuple[bool, list[str], bool]]:
    """The selection variants `--ablate` compares on one search: name -> (vote, checks, memorised
    tables demoted)."""
    out = {"as run": (True, checks, True), "no vote": (False, checks, True), "no checks": (True, [], True)}
    out["neither"] = (False, [], True)
    out["tables not demoted"] = (True, checks, False)
    for name in checks:
        out[f"no {name}"] = (True, [c for c in checks if c != name], True)
    return out


def simplest_per_prediction(candidates: list[Candidate]) -> list[Candidate]:
    """One candidate per test prediction, the best ranked: voting with nobody to vote."""
    seen: set[tuple[object, ...]] = set()
    out = []
    for candidate in rank(candidates):
        key = predictions_key(candidate.predictions)
        if key not in seen:
            seen.add(key)
            out.append(candidate)
    return out


def hits(task: Task, attempts: list[Candidate]) -> list[bool]:
    return [
        any(a.predictions[i] is not None and np.array_equal(a.predictions[i], pair.output) for a in attempts)
        for i, pair in enumerate(task.test)
    ]


def _run_one(job: tuple[Task, list[float], int, dict[str, Any]]) -> list[dict[str, Any]]:
    """One task's rows, one for each of the times: from one run to the longest, which passes
    through each shorter run's state at that run's end (`SearchEngine.solve_at`)."""
    task, times, seed, options = job
    ablate = options.pop("ablate", False)
    engine = SearchEngine(**options)
    # the expected test outputs stay here: the engine sees only the test inputs
    blind = Task(task.task_id, task.train, tuple(Pair(p.input) for p in task.test), task.source)
    context = EngineContext(seed=seed)
    if len(times) == 1:
        started = time.monotonic()
        result = engine.solve(blind, Deadline(times[0]), context)
        results = [(times[0], result, time.monotonic() - started)]
    else:
        seen = engine.solve_at(blind, Deadline(times[-1]), context, times[:-1])
        results = [(s, r, float(r.stats["seconds"])) for s, r in seen]
    return [
        _row(task, blind, result, elapsed, options=options, ablate=ablate) for _, result, elapsed in results
    ]


def _row(
    task: Task, blind: Task, result: EngineResult, elapsed: float, *, options: dict[str, Any], ablate: bool
) -> dict[str, Any]:
    """How one search did on one task: attempts right or wrong, why, and what it spent."""
    attempts = first_two_distinct(result.candidates)  # the engine's order, as the runtime takes it
    correct = hits(task, attempts)
    chosen: dict[str, list[bool]] = {}
    if ablate:  # the same search, its candidates chosen each way
        bg = task_background(blind)
        tables = result.stats.get("memorised_sources", ())
        for name, (vote, checks, demote) in variants(options["checks"]).items():
            pool = result.candidates if vote else simplest_per_prediction(result.candidates)
            ordered = order_by_vote(blind, bg, pool, checks, tables if demote else ())
            chosen[name] = hits(task, first_two_distinct(ordered))
    best = result.candidates[0] if result.candidates else None
    exact = [c for c in result.candidates if c.train_fitness >= 1.0]
    # the headroom of selection: a train-exact candidate the search found that is right on test
    right_among = bool(exact) and all(hits(task, exact))
    train_solved = bool(result.stats.get("train_solved", False))
    completed = int(result.stats.get("completed_cost", 0))
    if all(correct):
        status = "solved"
    elif train_solved:
        status = "wrong on test"
    elif completed < int(options.get("max_cost", 4)):
        status = "timed out"
    else:
        status = "no fit"
    return {
        "task_id": task.task_id,
        "held_out": held_out(task.task_id),
        "correct": correct,
        "seconds": elapsed,
        "evaluations": int(result.stats.get("evaluations", 0)),
        "train_solved": train_solved,
        "memorised": bool(result.stats.get("memorised", False)),
        "status": status,
        "fitness": best.train_fitness if best else 0.0,
        "program": best.source if best else "",
        "origin": best.origin if best else "",
        "completed_cost": completed,
        "right_among_candidates": right_among,
        "variants": chosen,
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
    right = sum(r["train_solved"] and all(r["correct"]) for r in rows)
    rules = [r for r in rows if r["train_solved"] and not r["memorised"]]
    rules_right = sum(all(r["correct"]) for r in rules)
    return (
        f"{label}: {len(rows)} tasks  kaggle {s['kaggle']:.3f}  task_fraction {s['task_fraction']:.3f}  "
        f"tasks_fully_solved {s['tasks_fully_solved']:.3f} ({solved})  train-exact {train}  "
        f"right on test {right}/{train} ({right / train if train else 0:.0%})  "
        f"without memorised tables {rules_right}/{len(rules)} ({rules_right / len(rules) if rules else 0:.0%})  "
        f"{seconds / len(rows):.2f} s/task  {evaluations / seconds if seconds else 0:.0f} evals/s"
    )


FAILURES = ("no fit", "wrong on test", "timed out")


def failure_table(rows: list[dict[str, Any]]) -> str:
    """The unsolved tasks by why they failed, with their ids."""
    unsolved = [r for r in rows if r["status"] != "solved"]
    lines = [f"failures: {len(unsolved)} unsolved of {len(rows)}"]
    for status in FAILURES:
        ids = [r["task_id"] for r in unsolved if r["status"] == status]
        lines.append(f"  {status:<14} {len(ids):>4}  {' '.join(ids)}")
    tables = sum(r["memorised"] for r in unsolved if r["status"] == "wrong on test")
    lines.append(f"  wrong on test through a memorised table: {tables}")
    missed = [r["task_id"] for r in unsolved if r.get("right_among_candidates")]
    lines.append(
        f"  wrong on test, but a lower train-exact candidate was right: {len(missed)}  {' '.join(missed)}"
    )
    stopped = Counter(r["completed_cost"] + 1 for r in unsolved if r["status"] == "timed out")
    if stopped:
        levels = ", ".join(f"level {level}: {n}" for level, n in sorted(stopped.items()))
        lines.append(f"  timed out in enumeration {levels}")
    return "\n".join(lines)


def ablation_table(rows: list[dict[str, Any]]) -> str:
    """Tasks solved and train-exact precision when the same searches' attempts are chosen each way."""
    train = sum(r["train_solved"] for r in rows)
    lines = [f"selection on the same searches ({train} train-exact):"]
    for name in rows[0]["variants"] if rows else ():
        solved = sum(all(r["variants"][name]) for r in rows)
        right = sum(r["train_solved"] and all(r["variants"][name]) for r in rows)
        lines.append(f"  {name:<18} solved {solved:>4}  right on test {right}/{train}")
    return "\n".join(lines)


def run_split(
    tasks: list[Task], times: list[float], args: argparse.Namespace, options: dict[str, Any]
) -> dict[float, list[dict[str, Any]]]:
    """Each time's rows, sorted by task id: one run a task, to the longest of the times."""
    jobs = [(t, times, args.seed, dict(options)) for t in tasks]
    rows: dict[float, list[dict[str, Any]]] = {s: [] for s in times}
    with multiprocessing.get_context("spawn").Pool(max(1, args.workers)) as pool:
        for done, task_rows in enumerate(pool.imap_unordered(_run_one, jobs), 1):
            for seconds, row in zip(times, task_rows, strict=True):
                rows[seconds].append(row)
            row = task_rows[-1]
            mark = {"solved": "ok ", "wrong on test": "trn", "timed out": "t/o"}.get(row["status"], "-- ")
            print(
                f"[{done}/{len(jobs)}] {mark} {row['task_id']} {row['seconds']:.1f}s "
                f"fitness {row['fitness']:.3f}",
                file=sys.stderr,
                flush=True,
            )
    for kept in rows.values():
        kept.sort(key=lambda r: r["task_id"])
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    task_arguments(parser, "all")
    parser.add_argument("--time-per-task", type=float, default=30.0, help="seconds the engine gets per task")
    parser.add_argument("--workers", type=int, default=1, help="tasks solved at once, one process each")
    parser.add_argument(
        "--limit", type=int, default=0, help="run only the first N tasks of the split (0: all)"
    )
    parser.add_argument("--seed", type=int, default=0, help="the engine's random seed")
    parser.add_argument("--max-cost", type=int, default=4, help="the enumeration levels always run")
    parser.add_argument(
        "--max-evaluations",
        type=int,
        help="cap each task's candidate evaluations: the work no longer depends on machine load "
        "(then --time-per-task is only a ceiling)",
    )
    parser.add_argument("--out", type=Path, help="write per-task results (JSON) here, for failure analysis")
    parser.add_argument(
        "--curve",
        help="comma-separated seconds per task (e.g. 1,5,30): accuracy at each, from one run a task to the "
        "longest (the search's schedule counts evaluations, so it passes through each shorter run's end)",
    )
    parser.add_argument(
        "--separate-runs",
        action="store_true",
        help="with --curve: run the split once per time instead (slower; checks the one-run curve)",
    )
    parser.add_argument(
        "--no-check",
        action="append",
        default=[],
        choices=CHECKS,
        help="switch off one property check (repeatable)",
    )
    parser.add_argument(
        "--augment",
        type=int,
        default=0,
        help="also solve this many augmented views of each task (colours, then dihedral) and vote",
    )
    parser.add_argument(
        "--ablate",
        action="store_true",
        help="also choose each search's attempts without voting and without each check, and compare",
    )
    parser.add_argument(
        "--no-vote", action="store_true", help="rank train-exact programs by simplicity alone, without voting"
    )
    parser.add_argument(
        "--enumerate-share",
        type=float,
        default=0.7,
        help="the part of each epoch's evaluations the enumeration takes before the evolution",
    )
    parser.add_argument(
        "--no-shape-first",
        action="store_true",
        help="enumerate each level in the plain order, without putting off the steps that cannot give "
        "the outputs' shape",
    )
    parser.add_argument(
        "--only",
        default="",
        metavar="ID,ID",
        help="run only these task ids (comma-separated) of the split, e.g. the ones a failure table named",
    )
    args = parser.parse_args(argv)
    if not args.tasks.exists():
        parser.error(f"no such file or folder: {args.tasks}")
    try:
        times = [float(t) for t in args.curve.split(",")] if args.curve else [args.time_per_task]
    except ValueError:
        parser.error(f"--curve takes comma-separated seconds, not {args.curve!r}")
    tasks = load_tasks(args.tasks)
    tasks = in_split(tasks, args.split)
    if args.only:
        wanted = {i.strip() for i in args.only.split(",") if i.strip()}
        missing = sorted(wanted - {t.task_id for t in tasks})
        if missing:
            parser.error(f"--only: not in {args.tasks} (split {args.split}): {', '.join(missing)}")
        tasks = [t for t in tasks if t.task_id in wanted]
    if args.limit:
        tasks = tasks[: args.limit]
    checks = [c for c in CHECKS if c not in args.no_check]
    options = {
        "max_cost": args.max_cost,
        "checks": checks,
        "vote": not args.no_vote,
        "shape_first": not args.no_shape_first,
        "enumerate_share": args.enumerate_share,
        "ablate": args.ablate,
        "augment": args.augment,
        "max_evaluations": args.max_evaluations,
    }
    if args.augment and len(times) > 1 and not args.separate_runs:
        parser.error("--curve with --augment needs --separate-runs (the views split the time)")
    started = time.monotonic()
    if args.separate_runs:
        curve = [(s, run_split(tasks, [s], args, options)[s]) for s in times]
    else:
        curve = sorted(run_split(tasks, sorted(times), args, options).items())
    wall = time.monotonic() - started
    for seconds, rows in curve:
        cap = args.max_evaluations or "none"
        print(
            f"settings: {len(tasks)} tasks from {args.tasks}, {seconds:g} s/task, {args.workers} workers, "
            f"max evaluations {cap}, split {args.split}, checks {','.join(checks) or 'none'}, "
            f"vote {'off' if args.no_vote else 'on'}, shape first {'off' if args.no_shape_first else 'on'}, "
            f"enumerate share {args.enumerate_share:g}, "
            f"augment {args.augment}, wall {wall:.0f} s"
            + (" (one run for the whole curve)" if len(curve) > 1 and not args.separate_runs else "")
        )
        print(report("all", rows))
        if args.split == "all":
            print(report("tune", [r for r in rows if not r["held_out"]]))
            print(report("holdout", [r for r in rows if r["held_out"]]))
        print(failure_table([r for r in rows if r["held_out"]] if args.split == "all" else rows))
        if args.ablate:
            print(ablation_table(rows))
        if args.out:
            out = args.out if len(times) == 1 else args.out.with_suffix(f".{seconds:g}s.json")
            out.write_text(json.dumps(rows, indent=1))
    if len(curve) > 1:
        print("curve: s/task  solved  kaggle  train-exact  right-on-test  evals/s")
        for seconds, rows in curve:
            s = scores(rows)
            train = sum(r["train_solved"] for r in rows)
            right = sum(r["train_solved"] and all(r["correct"]) for r in rows)
            spent = sum(r["seconds"] for r in rows)
            evals = sum(r["evaluations"] for r in rows) / spent if spent else 0.0
            print(
                f"  {seconds:>6g}  {sum(all(r['correct']) for r in rows):>6}  {s['kaggle']:.3f}  "
                f"{train:>11}  {right / train if train else 0:>12.0%}  {evals:>7.0f}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
