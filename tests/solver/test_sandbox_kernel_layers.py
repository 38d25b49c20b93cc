"""The sandbox's kernel layers on their own: the seccomp filters (checked instruction by instruction
for x86_64 and aarch64, and live on this kernel), Landlock (live), the zygote with its audit hook
switched off (so that only the kernel holds), and the layer report and log line."""

from __future__ import annotations

import json
import logging
import os
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from arcforge_solver.sandbox import layers, seccomp
from arcforge_solver.sandbox.landlock import Ruleset, abi_version
from arcforge_solver.sandbox.pool import SandboxPool

SRC = str(Path(__file__).resolve().parents[2] / "packages" / "solver" / "src")
LINUX = sys.platform.startswith("linux")
PROBE = layers.probe() if LINUX else {}
HAS_SECCOMP = LINUX and seccomp.current_arch() is not None and PROBE.get("seccomp", "").startswith("on")
LANDLOCK_ABI = abi_version()
needs_seccomp = pytest.mark.skipif(
    not HAS_SECCOMP, reason=f"no seccomp filter here: {PROBE.get('seccomp', 'not Linux')}"
)
needs_landlock = pytest.mark.skipif(
    LANDLOCK_ABI < 1, reason="this kernel has no Landlock (or it is turned off)"
)
EPERM = seccomp.SECCOMP_RET_ERRNO | 1
ENOSYS = seccomp.SECCOMP_RET_ERRNO | 38


# -- the BPF programs, run by a small classic-BPF interpreter ----------------------------------------


