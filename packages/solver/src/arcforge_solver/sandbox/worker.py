"""One sandbox worker process: runs untrusted `def solve(grid)` programs for `arcforge_solver.sandbox.pool`.

Started as `python -m arcforge_solver.sandbox.worker CONFIG_JSON`. It speaks length-prefixed JSON
frames over its stdin/stdout (moved to private descriptors; fds 0-2 then point at /dev/null, so a
program's prints and C-level writes cannot reach the channel). JSON, not pickle, so that nothing a
program does in here can run code in the parent.

The limits, from the outside in:
- the parent's wall clock: a call that overruns its timeout plus a grace period gets the whole
  process group killed (SIGKILL) and the worker replaced;
- interval timers (ITIMER_REAL for wall time, ITIMER_PROF for CPU time) raise `ProgramTimeout`,
  a BaseException, inside the program, so ordinary loops end without losing the worker;
- rlimits: RLIMIT_AS (memory: the baseline after imports plus `memory_mb`), RLIMIT_CPU (a lifetime
  backstop; the parent recycles workers before it is reached), RLIMIT_FSIZE (files), RLIMIT_CORE 0,
  RLIMIT_NPROC 0 (no new processes or threads where the kernel applies it: not for root);
- an audit hook (PEP 578), armed for the rest of the process's life once set-up is done: no
  processes (fork, exec, spawn, system, subprocess), no sockets, no ctypes, no signals to others,
  no rlimit changes, no cwd change, no links, and file writes only inside the scratch folder;
- stdout and stderr are captured and bounded: printing past the bound stops the program.

This contains careless or runaway code (what LLMs write); it is not a boundary against a determined
attacker who knows CPython internals. Run the whole solver in a container for that.
"""

from __future__ import annotations

import builtins
import contextlib
import importlib
import json
import os
import resource
import shutil
import signal
import struct
import sys
import threading
import traceback
from typing import Any

import numpy

from arcforge_solver.runtime.workers import exit_with_parent, ignore_interrupts

FRAME_HEADER = struct.Struct(">I")
MAX_REQUEST_BYTES = 64 * 1024 * 1024
MAX_MESSAGE_CHARS = 600
MAX_SIDE = 30

_DENIED_EVENTS = frozenset(
    {
        "os.system",
        "os.exec",
        "os.posix_spawn",
        "os.spawn",
        "os.fork",
        "os.forkpty",
        "os.kill",
        "os.killpg",
        "os.startfile",
        "os.chdir",
        "os.chroot",
        "os.link",
        "os.symlink",
        "os.setuid",
        "os.setgid",
        "subprocess.Popen",
        "pty.spawn",
        "signal.pthread_kill",
        "resource.setrlimit",
        "resource.prlimit",
        "gc.get_objects",
        "gc.get_referrers",
        "gc.get_referents",
        "sys.settrace",
        "sys.setprofile",
        "webbrowser.open",
        "urllib.Request",
        "_posixsubprocess.fork_exec",
        "os.fchdir",
        "os.truncate",
    }
)
_DENIED_PREFIXES = (
    "socket.",
    "ctypes.",
    "http.",
    "ftplib.",
    "smtplib.",
    "imaplib.",
    "poplib.",
    "telnetlib.",
    "nntplib.",
)
# Events whose arguments name paths that may be changed only inside the scratch folder.
_PATH_EVENTS = {
    "os.remove": (0,),
    "os.rmdir": (0,),
    "os.mkdir": (0,),
    "os.rename": (0, 1),
    "os.chmod": (0,),
    "os.chown": (0,),
    "os.utime": (0,),
    "shutil.rmtree": (0,),
    "shutil.copyfile": (1,),
    "shutil.copytree": (1,),
    "shutil.move": (0, 1),
    "os.setxattr": (0,),
    "os.removexattr": (0,),
    "os.mkfifo": (0,),
    "os.mknod": (0,),
}
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


class ProgramTimeout(BaseException):
    """Raised inside a program by the interval timers; a BaseException so `except Exception` misses it."""


class OutputLimitError(Exception):
    pass


