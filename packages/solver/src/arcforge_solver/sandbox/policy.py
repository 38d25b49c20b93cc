"""The audit hook (PEP 578) armed in each program's process: the Python-level layer of the sandbox.

It turns what a program may not do into a clear `PermissionError` naming the operation, before
the kernel layers (`seccomp`, `landlock`) would refuse it with a bare EPERM, and it is what holds
on a kernel that lacks them. No processes, sockets, ctypes, signals to others, rlimit changes, cwd
changes or links; reads only beneath the library paths and the scratch folder; writes only inside
the scratch folder, `dir_fd=` forms included; no import of a module that runs code outside the
hooks (`REFUSED_MODULES`).

An audit hook alone is not a boundary (a subinterpreter has no hooks, and C code can do anything):
it is one layer of several.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

REFUSED_MODULES = frozenset(
    {
        # subinterpreters: code run in them has no audit hooks (3.11-3.12, 3.13+ and 3.14 names)
        "_xxsubinterpreters",
        "_interpreters",
        "_xxinterpchannels",
        "_interpchannels",
        "_xxinterpqueues",
        "_interpqueues",
        "concurrent.interpreters",
        "interpreters",
        # CPython's test modules: run_in_subinterp, raw memory and audit-hook internals
        "_testcapi",
        "_testinternalcapi",
        "_testmultiphase",
        "_testsinglephase",
        "_testimportmultiple",
        "_testclinic",
        "_testlimitedcapi",
        "_testbuffer",
        "_ctypes_test",
        "_xxtestfuzz",
        "_testexternalinspection",
        "_remote_debugging",
        # calls into C with no audit events at all
        "_cffi_backend",
        "cffi",
    }
)
"""Modules a program may not import, in any way (import statement, importlib, a hand-made spec,
`_imp.create_dynamic`): each of these runs code or system calls that the hook does not see."""

DENIED_EVENTS = frozenset(
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
        "os.fchdir",
        "os.chroot",
        "os.link",
        "os.symlink",
        "os.setuid",
        "os.setgid",
        "os.truncate",
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
    }
)
DENIED_PREFIXES = (
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
# Events whose arguments name paths that may be changed only inside the scratch folder, and the
# positions of their dir_fd arguments (-1 when none was given).
PATH_EVENTS: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    "os.remove": ((0,), (1,)),
    "os.rmdir": ((0,), (1,)),
    "os.mkdir": ((0,), (2,)),
    "os.rename": ((0, 1), (2, 3)),
    "os.chmod": ((0,), (2,)),
    "os.chown": ((0,), (3,)),
    "os.utime": ((0,), (3,)),
    "os.mkfifo": ((0,), (2,)),
    "os.mknod": ((0,), (3,)),
    "os.setxattr": ((0,), ()),
    "os.removexattr": ((0,), ()),
    "shutil.rmtree": ((0,), ()),
    "shutil.copyfile": ((1,), ()),
    "shutil.copytree": ((1,), ()),
    "shutil.move": ((0, 1), ()),
}
LISTING_EVENTS = ("os.listdir", "os.scandir")
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


def refused(module: Any) -> bool:
    name = module if isinstance(module, str) else ""
    return any(name == m or name.startswith(m + ".") for m in REFUSED_MODULES)


class Policy:
    """The hook: `sys.addaudithook(Policy(scratch, private_fds, library_roots, hidden_files))`.

    Added once in the zygote, disarmed (the zygote forks and reads its channel); each program's
    process arms it with `arm()` before the program runs."""

    def __init__(
        self,
        scratch: str,
        private_fds: Iterable[int],
        library_roots: Iterable[str] = (),
        hidden_files: Iterable[str] = (),
    ) -> None:
        self.scratch = os.path.realpath(scratch)
        self.private_fds = frozenset(private_fds)
        roots = [self.scratch, *library_roots, os.devnull, "/dev/urandom", "/dev/zero"]
        self.readable = tuple(dict.fromkeys(os.path.normpath(r) for r in roots))
        self.hidden = frozenset(os.path.normpath(h) for h in hidden_files)
        self.check_reads = bool(library_roots)
        self.armed = True

    def arm(self, private_fds: Iterable[int]) -> None:
        self.private_fds = frozenset(private_fds)
        self.armed = True

    def _full(self, path: Any) -> str | None:
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        if not isinstance(path, str):
            return None
        return os.path.normpath(os.path.join(self.scratch, path))  # pure string work: no audited calls

    @staticmethod
    def _beneath(full: str, root: str) -> bool:
        return full == root or full.startswith(root.rstrip(os.sep) + os.sep)

    def inside_scratch(self, path: Any, absolute_only: bool = False) -> bool:
        if isinstance(path, int):
            return path not in self.private_fds
        if absolute_only and isinstance(path, (str, bytes)) and not os.path.isabs(path):
            return False  # os.open may be relative to an unseen dir_fd
        full = self._full(path)
        return full is not None and self._beneath(full, self.scratch)

    def readable_path(self, path: Any, absolute_only: bool = False) -> bool:
        if isinstance(path, int):
            return path not in self.private_fds
        if absolute_only and isinstance(path, (str, bytes)) and not os.path.isabs(path):
            return False
        full = self._full(path)
        if full is None or full in self.hidden:
            return False
        return not self.check_reads or any(self._beneath(full, root) for root in self.readable)

    def __call__(self, event: str, args: tuple[Any, ...]) -> None:
        if not self.armed:
            return
        if event == "open":
            self._check_open(*(*tuple(args), None, None, None)[:3])
            return
        if event == "import":
            if args and refused(args[0]):
                raise PermissionError(f"sandbox: importing {args[0]} is not allowed")
            return
        if event in DENIED_EVENTS or event.startswith(DENIED_PREFIXES):
            raise PermissionError(f"sandbox: {event} is not allowed")
        if event in LISTING_EVENTS:
            if args and args[0] is not None and not self.readable_path(args[0]):
                raise PermissionError(f"sandbox: listing {args[0]!r} is not allowed")
            return
        spec = PATH_EVENTS.get(event)
        if spec is not None:
            paths, dir_fds = spec
            for index in dir_fds:
                if index < len(args) and args[index] not in (None, -1):
                    raise PermissionError(f"sandbox: {event} with dir_fd is not allowed")
            for index in paths:
                if index < len(args) and not self.inside_scratch(args[index]):
                    raise PermissionError(f"sandbox: {event} outside the scratch folder is not allowed")

    def _check_open(self, path: Any, mode: Any, flags: Any) -> None:
        if isinstance(path, int) and path in self.private_fds:
            raise PermissionError("sandbox: the worker's channel is off limits")
        if mode is None:  # os.open: flags tell whether it writes; a relative path may hide a dir_fd
            writes = isinstance(flags, int) and bool(flags & WRITE_FLAGS)
            if writes and not self.inside_scratch(path, absolute_only=True):
                raise PermissionError(f"sandbox: writing {path!r} outside the scratch folder is not allowed")
            if not self.readable_path(path, absolute_only=True):
                raise PermissionError(f"sandbox: reading {path!r} is not allowed")
            return
        if isinstance(mode, str) and any(c in mode for c in "wax+") and not self.inside_scratch(path):
            raise PermissionError(f"sandbox: writing {path!r} outside the scratch folder is not allowed")
        if not self.readable_path(path):
            raise PermissionError(f"sandbox: reading {path!r} is not allowed")