def run_filter(code: bytes, arch: int, nr: int, args: tuple[int, ...] = ()) -> int:
    """What the filter answers for one call: a classic-BPF interpreter for the opcodes it uses."""
    data = struct.pack("=iIQ6Q", nr, arch, 0, *(list(args) + [0] * (6 - len(args))))
    insns = [struct.unpack_from("=HBBI", code, 8 * i) for i in range(len(code) // 8)]
    pc, acc = 0, 0
    while True:
        op, jt, jf, k = insns[pc]
        if op == 0x20:  # LD W ABS
            (acc,) = struct.unpack_from("=I", data, k)
            pc += 1
        elif op in (0x15, 0x35, 0x45):  # JEQ, JGE, JSET
            hit = acc == k if op == 0x15 else acc >= k if op == 0x35 else bool(acc & k)
            pc += 1 + (jt if hit else jf)
        elif op == 0x06:
            return k
        else:
            raise AssertionError(f"unexpected opcode {op:#x}")


@pytest.mark.parametrize("arch", [seccomp.X86_64, seccomp.AARCH64], ids=lambda a: a.name)
def test_the_filters_deny_what_they_say_and_allow_the_rest(arch: seccomp.Arch) -> None:
    n = arch.numbers
    zygote = seccomp.build(arch, seccomp.Profile.ZYGOTE).for_pid(0)
    program = seccomp.build(arch, seccomp.Profile.PROGRAM).for_pid(4242)
    assert len(zygote) // 8 < 4096 and len(program) // 8 < 4096  # BPF_MAXINSNS

    def both(nr: int, *args: int) -> int:
        # Stacked filters: the strictest answer wins (errno ranks below allow).
        return min(
            run_filter(zygote, arch.audit_arch, nr, args), run_filter(program, arch.audit_arch, nr, args)
        )

    for name in ("execve", "execveat", "socket", "connect", "ptrace", "mount", "unshare", "setns", "pidfd_open",
                 "pidfd_send_signal", "bpf", "io_uring_setup", "process_vm_writev", "setuid", "init_module"):  # fmt: skip
        assert run_filter(zygote, arch.audit_arch, n[name]) == EPERM, name
    assert run_filter(zygote, arch.audit_arch, n["clone3"]) == ENOSYS
    sigchld = 17
    assert run_filter(zygote, arch.audit_arch, n["clone"], (sigchld,)) == seccomp.SECCOMP_RET_ALLOW  # fork
    assert run_filter(zygote, arch.audit_arch, n["clone"], (seccomp.CLONE_NEWUSER | sigchld,)) == EPERM
    assert run_filter(zygote, arch.audit_arch, n["clone"], (seccomp.CLONE_NEWNET,)) == EPERM
    # The program's process: no process or thread at all, signals to itself only.
    assert both(n["clone"], sigchld) == EPERM
    assert both(n["kill"], 4242, 9) == seccomp.SECCOMP_RET_ALLOW
    assert both(n["kill"], 1, 9) == EPERM
    assert both(n["kill"], 0, 9) == EPERM  # its process group: the zygote
    assert both(n["tgkill"], 4242, 4243, 9) == seccomp.SECCOMP_RET_ALLOW
    assert both(n["tgkill"], 4241, 4241, 9) == EPERM
    # dir_fd: relative to the cwd or absolute only.
    assert both(n["openat"], seccomp.AT_FDCWD, 0, 0) == seccomp.SECCOMP_RET_ALLOW
    assert both(n["openat"], 5, 0, 0) == EPERM
    assert both(n["mkdirat"], 5, 0, 0) == EPERM
    assert both(n["renameat2"], seccomp.AT_FDCWD, 0, 7, 0) == EPERM
    assert both(n["unlinkat"], seccomp.AT_FDCWD, 0, 0) == seccomp.SECCOMP_RET_ALLOW
    for name in (
        "fchmodat",
        "fchownat",
        "linkat",
        "symlinkat",
        "utimensat",
        "setxattr",
        "chdir",
        "setrlimit",
    ):
        assert both(n[name]) == EPERM, name
    assert both(n["prlimit64"], 0, 9, 0, 1000) == seccomp.SECCOMP_RET_ALLOW  # reading a limit
    assert both(n["prlimit64"], 0, 9, 1000, 0) == EPERM  # setting one
    assert both(n["prctl"], seccomp.PR_SET_PDEATHSIG, 0) == EPERM
    # Ordinary calls pass; another ABI is killed.
    fionread, pr_set_name = 0x541B, 15
    assert both(n["openat"], seccomp.AT_FDCWD, 0, 0) == seccomp.SECCOMP_RET_ALLOW
    assert both(n["ioctl"], 3, fionread) == seccomp.SECCOMP_RET_ALLOW
    assert both(n["ioctl"], 0, seccomp.TIOCSTI) == EPERM
    assert both(n["prctl"], pr_set_name) == seccomp.SECCOMP_RET_ALLOW
    assert run_filter(zygote, 0x40000003, 11) == seccomp.SECCOMP_RET_KILL_PROCESS  # i386
    if arch.has_x32:
        assert run_filter(zygote, arch.audit_arch, 0x40000000 | 59) == seccomp.SECCOMP_RET_KILL_PROCESS


def _python(script: str) -> subprocess.CompletedProcess[str]:
    env = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    code = f"import sys; sys.path.insert(0, {SRC!r})\n" + textwrap.dedent(script)
    return subprocess.run(
        [sys.executable, "-I", "-c", code], check=False, capture_output=True, text=True, env=env, timeout=120
    )


@needs_seccomp
def test_the_filters_hold_on_this_kernel(tmp_path: Path) -> None:
    script = f"""
    import errno, json, os, socket, signal
    from arcforge_solver.sandbox import seccomp
    arch = seccomp.current_arch()
    os.chdir({str(tmp_path)!r})
    installer = seccomp.Installer()
    installer.no_new_privs()
    installer.install(seccomp.build(arch, seccomp.Profile.ZYGOTE).for_pid(0))
    installer.install(seccomp.build(arch, seccomp.Profile.PROGRAM).for_pid(os.getpid()))
    outcome = {{}}
    def attempt(name, call):
        try:
            call()
            outcome[name] = "allowed"
        except OSError as exc:
            outcome[name] = errno.errorcode.get(exc.errno, str(exc.errno))
        except RuntimeError as exc:
            outcome[name] = type(exc).__name__
    attempt("fork", os.fork)
    attempt("exec", lambda: os.execv("/bin/true", ["true"]))
    attempt("socket", socket.socket)
    attempt("kill parent", lambda: os.kill(os.getppid(), 0))
    attempt("kill self", lambda: os.kill(os.getpid(), 0))
    attempt("mkdir with dir_fd", lambda: os.mkdir("x", dir_fd=os.open(".", os.O_RDONLY)))
    attempt("chmod", lambda: os.chmod(".", 0o777))
    attempt("mkdir in cwd", lambda: os.mkdir("y"))
    attempt("thread", lambda: __import__("threading").Thread(target=print).start())
    print(json.dumps(outcome))
    """
    done = _python(script)
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    assert outcome == {
        "fork": "EPERM",
        "exec": "EPERM",
        "socket": "EPERM",
        "kill parent": "EPERM",
        "kill self": "allowed",
        "mkdir with dir_fd": "EPERM",
        "chmod": "EPERM",
        "mkdir in cwd": "allowed",
        "thread": "RuntimeError",
    }
    assert (tmp_path / "y").is_dir() and not (tmp_path / "x").exists()


# -- Landlock --------------------------------------------------------------------------------------


def test_a_tree_with_a_hidden_file_is_granted_entry_by_entry(tmp_path: Path) -> None:
    (tmp_path / "lib" / "dynload").mkdir(parents=True)
    for name in ("a.py", "dynload/ok.so", "dynload/_xxsubinterpreters.so"):
        (tmp_path / "lib" / name).write_text("x")
    lib = str(tmp_path / "lib")
    hidden = str(tmp_path / "lib" / "dynload" / "_xxsubinterpreters.so")
    rules = dict(Ruleset(read=[lib], write=[str(tmp_path / "w")], hidden={hidden}).rules())
    assert hidden not in rules
    assert rules[lib] != rules[lib + "/a.py"]  # the folder itself: listing only
    assert rules[lib + "/dynload/ok.so"] == rules[lib + "/a.py"]
    assert str(tmp_path / "w") in rules


@needs_landlock
def test_landlock_holds_on_this_kernel(tmp_path: Path) -> None:
    lib, scratch, outside = tmp_path / "lib", tmp_path / "scratch", tmp_path / "outside"
    for folder in (lib, scratch, outside):
        folder.mkdir()
    (lib / "module.py").write_text("x")
    (lib / "_xxsubinterpreters.so").write_text("x")
    (outside / "kaggle.json").write_text("secret")
    script = f"""
    import errno, json, os
    from arcforge_solver.sandbox import landlock, seccomp
    seccomp.Installer().no_new_privs()
    abi = landlock.abi_version()
    ruleset = landlock.Ruleset(read=[{str(lib)!r}], write=[{str(scratch)!r}], hidden={{{str(lib / "_xxsubinterpreters.so")!r}}})
    landlock.restrict(ruleset, abi)
    outcome = {{}}
    def attempt(name, call):
        try:
            call()
            outcome[name] = "allowed"
        except OSError as exc:
            outcome[name] = errno.errorcode.get(exc.errno, str(exc.errno))
    attempt("read library", lambda: open({str(lib / "module.py")!r}).read())
    attempt("read hidden extension", lambda: open({str(lib / "_xxsubinterpreters.so")!r}).read())
    attempt("write library", lambda: open({str(lib / "module.py")!r}, "w"))
    attempt("read secret", lambda: open({str(outside / "kaggle.json")!r}).read())
    attempt("list outside", lambda: os.listdir({str(outside)!r}))
    attempt("read /etc", lambda: open("/etc/hostname").read())
    attempt("read /proc environ", lambda: open(f"/proc/{{os.getppid()}}/environ", "rb").read())
    attempt("write scratch", lambda: open({str(scratch / "note.txt")!r}, "w").write("x"))
    attempt("rename scratch to outside", lambda: os.rename({str(scratch / "note.txt")!r}, {str(outside / "note.txt")!r}))
    if abi >= 6:
        attempt("signal parent", lambda: os.kill(os.getppid(), 0))
    print(json.dumps(outcome))
    """
    done = _python(script)
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    expected = {
        "read library": "allowed",
        "read hidden extension": "EACCES",
        "write library": "EACCES",
        "read secret": "EACCES",
        "list outside": "EACCES",
        "read /etc": "EACCES",
        "read /proc environ": "EACCES",
        "write scratch": "allowed",
        "rename scratch to outside": outcome["rename scratch to outside"],
    }
    assert outcome["rename scratch to outside"] in ("EACCES", "EXDEV")  # the destination is not granted
    if LANDLOCK_ABI >= 6:
        expected["signal parent"] = "EPERM"
    assert outcome == expected
    assert (outside / "kaggle.json").read_text() == "secret" and not (outside / "note.txt").exists()


# -- the zygote with only the kernel between a program and the machine --------------------------------

_KERNEL_ONLY = """
import json, os, sys
from arcforge_solver.sandbox import zygote
class NoHook:  # the audit hook switched off: what follows is held by the kernel layers alone
    def __init__(self, *args, **kwargs):
        self.armed = False
    def arm(self, private_fds):
        pass
    def __call__(self, event, args):
        return None
zygote.Policy = NoHook
config = json.loads(sys.argv[1])
z = zygote.Zygote(config)
z.setup()
programs = json.loads(sys.argv[2])
out = {}
from arcforge_solver.sandbox import worker
for name, source in programs.items():
    request = worker.pack_request(1, 2.0, source, [[[1]]], zygote.numpy)
    answer, grid_bytes = worker.unpack_answer(z.run_one(request))
    out[name] = {**answer["results"][0], "grid_bytes": list(grid_bytes)}
out["layers"] = z.layers
os.write(z.out_fd, json.dumps(out).encode())
"""


@needs_seccomp
@needs_landlock
def test_the_kernel_layers_hold_without_the_audit_hook(tmp_path: Path) -> None:
    scratch, outside = tmp_path / "scratch", tmp_path / "outside"
    scratch.mkdir()
    outside.mkdir()
    (outside / "kaggle.json").write_text("secret")
    victim = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])

    def program(body: str) -> str:
        return f"import os, signal, socket, subprocess\ndef solve(grid):\n    {body}\n    return grid\n"

    programs = {
        "write outside": program(f"open({str(outside / 'x')!r}, 'w').write('x')"),
        "read secret": program(f"print(open({str(outside / 'kaggle.json')!r}).read())"),
        "dir_fd mkdir": program("os.mkdir('../escape', dir_fd=os.open('.', os.O_RDONLY))"),
        "kill the owner's process": program(f"os.kill({victim.pid}, signal.SIGKILL)"),
        "pidfd signal": program(f"signal.pidfd_send_signal(os.pidfd_open({victim.pid}), signal.SIGKILL)"),
        "fork": program("os.fork()"),
        "exec": program("os.execv('/bin/sh', ['sh', '-c', 'true'])"),
        "socket": program("socket.socket().connect(('127.0.0.1', 9))"),
        "subinterpreter": program(
            "import importlib.machinery, importlib.util\n"
            "    spec = importlib.machinery.PathFinder.find_spec('_xxsubinterpreters')\n"
            "    importlib.util.module_from_spec(spec)"
        ),
        "honest": "def solve(grid):\n    return [[7]]\n",
    }
    config = {"scratch": str(scratch), "memory_mb": 512, "output_limit": 1 << 20, "file_limit_bytes": 1 << 20}
    script = f"import sys; sys.path.insert(0, {SRC!r})\n" + _KERNEL_ONLY
    keep_open, stdin = os.pipe()  # EOF on its stdin would tell the zygote that its owner is gone
    try:
        zygote = subprocess.Popen(
            [sys.executable, "-I", "-c", script, json.dumps(config), json.dumps(programs)],
            stdin=keep_open,
            stdout=subprocess.PIPE,
            text=True,
            env={"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"},
        )
        os.close(keep_open)
        assert zygote.stdout is not None
        output = zygote.stdout.read()
        assert zygote.wait(timeout=120) == 0
        assert victim.poll() is None, "a program killed a process of the owner"
    finally:
        os.close(stdin)
        victim.kill()
        victim.wait()
    out = json.loads(output)
    assert out.pop("honest") == {"shape": [1, 1], "grid_bytes": [7]}
    assert out.pop("layers")["seccomp"].startswith("on")
    for name, result in out.items():
        assert result.get("error"), f"{name}: {result}"
        message = result["error"]["message"]
        assert "secret" not in message, name
        assert any(
            word in message for word in ("Permission", "Operation not permitted", "ImportError", "EXDEV")
        ), f"{name}: {message}"
    assert not (outside / "x").exists() and not (tmp_path / "escape").exists()


