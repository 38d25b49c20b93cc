"""The sandbox's zygote: one clean, pre-imported process per pool worker that forks one child per program.

Started by `sandbox.pool` as `python -I -B -c BOOT PACKAGE_ROOT CONFIG_JSON` in a scrubbed
environment (only what numpy needs), in a process group of its own. It imports numpy and the DSL
once, confines itself (the kernel layers of `sandbox.layers`), packs its heaps (`sandbox.heap`: a
child's first objects then go to fresh pages, not to pages it would copy), says hello with the
layers that are active, and then serves length-prefixed binary requests (`worker.pack_request`)
on private copies of its stdin/stdout.

For each program it forks a child, which:
- dies with the zygote (PR_SET_PDEATHSIG) and keeps only its own result pipe (the zygote's channel
  to the pool is closed: a program cannot reach the pool);
- inherits the zygote's rlimits (address space, file size, no core files, few descriptors), gets
  its CPU limit from the zygote per call and sets RLIMIT_NPROC 0 itself, installs its seccomp
  program profile (signals to itself only, no new processes or threads, ...) and arms the audit
  hook (`sandbox.policy`), in that order, then runs the program (`sandbox.worker`).

The zygote reads the child's answer until the call's deadline, then SIGKILLs and reaps it whatever
it did, and empties the scratch folder. Nothing a program changes (patched numpy or DSL, builtins,
hooks, threads, descriptors) survives it: the next program starts from the zygote's clean state.
When the pool goes away (EOF on stdin, even while a program runs) the zygote kills its child and
exits.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import importlib.machinery
import json
import os
import resource
import select
import signal
import sys
import time
from dataclasses import dataclass
from typing import Any, NoReturn

import numpy

from arcforge_solver.sandbox import heap, worker
from arcforge_solver.sandbox import layers as layers_module
from arcforge_solver.sandbox.landlock import (
    LandlockUnavailableError,
    Ruleset,
    abi_version,
    minimal_roots,
    restrict,
)
from arcforge_solver.sandbox.policy import REFUSED_MODULES, Policy
from arcforge_solver.sandbox.seccomp import (
    PR_SET_PDEATHSIG,
    Installer,
    Prepared,
    PreparedCall,
    Profile,
    SeccompUnavailableError,
    build,
    current_arch,
)

MAX_OPEN_FILES = 256
_HAS_PRLIMIT = hasattr(resource, "prlimit")
CHILD_FAILED = 70  # the child could not confine itself: it ran nothing


class Zygote:
    """The zygote process: `setup()` once, then `serve()` until its pool goes away."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.scratch = os.path.realpath(config["scratch"])
        self.memory_mb = int(config["memory_mb"])
        self.output_limit = int(config["output_limit"])
        self.file_limit = int(config["file_limit_bytes"])
        self.kernel_layers = bool(config.get("kernel_layers", True))
        self.pid = os.getpid()
        self.np: Any = numpy
        self.dsl_names: dict[str, Any] = {}
        self.namespace: dict[str, Any] = {}
        self.dsl_error: str | None = None
        self.in_fd = self.out_fd = -1
        self.address_space: int | None = None
        self.library_roots: list[str] = []
        self.hidden_files: list[str] = []
        self.installer: Installer | None = None
        self.program_filter: Prepared | None = None
        self.die_with_zygote: PreparedCall | None = None
        self.limit_processes = os.geteuid() != 0 if hasattr(os, "geteuid") else True
        self.layers: dict[str, str] = {}
        self.policy = Policy(self.scratch, ())
        self.spare: _Child | None = None
        self.heap_filler: tuple[list[object], list[int]] = ([], [])

    # -- set-up, once -------------------------------------------------------------------------

    def setup(self) -> None:
        # Private copies of the channel; fds 0-2 go to /dev/null so nothing can write into it.
        self.in_fd, self.out_fd = os.dup(0), os.dup(1)
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.close(null)
        try:  # the DSL ships with the solver; guarded so the sandbox works without it
            dsl = importlib.import_module("arcforge_solver.dsl")
            exported = getattr(dsl, "__all__", None) or [n for n in vars(dsl) if not n.startswith("_")]
            self.dsl_names = {name: getattr(dsl, name) for name in exported if hasattr(dsl, name)}
        except Exception as exc:
            self.dsl_error = f"{type(exc).__name__}: {exc}"
        self.hidden_files = _module_files(REFUSED_MODULES)
        for name in REFUSED_MODULES:
            sys.modules[name] = None  # type: ignore[assignment]  # `import name` now fails at once
        os.chdir(self.scratch)
        signal.signal(signal.SIGALRM, worker.on_timer)
        signal.signal(signal.SIGPROF, worker.on_timer)
        signal.signal(signal.SIGXCPU, worker.on_timer)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past RLIMIT_FSIZE fail with EFBIG instead
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the pool's business
        self._warm_up()
        self.namespace = worker.program_globals(self.np, self.dsl_names)
        self.address_space = _address_space_bytes()
        self.library_roots = _library_roots(self.scratch)
        if sys.platform.startswith("linux"):
            with contextlib.suppress(SeccompUnavailableError):
                self.installer = Installer()
                self.die_with_zygote = self.installer.prepared_call(PR_SET_PDEATHSIG, signal.SIGKILL)
        self._set_limits()  # before the filter, which forbids setrlimit
        self.layers = (
            self._confine() if self.kernel_layers else layers_module.all_off("turned off by the pool")
        )
        self.layers.update(layers_module.USERSPACE_LAYERS)
        self.policy = Policy(self.scratch, (), self.library_roots, self.hidden_files)
        self.policy.armed = False  # it holds from `arm()` on, in each child
        sys.addaudithook(self.policy)
        gc.collect()
        # After the collection, which frees blocks; pymalloc's first, as its filler list is malloc'd.
        self.heap_filler = (heap.fill_free_blocks(), heap.fill_free_chunks())
        gc.freeze()  # what the zygote holds is never collected: children do not copy its pages to scan them

    def _warm_up(self) -> None:
        """Run one small program here, unconfined and trusted: what numpy, the compiler and the JSON
        codec build lazily on first use is then built once, in the zygote, instead of in (and
        copied by) every program's process."""
        request = worker.pack_request(0, 5.0, _WARM_UP, [[[0, 1], [2, 3]]] * 2, self.np)
        old = sys.stdout, sys.stderr
        try:
            namespace = worker.program_globals(self.np, self.dsl_names)
            worker.unpack_answer(worker.run_request(request, namespace, self.output_limit))
        finally:
            sys.stdout, sys.stderr = old

    def _confine(self) -> dict[str, str]:
        """Install the kernel layers this kernel has; say for each whether it is on, or why not."""
        report: dict[str, str] = {}
        if not sys.platform.startswith("linux"):
            return layers_module.all_off("not Linux")
        if _thread_count() != 1:
            return layers_module.all_off("the zygote is not single-threaded")
        arch = current_arch()
        if self.installer is None:
            return layers_module.all_off("no prctl in this C library")
        try:
            self.installer.no_new_privs()
            report["no_new_privs"] = "on"
        except SeccompUnavailableError as exc:
            return layers_module.all_off(f"prctl failed: {exc}")
        abi = abi_version()
        if abi < 1:
            report["landlock"] = "off: this kernel has no Landlock (or it is turned off)"
        else:
            ruleset = Ruleset(
                read=self.library_roots, write=[self.scratch, os.devnull], hidden=set(self.hidden_files)
            )
            try:
                rules = restrict(ruleset, abi)
                report["landlock"] = f"on: ABI {abi}, {rules} rules ({layers_module.landlock_scope(abi)})"
            except LandlockUnavailableError as exc:
                report["landlock"] = f"off: {exc}"
        if arch is None:
            report["seccomp"] = f"off: no syscall table for {os.uname().machine}"
            return report
        try:
            self.program_filter = self.installer.prepare(build(arch, Profile.PROGRAM))
            self.installer.install(build(arch, Profile.ZYGOTE).for_pid(0))
            report["seccomp"] = f"on: {arch.name}, zygote and per-program filters"
        except SeccompUnavailableError as exc:
            self.program_filter = None
            report["seccomp"] = f"off: {exc}"
        return report

    # -- serving ------------------------------------------------------------------------------

    def serve(self) -> None:
        hello = {"ready": True, "pid": self.pid, "dsl_error": self.dsl_error, "layers": self.layers}
        worker.write_raw_frame(
            self.out_fd, worker.ANSWER_PREFIX.pack(worker.HELLO_ID), worker.pack_hello(hello)
        )
        prefix = worker.REQUEST_PREFIX
        while True:
            if self.spare is None:
                self.spare = self._fork_child()  # forked and confined while no call waits on it
            frame = worker.read_raw_frame(self.in_fd)
            if frame is None or len(frame) < prefix.size:
                return
            (call_id, _, _) = prefix.unpack_from(frame)
            answer = self.run_one(frame)
            worker.write_raw_frame(self.out_fd, worker.ANSWER_PREFIX.pack(call_id), answer)

    def run_one(self, request: bytes) -> bytes:
        """Run one program (`request`: the pool's frame, prefix and body) in a fresh child, the
        spare one if ready; the answer body as the child wrote it (the pool checks it), or the
        zygote's own verdict."""
        (_, timeout, count) = worker.REQUEST_PREFIX.unpack_from(request)
        child, self.spare = self.spare or self._fork_child(), None
        # try/except, not contextlib.suppress, on the per-program path: its context-manager objects
        # are pages copied while a child shares them (about a dozen faults a program, measured).
        if _HAS_PRLIMIT:  # Linux; elsewhere the child sets it from the request
            try:
                resource.prlimit(child.pid, resource.RLIMIT_CPU, _cpu_limit(timeout))
            except (OSError, ValueError):
                pass
        try:
            worker.write_raw_frame(child.request_fd, request)
        except OSError:
            pass  # it died before its program: the answer below says so
        try:
            answer, state = self._read_answer(
                child.answer_fd, time.monotonic() + timeout + worker.CHILD_GRACE_S
            )
        finally:
            status = child.end()
        self._clean_scratch()
        if state == "owner gone":
            os._exit(0)
        if answer is not None:
            return answer
        if state == "late":
            error = worker.error("timeout", f"timed out after {timeout:g} s; its process was killed")
        else:
            error = worker.error("runtime", _crash_message(status))
        return worker.pack_answer([error] * count)

    def _fork_child(self) -> _Child:
        request_read, request_write = os.pipe()
        answer_read, answer_write = os.pipe()
        # Whatever the zygote made since is frozen too: a collection in the child then scans only the
        # child's own objects, instead of writing to (and so copying) the zygote's pages.
        gc.freeze()
        pid = os.fork()
        if pid == 0:
            os.close(request_write)
            os.close(answer_read)
            self._child(request_read, answer_write)
        os.close(request_read)
        os.close(answer_write)
        if self.limit_processes and _HAS_PRLIMIT:
            # No processes (where the kernel applies it: not for root), set before its request goes.
            try:
                resource.prlimit(pid, resource.RLIMIT_NPROC, (0, 0))
            except (OSError, ValueError):
                pass
        return _Child(pid, request_write, answer_read)

    def _read_answer(self, fd: int, deadline: float) -> tuple[bytes | None, str]:
        """The child's answer frame body, and how reading ended: "ok", "late", "eof" or "owner gone"."""
        header, state = self._read_exactly(fd, worker.FRAME_HEADER.size, deadline)
        if header is None:
            return None, state
        (size,) = worker.FRAME_HEADER.unpack(header)
        if size > worker.MAX_ANSWER_BYTES:
            return None, "eof"
        return self._read_exactly(fd, size, deadline)

    def _read_exactly(self, fd: int, size: int, deadline: float) -> tuple[bytes | None, str]:
        """`size` bytes from `fd` (exact reads: no large buffers), or None and why not."""
        buffer = b""
        watched = [fd, self.in_fd]
        while len(buffer) < size:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None, "late"
            readable, _, _ = select.select(watched, [], [], remaining)
            if self.in_fd in readable:
                return None, "owner gone"  # the pool sends nothing while a call runs: EOF
            if readable:
                chunk = os.read(fd, size - len(buffer))
                if not chunk:
                    return None, "eof"
                buffer += chunk
        return buffer, "ok"

    def _clean_scratch(self) -> None:
        """Empty the scratch folder, by absolute paths (the zygote's filter forbids dir_fd calls,
        which shutil.rmtree uses)."""
        try:
            if not os.listdir(self.scratch):
                return  # the usual case, and the cheap one
        except OSError:
            return
        with contextlib.suppress(OSError):
            for root, folders, files in os.walk(self.scratch, topdown=False):
                for name in files:
                    with contextlib.suppress(OSError):
                        os.remove(os.path.join(root, name))
                for name in folders:
                    path = os.path.join(root, name)
                    with contextlib.suppress(OSError):
                        if os.path.islink(path):
                            os.remove(path)
                        else:
                            os.rmdir(path)

    # -- the program's process ----------------------------------------------------------------

    def _child(self, request_fd: int, answer_fd: int) -> NoReturn:
        """Confine this fresh process, wait for its one request, run it, answer, exit."""
        code = CHILD_FAILED
        try:
            if self.die_with_zygote is not None:
                self.die_with_zygote()
            if os.getppid() != self.pid:
                os._exit(CHILD_FAILED)  # the zygote died between fork and here
            low, high = sorted((request_fd, answer_fd))
            os.closerange(3, low)  # the zygote's channel to the pool among them
            os.closerange(low + 1, high)
            os.closerange(high + 1, 1 << 16)
            if self.limit_processes and not _HAS_PRLIMIT:  # else the zygote sets it
                with contextlib.suppress(ValueError, OSError):
                    resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))  # here: the zygote must fork
            if self.installer is not None and self.program_filter is not None:
                self.program_filter.install(os.getpid())
            self.policy.arm({request_fd, answer_fd})
            request = worker.read_raw_frame(request_fd)  # parsed here, in the program's process
            if request is not None and len(request) >= worker.REQUEST_PREFIX.size:
                (_, timeout, _) = worker.REQUEST_PREFIX.unpack_from(request)
                if not _HAS_PRLIMIT:
                    with contextlib.suppress(ValueError, OSError):
                        resource.setrlimit(resource.RLIMIT_CPU, _cpu_limit(timeout))
                # The zygote's own globals, not a copy: this process is the program's alone, and a
                # copy would touch (and so copy the pages of) every DSL function.
                answer = worker.run_request(request, self.namespace, self.output_limit)
                sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
                worker.write_raw_frame(answer_fd, answer)
                code = 0
        except BaseException:  # a crash here must never return into the zygote's loop
            code = CHILD_FAILED
        finally:
            os._exit(code)

    def _set_limits(self) -> None:
        """The limits every program's process inherits (they bind the zygote too, which needs far
        less); the CPU limit is set per call, and RLIMIT_NPROC in the child."""
        limits = [
            (resource.RLIMIT_CORE, 0),
            (resource.RLIMIT_FSIZE, self.file_limit),
            (resource.RLIMIT_NOFILE, MAX_OPEN_FILES),
        ]
        if self.address_space is not None:
            limits.append((resource.RLIMIT_AS, self.address_space + self.memory_mb * 1024 * 1024))
        for which, value in limits:
            # Where one is not supported (RLIMIT_AS on macOS), the others still hold.
            with contextlib.suppress(ValueError, OSError):
                resource.setrlimit(which, (value, value))


