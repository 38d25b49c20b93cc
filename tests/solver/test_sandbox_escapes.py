"""Escapes thrown at the sandbox pool: subinterpreters, signals through pidfds, dir_fd writes,
secrets in the environment and in files, and patches to numpy, the DSL, builtins and the worker.

Each must be contained (no effect outside the program's process, no secret in what comes back), and
an honest program right after it, in the same pool, must get the right answer.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from arcforge_solver.sandbox.pool import ProgramRun, SandboxPool

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the sandbox's layers are Linux's"
)

GRID = np.array([[1, 2], [3, 4]], dtype=np.int8)
HONEST = "def solve(grid):\n    return np.rot90(grid)\n"
OUTSIDE = Path("/tmp") / f"arcforge-escape-{os.getpid()}"


@pytest.fixture(scope="module")
def pool() -> Iterator[SandboxPool]:
    # One worker: every program below runs in the zygote that served the one before it.
    with SandboxPool(workers=1, timeout_s=2.0, memory_mb=512) as sandbox:
        yield sandbox


@pytest.fixture()
def victim() -> Iterator[subprocess.Popen[bytes]]:
    """A process of the pool's owner that a program would like to kill."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    yield process
    process.kill()
    process.wait()


def honest_after(pool: SandboxPool) -> None:
    run = pool.run_program(HONEST, [GRID])
    assert run.ok, run.error
    assert run.outputs[0] is not None and np.array_equal(run.outputs[0], np.rot90(GRID))


def refused(run: ProgramRun) -> str:
    assert run.error is not None, "the escape ran without an error"
    assert run.error.kind == "runtime", run.error
    return run.error.message


# -- subinterpreters: every way in that a program has, each refused ---------------------------------

# Code that, run in a subinterpreter (no audit hooks there), would leave a file outside scratch.
_ESCAPE = f"import os; os.system('touch {OUTSIDE}'); open('{OUTSIDE}', 'w').write('x')"
SUBINTERPRETER_PATHS = {
    "import _xxsubinterpreters": f"import _xxsubinterpreters as m\nm.run_string(m.create(), {_ESCAPE!r})\n",
    "import _interpreters (3.13+)": f"import _interpreters as m\nm.run_string(m.create(), {_ESCAPE!r})\n",
    "import _xxinterpchannels": "import _xxinterpchannels\n",
    "import concurrent.interpreters (3.14+)": "import concurrent.interpreters\n",
    "importlib.import_module": (
        f"import importlib\nm = importlib.import_module('_xxsubinterpreters')\nm.run_string(m.create(), {_ESCAPE!r})\n"
    ),
    "__import__": f"m = __import__('_xxsubinterpreters')\nm.run_string(m.create(), {_ESCAPE!r})\n",
    "del sys.modules, then import": (
        "import sys\nsys.modules.pop('_xxsubinterpreters', None)\nimport _xxsubinterpreters as m\n"
        f"m.run_string(m.create(), {_ESCAPE!r})\n"
    ),
    "a hand-made spec (module_from_spec)": (
        "import importlib.machinery, importlib.util\n"
        "spec = importlib.machinery.PathFinder.find_spec('_xxsubinterpreters')\n"
        f"m = importlib.util.module_from_spec(spec)\nm.run_string(m.create(), {_ESCAPE!r})\n"
    ),
    "_imp.create_dynamic": (
        "import _imp, importlib.machinery\n"
        "spec = importlib.machinery.PathFinder.find_spec('_xxsubinterpreters')\n"
        f"m = _imp.create_dynamic(spec)\nm.run_string(m.create(), {_ESCAPE!r})\n"
    ),
    "ExtensionFileLoader": (
        "import importlib.machinery, sys\nsys.modules.pop('_xxsubinterpreters', None)\n"
        "spec = importlib.machinery.PathFinder.find_spec('_xxsubinterpreters')\n"
        "loader = importlib.machinery.ExtensionFileLoader('_xxsubinterpreters', spec.origin)\n"
        f"m = loader.load_module()\nm.run_string(m.create(), {_ESCAPE!r})\n"
    ),
    "reading the extension's file": (
        "import importlib.machinery\n"
        "spec = importlib.machinery.PathFinder.find_spec('_xxsubinterpreters')\n"
        "open(spec.origin, 'rb').read()\n"
    ),
    "_testcapi.run_in_subinterp": f"import _testcapi\n_testcapi.run_in_subinterp({_ESCAPE!r})\n",
    "_testinternalcapi": "import _testinternalcapi\n",
}


