"""Sandbox evaluations per second: a fresh confined process per program, against a reused worker
process (the pool's design before per-program forking) and a fresh interpreter per evaluation.

    python benchmarks/sandbox_throughput.py [--evaluations 600] [--baseline 10] [--workers 2] [--passes 1]

One evaluation runs a small ARC program (`solve` on each of three train-sized grids). Three modes,
run side by side on the same machine:
- `SandboxPool`: each worker is a zygote that forks one confined process per program (seccomp,
  Landlock where the kernel has them, rlimits, audit hook), so no program sees another's state;
- reused worker: the same program runner and audit hook in a long-lived process that serves every
  program in turn (no fork, no kernel layers: what a program changes stays for the next one);
- fresh process: a new pool (interpreter start, numpy import, confinement) for each evaluation.

Wall-clock rates depend on what else the machine runs, so the script also prints the CPU time one
evaluation costs (pool owner, zygotes and program processes together, from getrusage) and the
rate that implies for two otherwise idle cores: `2 / cpu_per_evaluation`. The target is at least
500 isolated evaluations/s on 2 cores.
"""

from __future__ import annotations

import argparse
import mmap
import os
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from arcforge_solver.sandbox.pool import SandboxPool, worker_environment
from arcforge_solver.sandbox.worker import pack_request, read_raw_frame, unpack_answer, write_raw_frame

PROGRAM = """
def solve(grid):
    flipped = np.rot90(grid, 2)
    colours, counts = np.unique(flipped, return_counts=True)
    background = colours[np.argmax(counts)]
    return np.where(flipped == background, 0, flipped)
"""
TARGET_PER_S = 500.0

# The reused-worker baseline: the pool's old design (one process serves every program), with the
# same runner and audit hook, spoken to over the same frames.
_REUSED_WORKER = """
import os, sys
from arcforge_solver.sandbox import worker
from arcforge_solver.sandbox.policy import Policy
import numpy as np
import arcforge_solver.dsl as dsl
names = {n: getattr(dsl, n) for n in dsl.__all__}
scratch = sys.argv[1]
os.chdir(scratch)
import signal
signal.signal(signal.SIGALRM, worker.on_timer)
signal.signal(signal.SIGPROF, worker.on_timer)
sys.addaudithook(Policy(scratch, {0, 1}))
while (request := worker.read_raw_frame(0)) is not None:
    answer = worker.run_request(request, worker.program_globals(np, names), 1 << 20)
    sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
    worker.write_raw_frame(1, answer)
"""


def grids() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 10, size=(n, n), dtype=np.int8) for n in (5, 10, 15)]