@dataclass
class _Child:
    """One program's process, seen from the zygote: its pid and its two pipes."""

    pid: int
    request_fd: int
    answer_fd: int

    def end(self) -> int:
        """SIGKILL it, done or not (nothing it started may linger), reap it; its wait status."""
        for fd in (self.request_fd, self.answer_fd):
            try:
                os.close(fd)
            except OSError:
                pass
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        _, status = os.waitpid(self.pid, 0)
        return status


_WARM_UP = """
def solve(grid):
    flipped = np.rot90(np.flipud(np.fliplr(grid.T)), 2)
    colours, counts = np.unique(flipped, return_counts=True)
    mask = (flipped == colours[np.argmax(counts)]) | np.isin(flipped, [1, 2])
    out = np.where(mask, 0, flipped)
    out = np.pad(np.tile(out, (1, 2)), 1)[1:-1, 1:-1]
    return np.array(sorted(out.tolist(), key=sum)).astype(int).copy()
"""


def _cpu_limit(timeout: float) -> tuple[int, int]:
    """A program's CPU rlimit: SIGXCPU (a ProgramTimeout) past its timeout, SIGKILL a second later."""
    soft = int(timeout) + 2
    return soft, soft + 1


def _crash_message(status: int) -> str:
    if os.WIFSIGNALED(status):
        signum = os.WTERMSIG(status)
        if signum == signal.SIGXCPU:
            return "the program used up its CPU time and was killed"
        name = signal.Signals(signum).name if signum in signal.Signals._value2member_map_ else str(signum)
        return f"the program crashed its worker (signal {name})"
    code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else -1
    if code == CHILD_FAILED:
        return "the sandbox could not confine the program's process (the program did not run)"
    return f"the program crashed its worker (exit code {code})"