class BoundedOutput:
    """sys.stdout / sys.stderr for programs: keeps the first bytes, stops the program past the bound."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.parts: list[str] = []
        self.size = 0

    def write(self, text: str) -> int:
        text = str(text)
        room = self.limit - self.size
        if room > 0:
            self.parts.append(text[:room])
        self.size += len(text)
        if self.size > self.limit:
            raise OutputLimitError(f"printed more than {self.limit} characters")
        return len(text)

    def flush(self) -> None:
        return None

    def isatty(self) -> bool:
        return False

    def take(self) -> tuple[str, int]:
        text, size = "".join(self.parts), self.size
        self.parts, self.size = [], 0
        return text, size


class Policy:
    """The audit hook: what a program may not do in here."""

    def __init__(self, scratch: str, private_fds: set[int]) -> None:
        self.scratch = os.path.realpath(scratch)
        self.private_fds = private_fds

    def inside_scratch(self, path: Any, absolute_only: bool = False) -> bool:
        if isinstance(path, int):
            return path not in self.private_fds
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        if not isinstance(path, str):
            return False
        if absolute_only and not os.path.isabs(path):
            return False  # os.open may be relative to an unseen dir_fd
        full = os.path.normpath(os.path.join(self.scratch, path))  # pure string work: no audited calls
        return full == self.scratch or full.startswith(self.scratch + os.sep)

    def __call__(self, event: str, args: tuple[Any, ...]) -> None:
        if event == "open":
            path, mode, flags = (*tuple(args), None, None, None)[:3]
            if isinstance(path, int) and path in self.private_fds:
                raise PermissionError("sandbox: the worker's channel is off limits")
            if mode is None:  # os.open: flags tell whether it writes
                if (
                    isinstance(flags, int)
                    and flags & _WRITE_FLAGS
                    and not self.inside_scratch(path, absolute_only=True)
                ):
                    raise PermissionError(
                        f"sandbox: writing {path!r} outside the scratch folder is not allowed"
                    )
            elif isinstance(mode, str) and any(c in mode for c in "wax+") and not self.inside_scratch(path):
                raise PermissionError(f"sandbox: writing {path!r} outside the scratch folder is not allowed")
            return
        if event in _DENIED_EVENTS or event.startswith(_DENIED_PREFIXES):
            raise PermissionError(f"sandbox: {event} is not allowed")
        positions = _PATH_EVENTS.get(event)
        if positions is not None:
            for index in positions:
                if index < len(args) and not self.inside_scratch(args[index]):
                    raise PermissionError(f"sandbox: {event} outside the scratch folder is not allowed")


def read_exact(fd: int, size: int) -> bytes | None:
    chunks: list[bytes] = []
    while size:
        chunk = os.read(fd, size)
        if not chunk:
            return None
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def read_frame(fd: int) -> Any:
    header = read_exact(fd, FRAME_HEADER.size)
    if header is None:
        return None
    (size,) = FRAME_HEADER.unpack(header)
    if size > MAX_REQUEST_BYTES:
        return None
    body = read_exact(fd, size)
    return None if body is None else json.loads(body)


def write_frame(fd: int, value: Any) -> None:
    body = json.dumps(value, separators=(",", ":")).encode()
    data = FRAME_HEADER.pack(len(body)) + body
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _short(text: str) -> str:
    return text if len(text) <= MAX_MESSAGE_CHARS else text[: MAX_MESSAGE_CHARS - 1] + "…"


def _describe(exc: BaseException) -> str:
    detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    return _short(detail or type(exc).__name__)


def check_output(value: Any, np: Any) -> tuple[list[list[int]] | None, str | None]:
    """The program's return value as a JSON grid, or why it is not a valid grid."""
    if isinstance(value, (str, bytes, dict, set)) or value is None:
        return None, f"solve returned {type(value).__name__}, not a grid"
    try:
        shape = np.shape(value)
    except Exception:
        return None, "solve returned a ragged sequence, not a rectangular grid"
    if len(shape) != 2:
        return None, f"solve returned an object of shape {shape}, not a 2-D grid"
    if not (1 <= shape[0] <= MAX_SIDE and 1 <= shape[1] <= MAX_SIDE):
        return None, f"solve returned a {shape[0]}x{shape[1]} grid; sides must be 1-{MAX_SIDE}"
    try:
        array = np.asarray(value)
    except Exception:
        return None, "solve returned something that is not an array of numbers"
    if array.dtype == np.bool_ or not (
        np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)
    ):
        return None, f"solve returned cells of type {array.dtype}; colours are integers 0-9"
    if np.issubdtype(array.dtype, np.floating) and not np.all(
        np.isfinite(array) & (array == np.round(array))
    ):
        return None, "solve returned non-integer cells; colours are integers 0-9"
    if array.min() < 0 or array.max() > 9:
        return None, f"solve returned colours {int(array.min())}..{int(array.max())}; colours are 0-9"
    return array.astype(np.int64).tolist(), None


