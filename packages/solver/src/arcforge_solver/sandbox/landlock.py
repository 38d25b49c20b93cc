"""Landlock for the sandbox: the file system a zygote and its programs may touch, enforced by the kernel.

A ruleset that handles every access right this kernel's Landlock ABI knows, so that anything not
granted is denied: read-only (files and listings) beneath the library paths, read-write beneath the
scratch folder, nothing else (no /proc, no /etc, no home folder). On ABI 4 and up it also denies
TCP bind and connect; on ABI 6 and up it scopes signals and abstract unix sockets to the domain, so
a sandboxed process cannot signal the pool or anything outside its zygote.

Files that must not be loaded at all (extension modules that run code outside the audit hooks, such
as `_xxsubinterpreters`) are carved out: a library folder that holds one is granted entry by entry,
everything but that file, so the dynamic loader cannot read it.

The calls (landlock_create_ruleset/add_rule/restrict_self, numbers 444-446 on every architecture)
go through libc's `syscall`; constants are those of `linux/landlock.h`. Landlock needs
no_new_privs (set by `sandbox.seccomp`) and restricts the calling thread only, so the zygote
installs it while it is still single-threaded.
"""

from __future__ import annotations

import ctypes
import errno
import os
import stat
import struct
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field

SYS_CREATE_RULESET = 444
SYS_ADD_RULE = 445
SYS_RESTRICT_SELF = 446
CREATE_RULESET_VERSION = 1 << 0
RULE_PATH_BENEATH = 1

FS_EXECUTE = 1 << 0
FS_WRITE_FILE = 1 << 1
FS_READ_FILE = 1 << 2
FS_READ_DIR = 1 << 3
FS_REMOVE_DIR = 1 << 4
FS_REMOVE_FILE = 1 << 5
FS_MAKE_CHAR = 1 << 6
FS_MAKE_DIR = 1 << 7
FS_MAKE_REG = 1 << 8
FS_MAKE_SOCK = 1 << 9
FS_MAKE_FIFO = 1 << 10
FS_MAKE_BLOCK = 1 << 11
FS_MAKE_SYM = 1 << 12
FS_REFER = 1 << 13  # ABI 2
FS_TRUNCATE = 1 << 14  # ABI 3
FS_IOCTL_DEV = 1 << 15  # ABI 5
NET_BIND_TCP = 1 << 0  # ABI 4
NET_CONNECT_TCP = 1 << 1  # ABI 4
SCOPE_ABSTRACT_UNIX_SOCKET = 1 << 0  # ABI 6
SCOPE_SIGNAL = 1 << 1  # ABI 6

_FS_V1 = (1 << 13) - 1
_FILE_RIGHTS = FS_EXECUTE | FS_WRITE_FILE | FS_READ_FILE | FS_TRUNCATE | FS_IOCTL_DEV
"""The rights that apply to a file itself (the rest are about a folder's entries)."""
READ = FS_READ_FILE | FS_READ_DIR
WRITE = (
    READ | FS_WRITE_FILE | FS_REMOVE_DIR | FS_REMOVE_FILE | FS_MAKE_DIR | FS_MAKE_REG | FS_REFER | FS_TRUNCATE
)
"""Scratch: files and folders may be made, changed, renamed and removed; no devices, fifos,
sockets or symlinks, no execution."""


class LandlockUnavailableError(OSError):
    """This kernel has no Landlock, or it is turned off, or the ruleset could not be applied."""


def handled_fs(abi: int) -> int:
    rights = _FS_V1
    if abi >= 2:
        rights |= FS_REFER
    if abi >= 3:
        rights |= FS_TRUNCATE
    if abi >= 5:
        rights |= FS_IOCTL_DEV
    return rights


def _syscall() -> ctypes._CFuncPtr:  # type: ignore[name-defined]
    function = ctypes.CDLL(None, use_errno=True).syscall
    function.restype = ctypes.c_long
    return function


def abi_version() -> int:
    """The highest Landlock ABI this kernel supports; 0 where there is none (or it is turned off)."""
    if not sys.platform.startswith("linux"):
        return 0  # the syscall numbers below are Linux's
    try:
        syscall = _syscall()
    except (OSError, AttributeError):
        return 0
    version = int(syscall(ctypes.c_long(SYS_CREATE_RULESET), None, ctypes.c_size_t(0), ctypes.c_uint32(1)))
    return max(0, version)