def _address_space_bytes() -> int | None:
    try:
        with open("/proc/self/statm", encoding="ascii") as handle:
            pages = int(handle.read().split()[0])
        return pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def _thread_count() -> int:
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return 0  # unknown: the kernel layers are then not installed


def _module_files(names: frozenset[str]) -> list[str]:
    """Where the refused modules' files are (without importing them), so they can be hidden."""
    files: list[str] = []
    for name in sorted(names):
        if "." in name:
            continue  # a submodule lives inside its package, found via the package's path below
        try:
            spec = importlib.machinery.PathFinder.find_spec(name)
        except (ImportError, ValueError):
            spec = None
        if spec is None:
            continue
        if spec.origin and os.path.exists(spec.origin):
            files.append(os.path.realpath(spec.origin))
        for location in spec.submodule_search_locations or ():
            files.append(os.path.realpath(location))
    interpreters = os.path.join(os.path.dirname(os.path.realpath(os.__file__)), "concurrent", "interpreters")
    if os.path.exists(interpreters):
        files.append(interpreters)
    return sorted(set(files))


def _library_roots(scratch: str) -> list[str]:
    """The folders programs may read: the import path, the folders of every module and shared
    library this process has loaded. Not the home folder, /etc or /proc."""
    paths: list[str] = [p for p in sys.path if p and os.path.isabs(p)]
    for module in list(sys.modules.values()):
        location = getattr(module, "__file__", None)
        if isinstance(location, str) and os.path.isabs(location):
            paths.append(os.path.dirname(location))
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                parts = line.split(maxsplit=5)
                if len(parts) == 6 and parts[5].startswith("/"):
                    paths.append(os.path.dirname(parts[5].strip().removesuffix(" (deleted)")))
    except OSError:
        pass
    roots = minimal_roots(paths)
    # Never a folder that holds the scratch folder (or "/"): that would grant far too much.
    return [r for r in roots if r != os.sep and not scratch.startswith(r.rstrip(os.sep) + os.sep)]


def main(config_json: str) -> None:
    zygote = Zygote(json.loads(config_json))
    zygote.setup()
    zygote.serve()


if __name__ == "__main__":
    main(sys.argv[1])