def _usage_now(pids: list[int]) -> tuple[float, int]:
    """CPU seconds and minor page faults so far of this process and of `pids` with the children
    they reaped (a zygote's program processes), from /proc/PID/stat: utime, stime, cutime, cstime,
    minflt, cminflt. Page faults do not depend on what else the machine runs; CPU time does."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    cpu, faults = own.ru_utime + own.ru_stime, own.ru_minflt
    ticks = os.sysconf("SC_CLK_TCK")
    for pid in pids:
        with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        cpu += sum(int(v) for v in fields[11:15]) / ticks
        faults += int(fields[7]) + int(fields[8])
    return cpu, faults


def fault_cost(pages: int = 2048, repeats: int = 5) -> float:
    """Seconds one minor page fault costs on this machine: the median over `repeats` of writing one
    byte to each page of a fresh anonymous mapping (a zero-fill fault each, then unmapped). Virtual
    machines differ here by an order of magnitude (a nested guest traps to its hypervisor on every
    fault), and a forked program's process is mostly page faults, so this figure says how far this
    machine's rates carry to another's."""
    costs = []
    page = mmap.PAGESIZE
    for _ in range(repeats):
        region = mmap.mmap(-1, pages * page)
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        started = time.perf_counter()
        for offset in range(0, pages * page, page):
            region[offset] = 1
        seconds = time.perf_counter() - started
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
        region.close()
        costs.append(seconds / max(faults, 1))
    return sorted(costs)[len(costs) // 2]


def _threads(workers: int, per_thread: int, call: Callable[[int], None]) -> float:
    threads = [
        threading.Thread(target=lambda k=k: [call(k) for _ in range(per_thread)]) for k in range(workers)
    ]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started


def pooled(evaluations: int, workers: int, passes: int = 1) -> tuple[float, float, float, str, list[float]]:
    """(evaluations/s, CPU seconds and page faults per evaluation, layer line, CPU seconds per
    evaluation in each of `passes` equal passes) for SandboxPool."""
    inputs = grids()
    per_thread = max(1, evaluations // (workers * passes))
    with SandboxPool(workers=workers, timeout_s=2.0) as pool:
        for _ in range(workers * 3):  # warm up: every worker started and ready
            assert pool.run_program(PROGRAM, inputs).ok

        def call(_: int) -> None:
            run = pool.run_program(PROGRAM, inputs)
            assert run.ok, run.error

        cpu_before, faults_before = _usage_now(pool.pids)
        seconds, per_pass, cpu_mark = 0.0, [], cpu_before
        for _ in range(passes):
            seconds += _threads(workers, per_thread, call)
            cpu_now, _ = _usage_now(pool.pids)
            per_pass.append((cpu_now - cpu_mark) / (per_thread * workers))
            cpu_mark = cpu_now
        cpu_after, faults_after = _usage_now(pool.pids)
        layers = ", ".join(
            f"{k} {v.split(':')[0]}" for k, v in pool.layers.items() if k in ("seccomp", "landlock")
        )
    count = per_thread * workers * passes
    cpu, faults = (cpu_after - cpu_before) / count, (faults_after - faults_before) / count
    return count / seconds, cpu, faults, layers, per_pass


def reused(evaluations: int, workers: int, scratch_parent: str) -> tuple[float, float, float]:
    """(evaluations/s, CPU seconds and page faults per evaluation) for long-lived worker
    processes, no fork."""
    request = pack_request(0, 2.0, PROGRAM, grids(), np)
    root = Path(__file__).resolve().parents[1] / "packages" / "solver" / "src"
    processes = []
    for k in range(workers):
        scratch = os.path.join(scratch_parent, f"reused-{k}")
        os.makedirs(scratch, exist_ok=True)
        processes.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-I",
                    "-B",
                    "-c",
                    f"import sys; sys.path.insert(0, {str(root)!r})\n" + _REUSED_WORKER,
                    scratch,
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=worker_environment(scratch),
            )
        )
    per_thread = max(1, evaluations // workers)

    def call(k: int) -> None:
        process = processes[k]
        assert process.stdin is not None and process.stdout is not None
        write_raw_frame(process.stdin.fileno(), request)
        answer = read_raw_frame(process.stdout.fileno())
        assert answer is not None
        header, _ = unpack_answer(answer)
        assert all("shape" in r for r in header["results"]), header

    for k in range(workers):
        call(k)  # warm up (numpy imported, first program compiled)
    pids = [p.pid for p in processes]
    cpu_before, faults_before = _usage_now(pids)
    seconds = _threads(workers, per_thread, call)
    cpu_after, faults_after = _usage_now(pids)
    for process in processes:
        assert process.stdin is not None
        process.stdin.close()
        process.wait()
    count = per_thread * workers
    return count / seconds, (cpu_after - cpu_before) / count, (faults_after - faults_before) / count


def fresh(evaluations: int) -> float:
    inputs = grids()
    started = time.perf_counter()
    for _ in range(evaluations):
        with SandboxPool(workers=1) as pool:
            run = pool.run_program(PROGRAM, inputs)
            assert run.ok, run.error
    return evaluations / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--evaluations", type=int, default=600, help="evaluations to time per mode (default: 600)"
    )
    parser.add_argument(
        "--baseline", type=int, default=10, help="fresh-process evaluations to time (default: 10)"
    )
    parser.add_argument(
        "--workers", type=int, default=2, help="workers, one calling thread each (default: 2)"
    )
    parser.add_argument(
        "--passes",
        type=int,
        default=1,
        help="split the pool's evaluations into this many passes and print each pass's CPU cost, "
        "to see how much the machine's speed moves within one run (default: 1)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="arcforge-bench-") as scratch_parent:
        reused_rate, reused_cpu, reused_faults = reused(args.evaluations, args.workers, scratch_parent)
    pooled_rate, pooled_cpu, pooled_faults, layers, per_pass = pooled(
        args.evaluations, args.workers, max(1, args.passes)
    )
    fresh_rate = fresh(args.baseline)
    per_fault = fault_cost()
    machine = f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_implementation()} {platform.python_version()}"
    print(f"machine: {machine}, load {os.getloadavg()[0]:.1f} (other jobs slow every wall and CPU figure)")
    print(f"sandbox layers: {layers}")
    print(f"{'mode':<44}{'evaluations/s':>14}{'CPU ms/eval':>13}{'faults/eval':>13}{'2 idle cores':>14}")
    rows = [
        (f"SandboxPool, fork per program ({args.workers} workers)", pooled_rate, pooled_cpu, pooled_faults),
        (f"reused worker process, no fork ({args.workers} workers)", reused_rate, reused_cpu, reused_faults),
    ]
    for name, rate, cpu, faults in rows:
        print(f"{name:<44}{rate:>14.1f}{cpu * 1000:>13.2f}{faults:>13.0f}{2 / cpu:>14.0f}")
    print(f"{'fresh process per evaluation':<44}{fresh_rate:>14.1f}{'-':>13}{'-':>13}{'-':>14}")
    print(
        f"ratio fork per program / reused worker: {pooled_rate / reused_rate:.2f}x wall, {reused_cpu / pooled_cpu:.2f}x CPU"
    )
    print(f"ratio fork per program / fresh process: {pooled_rate / fresh_rate:.1f}x wall")
    if len(per_pass) > 1:
        figures = ", ".join(f"{cpu * 1000:.2f}" for cpu in per_pass)
        print(
            f"SandboxPool CPU ms/eval in each of {len(per_pass)} passes (same pool, same program): {figures}"
        )
    print(
        f"a page fault costs {per_fault * 1e6:.2f} us here (zero-fill, median of 5 x 2048): "
        f"{pooled_faults:.0f} faults x {per_fault * 1e6:.2f} us = {pooled_faults * per_fault * 1000:.2f} ms "
        f"of the {pooled_cpu * 1000:.2f} ms an isolated evaluation costs"
    )
    capacity = 2 / pooled_cpu
    verdict = "meets" if capacity >= TARGET_PER_S else "misses"
    print(
        f"isolated evaluations/s on 2 idle cores (from CPU time): {capacity:.0f} ({verdict} the {TARGET_PER_S:.0f}/s target)"
    )


if __name__ == "__main__":
    main()