@pytest.mark.parametrize("path", list(SUBINTERPRETER_PATHS))
def test_subinterpreters_are_refused(pool: SandboxPool, path: str) -> None:
    source = SUBINTERPRETER_PATHS[path] + "def solve(grid):\n    return grid\n"
    message = refused(pool.run_program(source, [GRID]))
    assert any(
        word in message for word in ("not allowed", "ImportError", "ModuleNotFoundError", "Permission")
    )
    assert not OUTSIDE.exists()
    honest_after(pool)


# -- signals: nothing outside the program's own process --------------------------------------------

SIGNALS = {
    "pidfd_send_signal": "signal.pidfd_send_signal(os.pidfd_open({pid}), signal.SIGKILL)",
    "os.kill": "os.kill({pid}, signal.SIGKILL)",
    "os.killpg": "os.killpg(os.getpgid({pid}), signal.SIGKILL)",
    "signal.pthread_kill": "signal.pthread_kill({pid}, signal.SIGKILL)",
}


@pytest.mark.parametrize("how", list(SIGNALS))
def test_signals_to_the_owner_and_the_zygote_are_refused(
    pool: SandboxPool, victim: subprocess.Popen[bytes], how: str
) -> None:
    assert pool.run_program(HONEST, [GRID]).ok
    (zygote,) = pool.pids
    for target in (str(victim.pid), "os.getppid()", str(os.getpid())):
        body = SIGNALS[how].format(pid=target)
        run = pool.run_program(f"import os, signal\ndef solve(grid):\n    {body}\n    return grid\n", [GRID])
        refused(run)
    assert victim.poll() is None, "a program killed a process of the pool's owner"
    assert pool.pids == [zygote] and Path(f"/proc/{zygote}").exists()
    honest_after(pool)


def test_a_signal_to_itself_only_ends_the_program(pool: SandboxPool) -> None:
    run = pool.run_program(
        "import os, signal\ndef solve(grid):\n    os.kill(os.getpid(), signal.SIGKILL)\n", [GRID]
    )
    assert run.error is not None and run.error.kind == "runtime"
    honest_after(pool)


# -- writes through dir_fd ---------------------------------------------------------------------------

DIR_FD_WRITES = {
    "mkdir": "os.mkdir('../escape-dir', dir_fd=fd)",
    "unlink": "os.unlink('../victim.txt', dir_fd=fd)",
    "rename": "os.rename('../victim.txt', '../moved.txt', src_dir_fd=fd, dst_dir_fd=fd)",
    "rmdir": "os.rmdir('../victim-dir', dir_fd=fd)",
    "chmod": "os.chmod('../victim.txt', 0o777, dir_fd=fd)",
    "os.open": "os.close(os.open('../created.txt', os.O_WRONLY | os.O_CREAT, dir_fd=fd))",
    "open with an opener": "open('../created.txt', 'w', opener=lambda p, f: os.open(p, f, dir_fd=fd)).write('x')",
    "symlink": "os.symlink('/etc', '../link', dir_fd=fd)",
}


@pytest.mark.parametrize("how", list(DIR_FD_WRITES))
def test_dir_fd_writes_outside_scratch_are_refused(pool: SandboxPool, how: str) -> None:
    # The victims sit beside the worker's scratch folder: reachable as '../name' from it.
    root = Path(pool.scratch.path)
    victim_file, victim_dir = root / "victim.txt", root / "victim-dir"
    victim_file.write_text("keep me")
    victim_file.chmod(0o600)
    victim_dir.mkdir(exist_ok=True)
    before = sorted(p.name for p in root.iterdir())
    body = DIR_FD_WRITES[how]
    run = pool.run_program(
        f"import os\ndef solve(grid):\n    fd = os.open('.', os.O_RDONLY)\n    {body}\n    return grid\n",
        [GRID],
    )
    refused(run)
    assert sorted(p.name for p in root.iterdir()) == before
    assert victim_file.read_text() == "keep me" and victim_file.stat().st_mode & 0o777 == 0o600
    assert victim_dir.is_dir()
    honest_after(pool)


