"""What the competition rerun will do: the notebook's TEST_MODE forecast, for a full-size task set.

    python benchmarks/competition_forecast.py --test-mode-budget 1m   # 240 ARC-AGI-2 training tasks, 11h
    python benchmarks/competition_forecast.py --tasks 120 --test-mode-budget 2m --l4x4-cpus 32

Builds the competition notebook exactly as `invoke test-run --on kaggle` pushes it (SOLVE_ARGS from
arcforge.toml through tasks.solve_args), lays out a fake /kaggle tree whose arc-agi_test_challenges.json
holds TASKS tasks (ARC-AGI-2 training tasks from ../shared/arc, the tuning part only, else the solver's
bundled sample repeated), runs the notebook's commit run in TEST_MODE on this machine (5 tasks, the search
engine), and prints the solver's forecast of the rerun on this machine (hours planned and expected, the share
of the budget, GPU hours, search evaluations per task). Then `arcforge-solve forecast` gives the same for
Kaggle's L4x4 with --l4x4-cpus cores (an assumption, stated with the figures) at the per-process search rate
measured here.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from solver_accuracy import held_out  # noqa: E402  (the project's fixed split, defined once)

import tasks as invoke_tasks  # noqa: E402  (the repository's tasks.py: one place builds solver arguments)
from arcforge_kaggle_publish.cli import main as publish  # noqa: E402
from tests.support.kaggle.notebook_runner import competition_mount, gpu_path, run_notebook_cells  # noqa: E402

SHARED = ROOT.parent / "shared" / "arc" / "arc-agi-2" / "training"
SAMPLES = (
    ROOT / "packages" / "solver" / "src" / "arcforge_solver" / "samples" / "arc-agi_sample_challenges.json"
)


def challenges(count: int) -> tuple[dict[str, object], str]:
    """`count` tasks without their test outputs, and where they came from."""
    chosen: dict[str, object] = {}
    if SHARED.is_dir():
        for path in sorted(SHARED.glob("*.json")):
            if not held_out(path.stem) and len(chosen) < count:
                task = json.loads(path.read_text())
                chosen[path.stem] = {
                    "train": task["train"],
                    "test": [{"input": t["input"]} for t in task["test"]],
                }
        return chosen, f"ARC-AGI-2 training (tuning part) from {SHARED}"
    items = list(json.loads(SAMPLES.read_text()).items())
    for index in range(count):
        task_id, task = items[index % len(items)]
        chosen[task_id if index < len(items) else f"{index:08x}"] = task
    return chosen, "the solver's bundled sample, repeated"


def run_commit(
    chosen: dict[str, object], solve_args: list[str], test_mode_budget: str
) -> tuple[dict[str, object], str]:
    """The notebook's TEST_MODE commit run on a fake /kaggle tree: (its provenance, its stdout)."""
    with tempfile.TemporaryDirectory(prefix="arcforge-forecast-") as tmp:
        root = Path(tmp)
        code = publish(
            ["kernel", "--id", "bench/arcforge-arc-prize", "--test-mode", "--test-mode-budget", test_mode_budget,
             "--dry-run", "--state-dir", str(root / "state"), *(f"--solve-arg={a}" for a in solve_args)]
        )  # fmt: skip
        if code != 0:
            raise SystemExit(code)
        notebook = json.loads(
            (root / "state" / "kernels" / "arcforge-arc-prize" / "arcforge-notebook.ipynb").read_text()
        )
        input_dir, working = root / "input", root / "working"
        competition = competition_mount(input_dir, "arc-prize-2026-arc-agi-2", "current")
        competition.mkdir(parents=True)
        working.mkdir()
        (competition / "arc-agi_test_challenges.json").write_text(json.dumps(chosen))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("KAGGLE_", "ARCFORGE_"))}
        env.update(
            ARCFORGE_KAGGLE_INPUT=str(input_dir),
            ARCFORGE_KAGGLE_WORKING=str(working),
            ARCFORGE_NOTEBOOK_SKIP_INSTALL="1",
            PATH=gpu_path(root / "bin", None),
        )
        done = run_notebook_cells(notebook, env, root, timeout=3600)
        if done.returncode != 0:
            print(done.stdout[-3000:] + done.stderr[-3000:], file=sys.stderr)
            raise SystemExit(1)
        return json.loads((working / "arcforge-provenance.json").read_text()), done.stdout + done.stderr


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--tasks", type=int, default=240, help="tasks in the fake test file (default: 240)")
    parser.add_argument("--test-mode-budget", default="2m", help="the commit run's budget (default: 2m)")
    parser.add_argument("--l4x4-cpus", type=int, default=48, help="CPU cores assumed on L4x4 (default: 48)")
    args = parser.parse_args()

    solve_args = invoke_tasks.solve_args(invoke_tasks.load_config(), "kaggle")
    chosen, source = challenges(args.tasks)
    provenance, output = run_commit(chosen, solve_args, args.test_mode_budget)
    forecast = provenance.get("forecast")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(
        f"machine: {platform.machine()} {platform.system()}, {cores} cores usable; tasks: {len(chosen)} ({source})"
    )
    print(
        f"solver arguments (tasks.solve_args): {' '.join(solve_args)}; TEST_MODE budget {args.test_mode_budget}"
    )
    if not isinstance(forecast, dict):
        print("the TEST_MODE run made no forecast:\n" + output[-2000:], file=sys.stderr)
        return 1
    print("here, the solver's forecast from the notebook's TEST_MODE run:")
    print(
        "\n".join(
            line
            for line in output.splitlines()
            if line.startswith(("full run", "each task", "hours", "what fits", "rates"))
        )
    )
    evaluations = (forecast.get("per_task") or {}).get("search_evaluations")
    if evaluations and forecast.get("time_per_task_s") and forecast.get("budget_s"):
        rate = evaluations / forecast["time_per_task_s"]  # per search process, as measured here
        l4x4 = subprocess.run(
            [sys.executable, "-m", "arcforge_solver", "forecast", "--tasks", str(forecast["tasks"]),
             "--time-budget", f"{forecast['budget_s']:g}", "--engine", "search", "--gpus", "4",
             "--cpus", str(args.l4x4_cpus), "--search-evaluations-per-second", f"{rate:.0f}"],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        print(
            f"L4x4 with {args.l4x4_cpus} CPU cores (assumed), at the {rate:,.0f} evaluations/s per process measured here:"
        )
        print(l4x4.rstrip())
    print(json.dumps(forecast))
    return 0


if __name__ == "__main__":
    sys.exit(main())