class Worker:
    def __init__(self, config: dict[str, Any]) -> None:
        self.scratch = config["scratch"]
        self.memory_mb = int(config["memory_mb"])
        self.output_limit = int(config["output_limit"])
        self.file_limit = int(config["file_limit_bytes"])
        self.cpu_lifetime_s = int(config["cpu_lifetime_s"])
        self.parent_pid = os.getppid()
        self.np: Any = None
        self.dsl_names: dict[str, Any] = {}
        self.dsl_error: str | None = None
        self.code_cache: dict[str, Any] = {}
        self.stdout = BoundedOutput(self.output_limit)
        self.in_fd = self.out_fd = -1
        self.own_threads = 0

    def setup(self) -> None:
        # Private copies of the channel; fds 0-2 go to /dev/null so programs cannot write into it.
        self.in_fd, self.out_fd = os.dup(0), os.dup(1)
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.close(null)
        self.np = numpy
        try:  # the DSL ships with the solver; guarded so the sandbox works without it
            dsl = importlib.import_module("arcforge_solver.dsl")

            exported = getattr(dsl, "__all__", None) or [n for n in vars(dsl) if not n.startswith("_")]
            self.dsl_names = {name: getattr(dsl, name) for name in exported if hasattr(dsl, name)}
        except Exception as exc:
            self.dsl_error = f"{type(exc).__name__}: {exc}"
        os.chdir(self.scratch)
        # Started before RLIMIT_NPROC forbids new threads.
        exit_with_parent(self.parent_pid, code=0)  # orphaned: the pool is gone
        self.own_threads = self._thread_count()
        signal.signal(signal.SIGALRM, self._on_timer)
        signal.signal(signal.SIGPROF, self._on_timer)
        signal.signal(signal.SIGXCPU, self._on_timer)
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past RLIMIT_FSIZE fail with EFBIG instead
        ignore_interrupts()
        self._set_limits()
        sys.addaudithook(Policy(self.scratch, {self.in_fd, self.out_fd}))

    def _set_limits(self) -> None:
        baseline = self._address_space_bytes()
        limits = [
            (resource.RLIMIT_CORE, 0),
            (resource.RLIMIT_FSIZE, self.file_limit),
            (resource.RLIMIT_NPROC, 0),
        ]
        if baseline is not None:
            limits.append((resource.RLIMIT_AS, baseline + self.memory_mb * 1024 * 1024))
        for which, value in limits:
            # Where one is not supported (RLIMIT_AS on macOS), the others still hold.
            with contextlib.suppress(ValueError, OSError):
                resource.setrlimit(which, (value, value))
        used = resource.getrusage(resource.RUSAGE_SELF)
        cpu_now = int(used.ru_utime + used.ru_stime) + 1
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(
                resource.RLIMIT_CPU, (cpu_now + self.cpu_lifetime_s, cpu_now + self.cpu_lifetime_s + 5)
            )

    @staticmethod
    def _address_space_bytes() -> int | None:
        try:
            with open("/proc/self/statm", encoding="ascii") as handle:
                pages = int(handle.read().split()[0])
            return pages * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, IndexError):
            return None

    def _on_timer(self, signum: int, frame: Any) -> None:
        raise ProgramTimeout("timeout")

    @staticmethod
    def _arm(seconds: float) -> None:
        # A repeating timer: a program that swallows the first ProgramTimeout gets another.
        signal.setitimer(signal.ITIMER_REAL, seconds, 0.05)
        signal.setitimer(signal.ITIMER_PROF, seconds, 0.05)

    @staticmethod
    def _disarm() -> None:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.setitimer(signal.ITIMER_PROF, 0)

    def serve(self) -> None:
        hello = {"ready": True, "pid": os.getpid(), "dsl_error": self.dsl_error, "threads": self.own_threads}
        write_frame(self.out_fd, hello)
        while True:
            request = read_frame(self.in_fd)
            if request is None:
                return
            try:
                response = self.handle(request)
            except ProgramTimeout:  # fired in our own code between program steps
                self._disarm()
                response = {
                    "id": request.get("id"),
                    "results": [_error("timeout", "timed out")] * len(request["grids"]),
                }
            response["cpu_s"] = self._cpu_seconds()
            response["threads"] = self._thread_count()
            write_frame(self.out_fd, response)
            self._clean_scratch()

    @staticmethod
    def _thread_count() -> int:
        """OS threads of this process: more than ours means a program left a thread running."""
        try:
            return len(os.listdir("/proc/self/task"))
        except OSError:
            return threading.active_count()

    def _cpu_seconds(self) -> float:
        used = resource.getrusage(resource.RUSAGE_SELF)
        return round(used.ru_utime + used.ru_stime, 3)

    def _clean_scratch(self) -> None:
        try:
            for entry in os.scandir(self.scratch):
                if entry.is_dir(follow_symlinks=False):
                    shutil.rmtree(entry.path, ignore_errors=True)
                else:
                    os.remove(entry.path)
        except OSError:
            pass

    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        np = self.np
        grids = request["grids"]
        timeout = float(request["timeout"])
        results: list[dict[str, Any]] = []
        source = request["source"]
        code = self.code_cache.get(source)
        if code is None:
            try:
                code = compile(source, "<program>", "exec")
            except (SyntaxError, ValueError) as exc:
                return {"id": request["id"], "results": [_error("syntax", _describe(exc))] * len(grids)}
            if len(self.code_cache) > 256:
                self.code_cache.clear()
            self.code_cache[source] = code
        namespace: dict[str, Any] = {
            "__name__": "__program__",
            "__builtins__": builtins,
            "np": np,
            "numpy": np,
        }
        namespace.update(self.dsl_names)
        old_out, old_err = sys.stdout, sys.stderr
        sys.stdout = sys.stderr = self.stdout
        self._arm(timeout)
        try:
            try:
                exec(code, namespace)
            except ProgramTimeout:
                return self._finish(
                    request, [_error("timeout", f"defining the program took over {timeout:g} s")] * len(grids)
                )
            except MemoryError as exc:
                return self._finish(request, [_error("memory", _describe(exc))] * len(grids))
            except BaseException as exc:
                return self._finish(
                    request, [_error("runtime", "at module level: " + _describe(exc))] * len(grids)
                )
            solve = namespace.get("solve")
            if not callable(solve):
                return self._finish(
                    request, [_error("syntax", "the program defines no solve(grid) function")] * len(grids)
                )
            for index, grid in enumerate(grids):
                try:
                    value = solve(np.array(grid, dtype=np.int8))
                    output, problem = check_output(value, np)
                except ProgramTimeout:
                    message = f"timed out after {timeout:g} s"
                    results.extend([_error("timeout", message)] * (len(grids) - index))
                    break
                except MemoryError as exc:
                    results.append(_error("memory", _describe(exc)))
                    continue
                except (
                    BaseException
                ) as exc:  # SystemExit, KeyboardInterrupt and RecursionError are program faults too
                    results.append(_error("runtime", _describe(exc)))
                    continue
                results.append({"output": output} if problem is None else _error("invalid_output", problem))
            return self._finish(request, results)
        finally:
            self._disarm()
            sys.stdout, sys.stderr = old_out, old_err

    def _finish(self, request: dict[str, Any], results: list[dict[str, Any]]) -> dict[str, Any]:
        self._disarm()
        text, size = self.stdout.take()
        return {"id": request["id"], "results": results, "stdout": text[:4096], "stdout_chars": size}


def _error(kind: str, message: str) -> dict[str, Any]:
    return {"output": None, "error": {"kind": kind, "message": message}}


def main() -> None:
    config = json.loads(sys.argv[1])
    worker = Worker(config)
    worker.setup()
    worker.serve()


if __name__ == "__main__":
    main()