def test_scratch_stays_writable_and_relative_paths_work(pool: SandboxPool) -> None:
    source = (
        "import os\ndef solve(grid):\n    os.mkdir('sub')\n    open('sub/a.txt', 'w').write('x')\n"
        "    os.rename('sub/a.txt', 'b.txt')\n    os.remove('b.txt')\n    os.rmdir('sub')\n    return grid\n"
    )
    run = pool.run_program(source, [GRID])
    assert run.ok, run.error


# -- secrets -----------------------------------------------------------------------------------------

FAKE_HF = "hf_" + "fakefakefake" + "0123456789"
FAKE_KAGGLE = "fakekaggle" + "0123456789abcdef"


@pytest.fixture()
def secrets_pool(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[SandboxPool, Path]]:
    home = tmp_path / "home"
    (home / ".kaggle").mkdir(parents=True)
    kaggle_json = home / ".kaggle" / "kaggle.json"
    kaggle_json.write_text(json.dumps({"username": "someone", "key": FAKE_KAGGLE}))
    kaggle_json.chmod(0o600)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("HF_TOKEN", FAKE_HF)
    monkeypatch.setenv("KAGGLE_KEY", FAKE_KAGGLE)
    monkeypatch.setenv("KAGGLE_USERNAME", "someone")
    with SandboxPool(workers=1, timeout_s=2.0) as sandbox:
        yield sandbox, kaggle_json


def _leaked(run: ProgramRun) -> bool:
    seen = run.stdout + "".join(e.message for e in run.errors if e is not None)
    return FAKE_HF in seen or FAKE_KAGGLE in seen


def test_the_environment_holds_no_secrets(secrets_pool: tuple[SandboxPool, Path]) -> None:
    pool, _ = secrets_pool
    names = ("HF_TOKEN", "KAGGLE_KEY", "KAGGLE_USERNAME", "HOME")
    source = (
        "import os\ndef solve(grid):\n    print(dict(os.environ))\n"
        f"    return [[int(name in os.environ) for name in {names!r}]]\n"
    )
    run = pool.run_program(source, [GRID])
    assert run.ok, run.error
    assert run.outputs[0] is not None and run.outputs[0].tolist() == [[0, 0, 0, 0]]
    assert not _leaked(run)
    honest_after(pool)


def test_secret_files_cannot_be_read(secrets_pool: tuple[SandboxPool, Path]) -> None:
    pool, kaggle_json = secrets_pool
    attempts = [
        f"open({str(kaggle_json)!r}).read()",
        "open(os.path.expanduser('~/.kaggle/kaggle.json')).read()",
        f"open('/proc/{os.getpid()}/environ', 'rb').read()",  # the pool owner's environment
        "open(f'/proc/{os.getppid()}/environ', 'rb').read()",
        "open('/proc/self/environ', 'rb').read()",
        f"os.listdir({str(kaggle_json.parent)!r})",
        "open('/etc/passwd').read()",
    ]
    for attempt in attempts:
        source = f"import os\ndef solve(grid):\n    print({attempt})\n    return grid\n"
        run = pool.run_program(source, [GRID])
        refused(run)
        assert not _leaked(run), attempt
    honest_after(pool)


# -- poisoning: nothing a program changes survives it ------------------------------------------------

