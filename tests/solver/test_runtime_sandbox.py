"""The sandbox pool against hostile programs: each gets a classified error, the pool goes on, and
no process is left behind. (The escapes that need the kernel layers are in test_sandbox_escapes.py.)"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from arcforge_solver.sandbox import worker
from arcforge_solver.sandbox.pool import SandboxError, SandboxPool

GRID = np.array([[1, 2], [3, 4]], dtype=np.int8)
OUTSIDE = Path("/tmp") / f"arcforge-sandbox-escape-{os.getpid()}"


@pytest.fixture(scope="module")
def pool() -> Iterator[SandboxPool]:
    with SandboxPool(workers=2, timeout_s=1.0, memory_mb=512) as sandbox:
        yield sandbox


def prog(body: str, prelude: str = "") -> str:
    return prelude + "def solve(grid):\n" + "".join(f"    {line}\n" for line in body.splitlines())


HOSTILE = {
    "infinite loop": (prog("while True:\n    pass"), "timeout", "timed out"),
    "loop that swallows the timeout": (
        prog(
            "while True:\n    try:\n        while True:\n            pass\n    except BaseException:\n        pass"
        ),
        "timeout",
        "timed out",
    ),
    "10 GB allocation": (
        prog("a = np.ones(10 * 1024**3, dtype=np.uint8)\nreturn grid"),
        "memory",
        "allocate",
    ),
    "10 GB bytearray": (prog("a = bytearray(10 * 1024**3)\nreturn grid"), "memory", "MemoryError"),
    "fork bomb": (prog("while True:\n    os.fork()", "import os\n"), "runtime", "os.fork is not allowed"),
    "os.system": (
        prog(f"os.system('touch {OUTSIDE}')\nreturn grid", "import os\n"),
        "runtime",
        "os.system is not allowed",
    ),
    "subprocess": (
        prog(f"subprocess.run(['touch', '{OUTSIDE}'])\nreturn grid", "import subprocess\n"),
        "runtime",
        "subprocess.Popen is not allowed",
    ),
    "write outside scratch": (
        prog(f"open('{OUTSIDE}', 'w').write('x')\nreturn grid"),
        "runtime",
        "outside the scratch folder",
    ),
    "os.open outside scratch": (
        prog(f"os.open('{OUTSIDE}', os.O_WRONLY | os.O_CREAT)\nreturn grid", "import os\n"),
        "runtime",
        "outside the scratch folder",
    ),
    "socket": (
        prog("s = socket.socket()\ns.connect(('127.0.0.1', 9))\nreturn grid", "import socket\n"),
        "runtime",
        "socket.__new__ is not allowed",
    ),
    "1 GB to stdout": (
        prog("for _ in range(1024):\n    print('x' * 2**20)\nreturn grid"),
        "runtime",
        "printed more than",
    ),
    "SystemExit": (prog("sys.exit(3)", "import sys\n"), "runtime", "SystemExit"),
    "os._exit kills its worker": (prog("os._exit(3)", "import os\n"), "runtime", "crashed its worker"),
    "deep recursion": (prog("return solve(grid)"), "runtime", "RecursionError"),
    "non-grid return": (prog("return 'a grid, honest'"), "invalid_output", "not a grid"),
    "ragged return": (prog("return [[1, 2], [3]]"), "invalid_output", "ragged"),
    "colour out of range": (prog("return grid * 5"), "invalid_output", "colours are 0-9"),
    "too big": (prog("return np.zeros((31, 3), dtype=int)"), "invalid_output", "sides must be 1-30"),
    "syntax error": ("def solve(grid) return grid", "syntax", "SyntaxError"),
    "no solve": ("x = 1\n", "syntax", "defines no solve"),
    "ctypes": (prog("ctypes.CDLL(None).fork()", "import ctypes\n"), "runtime", "not allowed"),
    "raising at module level": ("raise ValueError('boom')\n", "runtime", "boom"),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_program_is_classified(pool: SandboxPool, name: str) -> None:
    if "10 GB" in name and not sys.platform.startswith("linux"):
        pytest.skip("RLIMIT_AS is enforced on Linux only")
    source, kind, fragment = HOSTILE[name]
    run = pool.run_program(source, [GRID, GRID])
    assert run.error is not None, f"{name}: no error"
    assert run.error.kind == kind, run.error
    assert fragment in run.error.message
    assert run.outputs == (None, None)
    assert not OUTSIDE.exists()
    # The pool goes on: the next program runs normally.
    ok = pool.run_program("def solve(grid):\n    return grid.T\n", [GRID])
    assert ok.ok and np.array_equal(ok.outputs[0], GRID.T)


def test_outputs_and_per_grid_errors(pool: SandboxPool) -> None:
    source = "def solve(grid):\n    if grid[0, 0] == 9:\n        raise KeyError('nine')\n    return np.rot90(grid)\n"
    run = pool.run_program(source, [GRID, np.array([[9]], dtype=np.int8), GRID])
    assert np.array_equal(run.outputs[0], np.rot90(GRID)) and run.outputs[0].dtype == np.int8
    assert run.outputs[1] is None and run.errors[1] is not None and run.errors[1].kind == "runtime"
    assert np.array_equal(run.outputs[2], np.rot90(GRID))
    assert run.errors[0] is None and run.error is run.errors[1]


def test_a_request_round_trips_its_source_timeout_and_grids() -> None:
    grids = [GRID, np.arange(6, dtype=np.int8).reshape(2, 3) % 10]
    source = "def solve(grid):\n    return grid  # \u00e9 \ud800\n"  # a lone surrogate, as a model may write
    request = worker.pack_request(7, 1.5, source, grids, np)
    timeout, decoded, unpacked = worker.unpack_request(request, np)
    assert (timeout, decoded) == (1.5, source)
    assert [g.tolist() for g in unpacked] == [g.tolist() for g in grids]
    assert all(g.flags.writeable and g.dtype == np.int8 for g in unpacked)
    with pytest.raises(ValueError):
        worker.unpack_request(request[:-1], np)  # one grid byte short
    with pytest.raises(ValueError):
        worker.unpack_request(request[: worker.REQUEST_PREFIX.size + 2], np)  # cut inside the shapes


def test_an_answer_round_trips_its_results_text_and_grids() -> None:
    results = [
        {"shape": (2, 3)},
        {"output": None, "error": {"kind": "runtime", "message": "KeyError: 'n\u00e9uf' \ud800"}},
        {"shape": [30, 30]},
    ]
    blob = bytes(range(6)) + bytes(900)
    body = worker.pack_answer(results, "printed \ud800 text", 12345, blob)
    header, grids = worker.unpack_answer(body)
    assert header["results"][0] == {"shape": [2, 3]} and header["results"][2] == {"shape": [30, 30]}
    error = header["results"][1]["error"]
    assert error["kind"] == "runtime" and error["message"].startswith("KeyError: 'n\u00e9uf' ")
    assert header["stdout"].startswith("printed ") and header["stdout_chars"] == 12345
    assert bytes(grids) == blob
    for cut in (1, 5, len(body) - len(blob) - 3):  # inside the count, a result, the text
        with pytest.raises(ValueError):
            worker.unpack_answer(body[:cut])
    with pytest.raises(ValueError):
        worker.unpack_answer(b"\x00\x01\x07")  # a result tag that means nothing


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        (np.array([[1, 2], [3, 9]], dtype=np.int64), None),
        (np.array([[0, 7]], dtype=np.uint16), None),
        (np.array([[1.0, 2.0]]), None),
        ([[1, 2], [3, 4]], None),
        (np.array([[10, 1]]), "colours 1..10"),
        (np.array([[-1, 3]], dtype=np.int16), "colours -1..3"),
        (np.zeros((1, 31), dtype=int), "sides must be 1-30"),
        (np.zeros((2, 2), dtype=bool), "type bool"),
        (np.zeros((2, 2, 1), dtype=int), "not a 2-D grid"),
    ],
)
def test_an_output_is_checked_the_same_on_the_fast_and_the_long_way(
    value: object, fragment: str | None
) -> None:
    output, problem = worker.check_output(value, np)
    if fragment is None:
        assert problem is None and output.dtype == np.int8 and output.flags.c_contiguous
        assert np.array_equal(output, np.asarray(value))
    else:
        assert output is None and problem is not None and fragment in problem, problem


def test_a_lone_surrogate_in_a_source_is_its_syntax_error_not_the_pool_s(pool: SandboxPool) -> None:
    run = pool.run_program("def solve(grid):\n    note = '\ud800'\n    return grid.T\n", [GRID])
    assert run.error is not None and run.error.kind == "syntax" and "surrogates" in run.error.message
    assert not run.worker_replaced
    assert pool.run_program("def solve(grid):\n    return grid.T\n", [GRID]).ok


def test_dsl_names_and_lists_and_floats_are_accepted(pool: SandboxPool) -> None:
    run = pool.run_program(
        "def solve(grid):\n    return [[float(v) for v in row] for row in grid.tolist()]\n", [GRID]
    )
    assert run.ok and np.array_equal(run.outputs[0], GRID)


def test_scratch_folder_is_writable_and_cleaned_between_calls(pool: SandboxPool) -> None:
    write = "import os\ndef solve(grid):\n    assert not os.listdir('.'), os.listdir('.')\n    open('note.txt', 'w').write('x')\n    return grid\n"
    for _ in range(3):  # a leftover from the call before would fail the assert
        run = pool.run_program(write, [GRID])
        assert run.ok, run.error


def test_folders_a_program_leaves_are_removed_too(pool: SandboxPool) -> None:
    leave = "import os\ndef solve(grid):\n    os.makedirs('a/b')\n    open('a/b/c.txt', 'w').write('x')\n    return grid\n"
    check = "import os\ndef solve(grid):\n    assert not os.listdir('.'), os.listdir('.')\n    return grid\n"
    assert pool.run_program(leave, [GRID]).ok
    run = pool.run_program(check, [GRID])
    assert run.ok, run.error


def test_stdout_is_captured_and_bounded(pool: SandboxPool) -> None:
    run = pool.run_program("def solve(grid):\n    print('hello from solve')\n    return grid\n", [GRID])
    assert run.ok and run.stdout == "hello from solve\n"


def test_program_state_does_not_leak_between_calls(pool: SandboxPool) -> None:
    pool.run_program("SECRET = 5\ndef solve(grid):\n    return grid\n", [GRID])
    run = pool.run_program("def solve(grid):\n    return grid * SECRET\n", [GRID])
    assert run.error is not None and "NameError" in run.error.message


def test_concurrent_calls_from_threads(pool: SandboxPool) -> None:
    results: list[bool] = []

    def call(k: int) -> None:
        run = pool.run_program(f"def solve(grid):\n    return (grid + {k}) % 10\n", [GRID])
        results.append(run.ok and np.array_equal(run.outputs[0], (GRID + k) % 10))

    threads = [threading.Thread(target=call, args=(k,)) for k in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [True] * 8


def children_of(pid: int) -> list[int]:
    """Live (not zombie) processes whose parent is `pid`, from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[1]) == pid and stat[0] != "Z":
                found.append(int(entry.name))
    return found


