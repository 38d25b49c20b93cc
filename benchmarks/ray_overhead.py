"""What running the tasks as Ray tasks costs against the local process pool, side by side.

    nox -s bench -- benchmarks/ray_overhead.py                      # 12 bundled sample tasks, search, 2 workers
    nox -s bench -- benchmarks/ray_overhead.py TASKS --limit 40 --workers 4 --time-per-task 5

Runs the same tasks with the same engine, seed, workers and time per task three times through the
runtime's `run()` (journal, events, submission and all), each in a fresh folder:
- process: `--executor process`, the local pool (its worker start included);
- ray cold: `--executor ray` starting its own local Ray cluster (the cluster's start included);
- ray warm: `--executor ray` on a local cluster already up (what each setting of a sweep pays).
Prints the wall seconds and tasks per second of each, the overhead ratios against the pool, and
whether the three submissions are the same. Needs `pip install 'arcforge-solver[ray]'`.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

from arcforge_solver.runtime.ray_executor import ray_session
from arcforge_solver.runtime.run import RunConfig, RunReport, run


def timed_run(config: RunConfig) -> tuple[float, RunReport]:
    started = time.monotonic()
    report = run(config, io.StringIO())
    seconds = time.monotonic() - started
    if report.exit_code != 0:
        raise SystemExit(f"{config.executor} run failed (exit {report.exit_code}): {report.problems}")
    return seconds, report


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "tasks", nargs="?", type=Path, help="task folder or file (default: the bundled sample)"
    )
    parser.add_argument("--limit", type=int, default=12, help="tasks to run (default: %(default)s)")
    parser.add_argument(
        "--workers", type=int, default=2, help="worker processes / Ray CPUs (default: %(default)s)"
    )
    parser.add_argument(
        "--time-per-task", type=float, default=2.0, help="seconds per task (default: %(default)s)"
    )
    parser.add_argument("--engine", default="search", help="engine (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="arcforge-ray-overhead-") as scratch:
        root = Path(scratch)
        os.environ["ARCFORGE_STATE_DIR"] = str(root / "state")

        def config(name: str, executor: str) -> RunConfig:
            return RunConfig(
                out=root / name / "submission.json",
                tasks=args.tasks,
                limit=args.limit,
                engine=args.engine,
                time_per_task_s=args.time_per_task,
                workers=args.workers,
                seed=args.seed,
                fresh=True,
                executor=executor,
            )

        results: dict[str, tuple[float, RunReport]] = {}
        results["process"] = timed_run(config("process", "process"))
        results["ray cold"] = timed_run(config("ray-cold", "ray"))
        with ray_session(None, args.workers):
            results["ray warm"] = timed_run(config("ray-warm", "ray"))
        submissions: list[Any] = [
            json.loads((root / name / "submission.json").read_text())
            for name in ("process", "ray-cold", "ray-warm")
        ]

    base = results["process"][0]
    print(
        f"{args.limit} tasks, engine {args.engine}, {args.workers} workers, {args.time_per_task:g} s per task, "
        f"seed {args.seed}; {platform.machine()}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}"
    )
    print(f"{'executor':<10} {'wall s':>8} {'tasks/s':>8} {'kaggle':>7} {'vs process':>11}")
    for name, (seconds, report) in results.items():
        kaggle = f"{report.scores.kaggle:.3f}" if report.scores else "-"
        print(f"{name:<10} {seconds:8.1f} {report.done / seconds:8.2f} {kaggle:>7} {seconds / base:10.2f}x")
    print(f"overhead ratio (ray cold / process): {results['ray cold'][0] / base:.2f}")
    print(f"overhead ratio (ray warm / process): {results['ray warm'][0] / base:.2f}")
    same = submissions[0] == submissions[1] == submissions[2]
    print(
        f"submissions identical: {'yes' if same else 'no (the engine is time-bound: a loaded machine can differ)'}"
    )


if __name__ == "__main__":
    main()