POISONS = {
    "numpy": ("np.rot90 = lambda *a, **k: np.array([[9]])\n", HONEST),
    "numpy via sys.modules": (
        "import sys, types\nfake = types.ModuleType('numpy')\nfake.rot90 = lambda *a, **k: [[9]]\nsys.modules['numpy'] = fake\n",
        "import numpy\ndef solve(grid):\n    return numpy.rot90(grid)\n",
    ),
    "a DSL function's __code__": (
        "rot90.__code__ = (lambda grid: np.array([[9]])).__code__\n",
        "def solve(grid):\n    return rot90(grid)\n",
    ),
    "the DSL module": (
        "import arcforge_solver.dsl as dsl\ndsl.rot90 = lambda grid: np.array([[9]])\n",
        "import arcforge_solver.dsl as dsl\ndef solve(grid):\n    return dsl.rot90(grid)\n",
    ),
    "builtins": (
        "import builtins\nbuiltins.len = lambda x: 9\nbuiltins.list = lambda *a: [[9]]\n",
        "def solve(grid):\n    return [list(row) for row in grid.tolist()][: len(grid)]\n",
    ),
    "the worker's checks": (
        "import arcforge_solver.sandbox.worker as w\nw.check_output = lambda value, np: ([[9]], None)\n",
        HONEST,
    ),
    "the zygote class": (
        "import arcforge_solver.sandbox.zygote as z\n"
        "z.Zygote.run_one = lambda self, request: {'id': request['id'], 'results': [{'output': [[9]]}]}\n",
        HONEST,
    ),
    "an audit hook": ("import sys\nsys.addaudithook(lambda event, args: None)\n", HONEST),
    "a leftover thread": (
        "import threading\ntry:\n    threading.Thread(target=lambda: [0 for _ in iter(int, 1)], daemon=True).start()\n"
        "except RuntimeError:\n    pass\n",
        HONEST,
    ),
}


@pytest.mark.parametrize("what", list(POISONS))
def test_a_patch_does_not_outlive_its_program(pool: SandboxPool, what: str) -> None:
    poison, honest = POISONS[what]
    pool.run_program(poison + "def solve(grid):\n    return np.rot90(grid)\n", [GRID])
    run = pool.run_program(honest, [GRID])
    assert run.ok, run.error
    expected = np.rot90(GRID) if "rot90" in honest else GRID
    assert run.outputs[0] is not None and np.array_equal(run.outputs[0], expected)
    honest_after(pool)


FORGED = {
    "colours out of range": (
        "from arcforge_solver.sandbox import worker\n"
        "body = worker.pack_answer([{'shape': [1, 1]}], blob=bytes([99]))\n"
        "for fd in range(3, 12):\n    try:\n        worker.write_raw_frame(fd, body)\n    except OSError:\n        pass\n",
        "colours outside 0-9",
    ),
    "a grid past the bytes": (
        "from arcforge_solver.sandbox import worker\n"
        "body = worker.pack_answer([{'shape': [30, 30]}], blob=bytes([1]))\n"
        "for fd in range(3, 12):\n    try:\n        worker.write_raw_frame(fd, body)\n    except OSError:\n        pass\n",
        "malformed grid",
    ),
    "garbage": (
        "import os\nfor fd in range(3, 12):\n    try:\n        os.write(fd, b'\\x00\\x00\\x00\\x05hello')\n    except OSError:\n        pass\n",
        "malformed answer",
    ),
}


@pytest.mark.parametrize("how", list(FORGED))
def test_a_forged_answer_is_checked_and_the_worker_goes_on(pool: SandboxPool, how: str) -> None:
    forge, fragment = FORGED[how]
    (zygote,) = pool.pids
    run = pool.run_program(forge + "def solve(grid):\n    return grid\n", [GRID])
    assert run.error is not None and fragment in run.error.message, run.error
    assert pool.pids == [zygote]
    honest_after(pool)


def test_nothing_of_a_program_is_left_running_after_close(victim: subprocess.Popen[bytes]) -> None:
    with SandboxPool(workers=1, timeout_s=1.0) as pool:
        assert pool.run_program(HONEST, [GRID]).ok
        (zygote,) = pool.pids
        spinner = "import signal\nsignal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM, signal.SIGPROF})\ndef solve(grid):\n    while True:\n        pass\n"
        assert pool.run_program(spinner, [GRID]).error is not None
    for _ in range(100):  # the zygote's children die with it (parent-death signal)
        leftovers = [p for p in Path("/proc").iterdir() if p.name.isdigit() and _parent(p) == zygote]
        if not leftovers:
            break
        time.sleep(0.05)
    assert not leftovers
    assert victim.poll() is None
    assert not OUTSIDE.exists()


def _parent(proc: Path) -> int:
    try:
        return int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return -1
