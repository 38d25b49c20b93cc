"""Test doubles for GPU lanes: an engine that "holds a model", as the LLM engines do, without one.

NOT shipped engines. Tests select them with `--engine tests.solver.lane_doubles:ClassName` and a fake GPU
count (ARCFORGE_FAKE_GPUS), so the runtime plans lanes and starts one worker per lane exactly as it does
for the LLM engines on real cards.

Environment read here (test settings, not product settings):
- ARCFORGE_DOUBLE_LOADS: a file; every engine build appends one JSON line (pid, CUDA_VISIBLE_DEVICES);
- ARCFORGE_DOUBLE_REPLICA_GIB: the memory one replica claims to need (default 1);
- ARCFORGE_DOUBLE_BARRIER: builds wait until this many are recorded in the loads file (up to 60 s), as if
  the replicas loaded together, so that every lane is ready when tasks are handed out;
- ARCFORGE_DOUBLE_SLEEP: seconds each task takes (default 0.5).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from arcforge_solver.engines.protocol import Deadline, EngineContext, EngineResult
from arcforge_solver.tasks.model import Task
from tests.solver.doubles import FIXED_PROGRAMS, rank_programs

GIB = 1024**3


class ModelReplicaDouble:
    """Test double: ranks fixed programs like FixedProgramEngine, and reports where its "model" lives."""

    name = "model-replica-double"
    parallel = False
    holds_model = True

    @staticmethod
    def replica_bytes(options: dict[str, Any]) -> int | None:
        return int(float(os.environ.get("ARCFORGE_DOUBLE_REPLICA_GIB", "1")) * GIB)

    def __init__(self, **options: Any) -> None:
        self.options = options
        self.device = os.environ.get("CUDA_VISIBLE_DEVICES")
        loads = os.environ.get("ARCFORGE_DOUBLE_LOADS")
        if loads:
            line = json.dumps({"pid": os.getpid(), "cuda_visible_devices": self.device}) + "\n"
            with open(loads, "a", encoding="utf-8") as handle:
                handle.write(line)
            barrier = int(os.environ.get("ARCFORGE_DOUBLE_BARRIER", "0") or 0)
            until = time.monotonic() + 60
            while barrier and time.monotonic() < until:
                if len(Path(loads).read_text(encoding="utf-8").splitlines()) >= barrier:
                    break
                time.sleep(0.05)

    def solve(self, task: Task, deadline: Deadline, context: EngineContext) -> EngineResult:
        time.sleep(min(float(os.environ.get("ARCFORGE_DOUBLE_SLEEP", "0.5")), deadline.remaining()))
        stats = {
            "pid": os.getpid(),
            "cuda_visible_devices": self.device,
            "search_processes": self.options.get("search_processes"),
        }
        return EngineResult(task.task_id, rank_programs(task, FIXED_PROGRAMS), stats)


class SearchingReplicaDouble(ModelReplicaDouble):
    """Test double: as ModelReplicaDouble, and runs a CPU search beside its model as the hybrid does,
    so the runtime hands it `search_processes`."""

    cpu_search = True