@dataclass
class Ruleset:
    """What a sandboxed process may reach: read-only trees, read-write trees, and exact files that
    must stay unreadable even beneath a read-only tree."""

    read: list[str] = field(default_factory=list)
    write: list[str] = field(default_factory=list)
    hidden: set[str] = field(default_factory=set)

    def rules(self) -> list[tuple[str, int]]:
        """(path, rights) pairs to add: `read` and `write` trees, with each tree that holds a hidden
        file split into its entries (the folders on the way get listing rights only)."""
        out: list[tuple[str, int]] = [(path, WRITE) for path in self.write]
        for root in self.read:
            out.extend(self._grant(root))
        return out

    def _grant(self, path: str) -> list[tuple[str, int]]:
        if path in self.hidden:
            return []
        if not any(h.startswith(path + os.sep) for h in self.hidden):
            return [(path, READ)]
        rules = [(path, FS_READ_DIR)]
        try:
            entries = sorted(os.scandir(path), key=lambda e: e.name)
        except OSError:
            return rules
        for entry in entries:
            rules.extend(self._grant(entry.path))
        return rules


def restrict(ruleset: Ruleset, abi: int) -> int:
    """Apply `ruleset` to this thread (and every process it forks from now on). Returns the number
    of rules added. Raises LandlockUnavailableError when the kernel refuses."""
    if abi < 1:
        raise LandlockUnavailableError(errno.ENOSYS, "this kernel has no Landlock")
    syscall = _syscall()
    handled = handled_fs(abi)
    attr_fields = [handled]
    if abi >= 4:
        attr_fields.append(NET_BIND_TCP | NET_CONNECT_TCP)
    if abi >= 6:
        attr_fields.append(SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL)
    attr = ctypes.create_string_buffer(struct.pack(f"={len(attr_fields)}Q", *attr_fields))
    ruleset_fd = int(
        syscall(ctypes.c_long(SYS_CREATE_RULESET), attr, ctypes.c_size_t(len(attr.raw)), ctypes.c_uint32(0))
    )
    if ruleset_fd < 0:
        code = ctypes.get_errno()
        raise LandlockUnavailableError(code, f"landlock_create_ruleset: {os.strerror(code)}")
    added = 0
    try:
        for path, rights in ruleset.rules():
            added += _add_path_rule(syscall, ruleset_fd, path, rights & handled)
        if int(syscall(ctypes.c_long(SYS_RESTRICT_SELF), ctypes.c_int(ruleset_fd), ctypes.c_uint32(0))) < 0:
            code = ctypes.get_errno()
            raise LandlockUnavailableError(code, f"landlock_restrict_self: {os.strerror(code)}")
    finally:
        os.close(ruleset_fd)
    return added


def _add_path_rule(syscall: ctypes._CFuncPtr, ruleset_fd: int, path: str, rights: int) -> int:  # type: ignore[name-defined]
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return 0  # gone or unreachable: nothing to grant
    try:
        if not stat.S_ISDIR(os.fstat(fd).st_mode):
            rights &= _FILE_RIGHTS
        if not rights:
            return 0
        # struct landlock_path_beneath_attr { __u64 allowed_access; __s32 parent_fd; } __packed
        attr = ctypes.create_string_buffer(struct.pack("=Qi", rights, fd))
        result = int(
            syscall(
                ctypes.c_long(SYS_ADD_RULE),
                ctypes.c_int(ruleset_fd),
                ctypes.c_int(RULE_PATH_BENEATH),
                attr,
                ctypes.c_uint32(0),
            )
        )
        if result < 0:
            code = ctypes.get_errno()
            raise LandlockUnavailableError(code, f"landlock_add_rule {path}: {os.strerror(code)}")
        return 1
    finally:
        os.close(fd)


def minimal_roots(paths: Iterable[str]) -> list[str]:
    """The given folders, real paths, without any that lies inside another."""
    real = sorted({os.path.realpath(p) for p in paths if p and os.path.exists(p)})
    roots: list[str] = []
    for path in real:
        if not any(path == r or path.startswith(r.rstrip(os.sep) + os.sep) for r in roots):
            roots.append(path)
    return roots
