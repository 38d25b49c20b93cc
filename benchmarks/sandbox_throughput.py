"""Pooled sandbox evaluations per second against a fresh process per evaluation.

    python benchmarks/sandbox_throughput.py [--evaluations 300] [--baseline 20] [--workers 1]

One evaluation runs a small ARC program (`solve` on each of three train-sized grids) with the
sandbox's limits. The pool reuses long-lived workers; the baseline starts a new sandbox worker for
every evaluation (the cost a pool avoids: interpreter start, numpy import, limits, tear-down). Prints
both rates and their ratio; the target is a ratio of at least 10x.
"""

from __future__ import annotations

import argparse
import platform
import threading
import time

import numpy as np

from arcforge_solver.sandbox.pool import SandboxPool

PROGRAM = """
def solve(grid):
    flipped = np.rot90(grid, 2)
    colours, counts = np.unique(flipped, return_counts=True)
    background = colours[np.argmax(counts)]
    return np.where(flipped == background, 0, flipped)
"""


def grids() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 10, size=(n, n), dtype=np.int8) for n in (5, 10, 15)]


def pooled_rate(evaluations: int, workers: int) -> float:
    inputs = grids()
    with SandboxPool(workers=workers) as pool:
        for _ in range(workers * 3):  # warm up: every worker started and ready
            assert pool.run_program(PROGRAM, inputs).ok
        per_thread = max(1, evaluations // workers)

        def loop() -> None:
            for _ in range(per_thread):
                run = pool.run_program(PROGRAM, inputs)
                assert run.ok, run.error

        threads = [threading.Thread(target=loop) for _ in range(workers)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        seconds = time.perf_counter() - started
    return per_thread * workers / seconds


def fresh_process_rate(evaluations: int) -> float:
    inputs = grids()
    started = time.perf_counter()
    for _ in range(evaluations):
        with SandboxPool(workers=1) as pool:
            run = pool.run_program(PROGRAM, inputs)
            assert run.ok, run.error
    return evaluations / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--evaluations", type=int, default=300, help="pooled evaluations to time (default: 300)"
    )
    parser.add_argument(
        "--baseline", type=int, default=20, help="fresh-process evaluations to time (default: 20)"
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="pool workers, one calling thread each (default: 1)"
    )
    args = parser.parse_args()
    pooled = pooled_rate(args.evaluations, args.workers)
    fresh = fresh_process_rate(args.baseline)
    print(f"machine: {platform.machine()}, {platform.python_implementation()} {platform.python_version()}")
    print(f"{'mode':<34}{'evaluations/s':>14}")
    print(f"{f'pooled sandbox ({args.workers} worker(s))':<34}{pooled:>14.1f}")
    print(f"{'fresh process per evaluation':<34}{fresh:>14.1f}")
    ratio = pooled / fresh
    print(f"ratio: {ratio:.1f}x ({'meets' if ratio >= 10 else 'misses'} the 10x target)")


if __name__ == "__main__":
    main()