# -- the report -------------------------------------------------------------------------------------


def test_the_pool_reports_and_logs_its_layers_once(caplog: pytest.LogCaptureFixture) -> None:
    grid = np.array([[1]], dtype=np.int8)
    caplog.set_level(logging.INFO, logger="arcforge_solver.sandbox")
    layers._said.clear()
    with SandboxPool(workers=2, timeout_s=2.0) as pool:
        assert pool.run_program("def solve(grid):\n    return grid\n", [grid]).ok
        assert pool.run_program("def solve(grid):\n    return grid\n", [grid]).ok
        reported = dict(pool.layers)
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("sandbox layers:")]
    assert len(lines) == 1, lines  # once, however many workers say it
    for name in layers.KERNEL_LAYERS:
        assert reported[name].startswith(("on", "off: ")), reported
        assert f"{name} {reported[name]}" in lines[0]
    assert reported["fresh_process"].startswith("on")
    if HAS_SECCOMP:
        assert reported["seccomp"].startswith("on")
    if LANDLOCK_ABI >= 1:
        assert reported["landlock"].startswith(f"on: ABI {LANDLOCK_ABI}")


def test_without_kernel_layers_the_run_goes_on_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    grid = np.array([[1, 2]], dtype=np.int8)
    caplog.set_level(logging.INFO, logger="arcforge_solver.sandbox")
    with SandboxPool(workers=1, timeout_s=2.0, kernel_layers=False) as pool:
        forked = pool.run_program("import os\ndef solve(grid):\n    os.fork()\n    return grid\n", [grid])
        assert forked.error is not None and "os.fork is not allowed" in forked.error.message
        run = pool.run_program("def solve(grid):\n    return grid[:, ::-1]\n", [grid])
        assert run.ok and run.outputs[0] is not None and run.outputs[0].tolist() == [[2, 1]]
        assert all(pool.layers[name].startswith("off: turned off") for name in layers.KERNEL_LAYERS)
    warnings = [
        r for r in caplog.records if r.levelno == logging.WARNING and "sandbox layers:" in r.getMessage()
    ]
    assert len(warnings) == 1 and "seccomp off" in warnings[0].getMessage()