def spare_child(zygote: int) -> int:
    """The program process a zygote has forked ahead for the next call (it forks it right after an
    answer; wait for it)."""
    for _ in range(200):
        children = children_of(zygote)
        if children:
            (child,) = children
            return child
        time.sleep(0.05)
    raise AssertionError(f"zygote {zygote} forked no process for the next program")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_overrunning_program_is_killed_and_reaped_and_its_worker_stays() -> None:
    with SandboxPool(workers=1, timeout_s=0.3) as pool:
        assert pool.run_program("def solve(grid):\n    return grid\n", [GRID]).ok
        (zygote,) = pool.pids
        runs_next = spare_child(zygote)
        # Blocks signals in C code (a long sleep inside one call): only the outside kill ends it.
        stuck = "import signal\nsignal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM, signal.SIGPROF})\ndef solve(grid):\n    import time\n    time.sleep(30)\n"
        run = pool.run_program(stuck, [GRID])
        assert run.error is not None and run.error.kind == "timeout", run.error
        assert "its process was killed" in run.error.message
        assert not Path(f"/proc/{runs_next}").exists()  # killed and reaped, not a zombie
        assert pool.pids == [zygote] and not run.worker_replaced  # the zygote goes on
        again = pool.run_program("def solve(grid):\n    return grid[::-1]\n", [GRID])
        assert again.ok and np.array_equal(again.outputs[0], GRID[::-1])
    assert not Path(f"/proc/{zygote}").exists()  # close() stops and reaps every worker
    with pytest.raises(SandboxError, match="closed"):
        pool.run_program("def solve(grid):\n    return grid\n", [GRID])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_worker_that_stops_answering_is_killed_reaped_and_replaced() -> None:
    with SandboxPool(workers=1, timeout_s=0.3) as pool:
        assert pool.run_program("def solve(grid):\n    return grid\n", [GRID]).ok
        (old_pid,) = pool.pids
        os.kill(old_pid, signal.SIGSTOP)  # a zygote that hangs: only the pool's kill ends it
        run = pool.run_program("def solve(grid):\n    return grid\n", [GRID])
        assert run.error is not None and run.error.kind == "timeout" and run.worker_replaced
        assert pool.replacements == 1
        assert not Path(f"/proc/{old_pid}").exists()  # reaped, not a zombie
        again = pool.run_program("def solve(grid):\n    return grid[::-1]\n", [GRID])
        assert again.ok and np.array_equal(again.outputs[0], GRID[::-1])
        (new_pid,) = pool.pids
        assert new_pid != old_pid
    assert not Path(f"/proc/{new_pid}").exists()


def test_lazy_pool_starts_workers_on_first_use() -> None:
    with SandboxPool(workers=2, lazy=True) as pool:
        assert pool.pids == []
        assert pool.run_program("def solve(grid):\n    return grid\n", [GRID]).ok
        assert len(pool.pids) == 1


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_a_thread_a_program_starts_does_not_outlive_it() -> None:
    with SandboxPool(workers=1, timeout_s=1.0) as pool:
        assert pool.run_program("def solve(grid):\n    return grid\n", [GRID]).ok
        (zygote,) = pool.pids
        runs_next = spare_child(zygote)
        spinner = "import threading\ndef solve(grid):\n    threading.Thread(target=lambda: [0 for _ in iter(int, 1)], daemon=True).start()\n    return grid\n"
        run = pool.run_program(spinner, [GRID])
        # With seccomp a program cannot start a thread at all; without, the thread dies with it.
        assert run.ok or (run.error is not None and "can't start new thread" in run.error.message)
        assert not Path(f"/proc/{runs_next}").exists()
        assert pool.pids == [zygote]
        for child in children_of(zygote):
            assert len(list(Path(f"/proc/{child}/task").iterdir())) == 1
        assert pool.run_program("def solve(grid):\n    return grid\n", [GRID]).ok
