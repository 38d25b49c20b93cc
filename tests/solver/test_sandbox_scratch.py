"""Scratch folders go away: on close, and on the next start after the pool's owner was SIGKILLed;
a live pool's folders are never touched by another."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from arcforge_solver.sandbox import scratch
from arcforge_solver.sandbox.pool import SandboxPool

SRC = str(Path(__file__).resolve().parents[2] / "packages" / "solver" / "src")


def test_a_live_root_is_kept_and_an_abandoned_one_reaped(tmp_path: Path) -> None:
    live = scratch.ScratchRoot(str(tmp_path))
    (Path(live.folder()) / "work.txt").write_text("x")
    abandoned = tmp_path / f"{scratch.PREFIX}gone"
    (abandoned / "w1").mkdir(parents=True)
    (abandoned / scratch.OWNER_FILE).write_text("")  # its owner died: nobody holds the lock
    young = tmp_path / f"{scratch.PREFIX}young"  # an owner between mkdtemp and its lock
    young.mkdir()
    old = tmp_path / f"{scratch.PREFIX}old"
    old.mkdir()
    os.utime(old, (time.time() - 3600, time.time() - 3600))
    other = tmp_path / "not-ours"
    other.mkdir()
    reaped = scratch.reap_stale(str(tmp_path))
    assert sorted(reaped) == sorted([str(abandoned), str(old)])
    assert Path(live.path).is_dir() and young.is_dir() and other.is_dir()
    live.close()
    assert not Path(live.path).exists()


def test_close_removes_the_pool_s_folders() -> None:
    with SandboxPool(workers=1, timeout_s=1.0) as pool:
        assert pool.run_program(
            "def solve(grid):\n    open('x.txt', 'w').write('x')\n    return grid\n", [np.ones((1, 1), int)]
        ).ok
        root = Path(pool.scratch.path)
        assert root.is_dir()
    assert not root.exists()


_OWNER = """
import json, sys, time
sys.path.insert(0, sys.argv[1])
import numpy as np
from arcforge_solver.sandbox.pool import SandboxPool
pool = SandboxPool(workers=2, timeout_s=5.0)
assert pool.run_program("def solve(grid):\\n    open('left.txt', 'w').write('x')\\n    return grid\\n", [np.ones((1, 1), int)]).ok
print(json.dumps({"root": pool.scratch.path, "pids": pool.pids}), flush=True)
time.sleep(120)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_folders_of_a_sigkilled_owner_are_reaped_on_the_next_start() -> None:
    owner = subprocess.Popen([sys.executable, "-c", _OWNER, SRC], stdout=subprocess.PIPE, text=True)
    assert owner.stdout is not None
    state = json.loads(owner.stdout.readline())
    root = Path(state["root"])
    assert root.is_dir()
    os.kill(owner.pid, signal.SIGKILL)
    owner.wait()
    for _ in range(200):  # its zygotes see EOF and exit; wait for them
        if not any(_alive(pid) for pid in state["pids"]):
            break
        time.sleep(0.05)
    assert not any(_alive(pid) for pid in state["pids"]), "a zygote outlived its owner"
    assert root.is_dir()  # nobody removed it: the owner died without a word
    with SandboxPool(workers=1, lazy=True) as pool:
        assert not root.exists()  # reaped by the next pool's start
        assert Path(pool.scratch.path).is_dir()


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
