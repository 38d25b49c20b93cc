"""Seccomp-bpf filters for the sandbox: which system calls a zygote and a program's process may make.

Our own small BPF program, built from the kernel headers' constants (`linux/seccomp.h`,
`linux/filter.h`, `linux/audit.h`, the syscall tables of `asm/unistd_64.h` for x86_64 and
`asm-generic/unistd.h` for aarch64), installed with `prctl(PR_SET_NO_NEW_PRIVS)` and
`prctl(PR_SET_SECCOMP)`. No binding library: the one on PyPI (pyseccomp, 2021) wraps libseccomp,
which is not on every machine, and a deny list this size is a few dozen instructions.

Two profiles, stacked (a filter can only be added to, never lifted, and the strictest answer wins;
the program profile holds only what it adds to the zygote's):
- `ZYGOTE`, installed once in the pre-imported zygote and inherited by every child: no exec, no
  sockets, no ptrace or cross-process memory, no mount or namespace calls (`clone` with a namespace
  flag included), no pidfds, no kernel keyrings, modules, BPF, perf or io_uring, no uid changes, no
  rlimit or cwd changes, no `*at` call relative to a directory descriptor (the dir_fd hole:
  `unlinkat`, `renameat`, `mkdirat`, `openat`... must use the cwd, the scratch folder), no links,
  no chmod/chown/utime or xattrs (Landlock does not cover file metadata): the zygote does all of
  that once, before its filter;
- `PROGRAM`, installed in each program's process after fork, before the program runs, and short
  (each child compiles it): no new processes or threads at all, signals only to itself, no rlimit
  setting through prlimit (the zygote sets its children's), no clearing of the parent-death signal.

Denied calls fail with EPERM (ENOSYS for `clone3`, so that libc falls back to `clone`, whose flags
the filter can read): a program sees an ordinary `PermissionError`, and the pool goes on. A call
from another ABI (i386 `int 0x80`, x32) kills the process: its numbers mean other calls.

What seccomp cannot see: paths (pointers). Those are Landlock's job (`sandbox.landlock`).
"""

from __future__ import annotations

import ctypes
import enum
import errno
import platform
import struct
from dataclasses import dataclass
from typing import Any

# linux/filter.h: BPF opcodes.
_LD_W_ABS = 0x20
_JMP_JEQ_K = 0x15
_JMP_JGE_K = 0x35
_JMP_JSET_K = 0x45
_RET_K = 0x06
# linux/seccomp.h
SECCOMP_RET_KILL_PROCESS = 0x80000000
SECCOMP_RET_ERRNO = 0x00050000
SECCOMP_RET_ALLOW = 0x7FFF0000
SECCOMP_MODE_FILTER = 2
# linux/prctl.h
PR_SET_PDEATHSIG = 1
PR_GET_SECCOMP = 21
PR_SET_SECCOMP = 22
PR_SET_MM = 35
PR_SET_NO_NEW_PRIVS = 38
PR_GET_NO_NEW_PRIVS = 39
PR_SET_PTRACER = 0x59616D61
# struct seccomp_data: int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6].
_NR_OFFSET = 0
_ARCH_OFFSET = 4
_ARGS_OFFSET = 16
_X32_SYSCALL_BIT = 0x40000000
AT_FDCWD = 0xFFFFFF9C  # -100 as the low 32 bits of the argument
# linux/sched.h: the clone flags that make or join namespaces, trace, or hand out pidfds.
CLONE_NEWTIME = 0x00000080
CLONE_PIDFD = 0x00001000
CLONE_PTRACE = 0x00002000
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
CLONE_DENIED_FLAGS = (
    CLONE_NEWTIME
    | CLONE_PIDFD
    | CLONE_PTRACE
    | CLONE_NEWNS
    | CLONE_NEWCGROUP
    | CLONE_NEWUTS
    | CLONE_NEWIPC
    | CLONE_NEWUSER
    | CLONE_NEWPID
    | CLONE_NEWNET
)
# asm-generic/ioctls.h: push bytes into a terminal's input, console control.
TIOCSTI = 0x5412
TIOCLINUX = 0x541C


@dataclass(frozen=True)
class Arch:
    """One architecture: its audit number and the syscall numbers the filters name."""

    name: str
    audit_arch: int
    numbers: dict[str, int]
    has_x32: bool = False


# Numbers from asm/unistd_64.h (x86_64) and asm-generic/unistd.h (aarch64); the calls numbered 403
# and up are the same on every architecture. A name missing on an arch has no number there.
_UNIFIED = {
    "pidfd_send_signal": 424,
    "io_uring_setup": 425,
    "io_uring_enter": 426,
    "io_uring_register": 427,
    "open_tree": 428,
    "move_mount": 429,
    "fsopen": 430,
    "fsconfig": 431,
    "fsmount": 432,
    "fspick": 433,
    "pidfd_open": 434,
    "clone3": 435,
    "openat2": 437,
    "pidfd_getfd": 438,
    "process_madvise": 440,
    "mount_setattr": 442,
    "quotactl_fd": 443,
    "process_mrelease": 448,
    "fchmodat2": 452,
    "setxattrat": 463,
    "removexattrat": 466,
    "open_tree_attr": 467,
}
X86_64 = Arch(
    "x86_64",
    0xC000003E,  # AUDIT_ARCH_X86_64: EM_X86_64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE
    {
        **_UNIFIED,
        "ioctl": 16,
        "socket": 41,
        "connect": 42,
        "accept": 43,
        "bind": 49,
        "listen": 50,
        "socketpair": 53,
        "clone": 56,
        "fork": 57,
        "vfork": 58,
        "execve": 59,
        "kill": 62,
        "chdir": 80,
        "fchdir": 81,
        "link": 86,
        "symlink": 88,
        "chmod": 90,
        "fchmod": 91,
        "chown": 92,
        "fchown": 93,
        "lchown": 94,
        "ptrace": 101,
        "syslog": 103,
        "setuid": 105,
        "setgid": 106,
        "setpgid": 109,
        "setsid": 112,
        "setreuid": 113,
        "setregid": 114,
        "setgroups": 116,
        "setresuid": 117,
        "setresgid": 119,
        "setfsuid": 122,
        "setfsgid": 123,
        "capset": 126,
        "rt_sigqueueinfo": 129,
        "utime": 132,
        "mknod": 133,
        "uselib": 134,
        "personality": 135,
        "setpriority": 141,
        "sched_setparam": 142,
        "sched_setscheduler": 144,
        "vhangup": 153,
        "modify_ldt": 154,
        "pivot_root": 155,
        "prctl": 157,
        "adjtimex": 159,
        "setrlimit": 160,
        "chroot": 161,
        "acct": 163,
        "settimeofday": 164,
        "mount": 165,
        "umount2": 166,
        "swapon": 167,
        "swapoff": 168,
        "reboot": 169,
        "sethostname": 170,
        "setdomainname": 171,
        "iopl": 172,
        "ioperm": 173,
        "init_module": 175,
        "delete_module": 176,
        "quotactl": 179,
        "setxattr": 188,
        "lsetxattr": 189,
        "fsetxattr": 190,
        "removexattr": 197,
        "lremovexattr": 198,
        "fremovexattr": 199,
        "tkill": 200,
        "sched_setaffinity": 203,
        "lookup_dcookie": 212,
        "clock_settime": 227,
        "tgkill": 234,
        "utimes": 235,
        "kexec_load": 246,
        "add_key": 248,
        "request_key": 249,
        "keyctl": 250,
        "ioprio_set": 251,
        "migrate_pages": 256,
        "openat": 257,
        "mkdirat": 258,
        "mknodat": 259,
        "fchownat": 260,
        "futimesat": 261,
        "unlinkat": 263,
        "renameat": 264,
        "linkat": 265,
        "symlinkat": 266,
        "fchmodat": 268,
        "unshare": 272,
        "move_pages": 279,
        "utimensat": 280,
        "accept4": 288,
        "rt_tgsigqueueinfo": 297,
        "perf_event_open": 298,
        "fanotify_init": 300,
        "prlimit64": 302,
        "name_to_handle_at": 303,
        "open_by_handle_at": 304,
        "clock_adjtime": 305,
        "setns": 308,
        "process_vm_readv": 310,
        "process_vm_writev": 311,
        "kcmp": 312,
        "finit_module": 313,
        "sched_setattr": 314,
        "renameat2": 316,
        "kexec_file_load": 320,
        "bpf": 321,
        "execveat": 322,
        "userfaultfd": 323,
    },
    has_x32=True,
)
AARCH64 = Arch(
    "aarch64",
    0xC00000B7,  # AUDIT_ARCH_AARCH64: EM_AARCH64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE
    {
        **_UNIFIED,
        "setxattr": 5,
        "lsetxattr": 6,
        "fsetxattr": 7,
        "removexattr": 14,
        "lremovexattr": 15,
        "fremovexattr": 16,
        "lookup_dcookie": 18,
        "ioctl": 29,
        "ioprio_set": 30,
        "mknodat": 33,
        "mkdirat": 34,
        "unlinkat": 35,
        "symlinkat": 36,
        "linkat": 37,
        "renameat": 38,
        "umount2": 39,
        "mount": 40,
        "pivot_root": 41,
        "chdir": 49,
        "fchdir": 50,
        "chroot": 51,
        "fchmod": 52,
        "fchmodat": 53,
        "fchownat": 54,
        "fchown": 55,
        "openat": 56,
        "vhangup": 58,
        "quotactl": 60,
        "utimensat": 88,
        "acct": 89,
        "capset": 91,
        "personality": 92,
        "unshare": 97,
        "kexec_load": 104,
        "init_module": 105,
        "delete_module": 106,
        "clock_settime": 112,
        "syslog": 116,
        "ptrace": 117,
        "sched_setparam": 118,
        "sched_setscheduler": 119,
        "sched_setaffinity": 122,
        "kill": 129,
        "tkill": 130,
        "tgkill": 131,
        "rt_sigqueueinfo": 138,
        "setpriority": 140,
        "reboot": 142,
        "setregid": 143,
        "setgid": 144,
        "setreuid": 145,
        "setuid": 146,
        "setresuid": 147,
        "setresgid": 149,
        "setfsuid": 151,
        "setfsgid": 152,
        "setpgid": 154,
        "setsid": 157,
        "setgroups": 159,
        "sethostname": 161,
        "setdomainname": 162,
        "setrlimit": 164,
        "prctl": 167,
        "settimeofday": 170,
        "adjtimex": 171,
        "socket": 198,
        "socketpair": 199,
        "bind": 200,
        "listen": 201,
        "accept": 202,
        "connect": 203,
        "add_key": 217,
        "request_key": 218,
        "keyctl": 219,
        "clone": 220,
        "execve": 221,
        "swapon": 224,
        "swapoff": 225,
        "migrate_pages": 238,
        "move_pages": 239,
        "rt_tgsigqueueinfo": 240,
        "perf_event_open": 241,
        "accept4": 242,
        "prlimit64": 261,
        "fanotify_init": 262,
        "name_to_handle_at": 264,
        "open_by_handle_at": 265,
        "clock_adjtime": 266,
        "setns": 268,
        "process_vm_readv": 270,
        "process_vm_writev": 271,
        "kcmp": 272,
        "finit_module": 273,
        "sched_setattr": 274,
        "renameat2": 276,
        "bpf": 280,
        "execveat": 281,
        "userfaultfd": 282,
        "kexec_file_load": 294,
    },
)
ARCHES = {"x86_64": X86_64, "amd64": X86_64, "aarch64": AARCH64, "arm64": AARCH64}


class Profile(enum.Enum):
    ZYGOTE = "zygote"
    PROGRAM = "program"


# Both profiles: what no process of the sandbox ever needs.
_DENIED_ALWAYS = (
    # other programs and the network
    "execve", "execveat", "uselib",
    "socket", "socketpair", "connect", "bind", "listen", "accept", "accept4",
    # other processes' memory, descriptors and signals through pidfds
    "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "process_madvise", "process_mrelease",
    "pidfd_open", "pidfd_getfd", "pidfd_send_signal", "migrate_pages", "move_pages",
    # mounts, namespaces and the root
    "mount", "umount2", "pivot_root", "chroot", "unshare", "setns", "move_mount", "open_tree",
    "open_tree_attr", "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr",
    # the kernel itself
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "reboot",
    "swapon", "swapoff", "bpf", "perf_event_open", "userfaultfd", "keyctl", "add_key", "request_key",
    "syslog", "acct", "quotactl", "quotactl_fd", "lookup_dcookie", "fanotify_init", "vhangup",
    "settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "sethostname", "setdomainname",
    "iopl", "ioperm", "modify_ldt", "personality", "name_to_handle_at", "open_by_handle_at",
    # io_uring runs file and socket operations that no filter sees
    "io_uring_setup", "io_uring_enter", "io_uring_register",
    # identity
    "setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid", "setgroups", "setfsuid",
    "setfsgid", "capset",
    # what the zygote does once, before its filter, and never again
    "setrlimit", "chdir", "fchdir", "setsid", "setpgid",
    "setpriority", "sched_setscheduler", "sched_setparam", "sched_setattr", "sched_setaffinity",
    "ioprio_set",
    # links and metadata: Landlock leaves chmod, chown, utime and xattrs alone
    "link", "linkat", "symlink", "symlinkat", "mknod", "mknodat",
    "chmod", "fchmod", "fchmodat", "fchmodat2", "chown", "fchown", "lchown", "fchownat",
    "utime", "utimes", "futimesat", "utimensat",
    "setxattr", "lsetxattr", "fsetxattr", "removexattr", "lremovexattr", "fremovexattr",
    "setxattrat", "removexattrat",
)  # fmt: skip
# The program's process only: what the zygote needs for its children but a program never does. Kept
# short: each child compiles it (the zygote's is compiled once).
_DENIED_FOR_PROGRAMS = ("fork", "vfork", "clone")
# Calls relative to a directory descriptor: the program's must be relative to its cwd (the scratch
# folder) or absolute, so that the path checks see where they land. (name, argument positions)
_CWD_RELATIVE_ONLY = (
    ("openat", (0,)),
    ("openat2", (0,)),
    ("unlinkat", (0,)),
    ("mkdirat", (0,)),
    ("renameat", (0, 2)),
    ("renameat2", (0, 2)),
)
# Signals: a program's process may signal only itself. (name, position of the target pid)
_SELF_SIGNALS = (
    ("kill", 0),
    ("tkill", 0),
    ("tgkill", 0),
    ("rt_sigqueueinfo", 0),
    ("rt_tgsigqueueinfo", 0),
)


class SeccompUnavailableError(OSError):
    """This kernel, architecture or container does not let us install a filter."""


def current_arch() -> Arch | None:
    return ARCHES.get(platform.machine().lower())


def _ins(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k & 0xFFFFFFFF)


def _arg_low(index: int) -> int:
    # Little-endian (both arches): the low 32 bits of args[i] come first.
    return _ARGS_OFFSET + 8 * index


def _errno(value: int) -> int:
    return SECCOMP_RET_ERRNO | (value & 0xFFFF)


class Filter:
    """A built filter. `for_pid(pid)` gives the bytes of `struct sock_filter[]` to install; the
    program profile names its own pid (signals to self only), patched into a prebuilt template so a
    fresh child pays for no rebuild."""

    def __init__(self, code: bytearray, pid_slots: list[int]) -> None:
        self.code = code
        self.pid_slots = pid_slots

    def __len__(self) -> int:
        return len(self.code) // 8

    def for_pid(self, pid: int) -> bytes:
        if not self.pid_slots:
            return bytes(self.code)
        code = bytearray(self.code)
        for offset in self.pid_slots:
            struct.pack_into("=I", code, offset + 4, pid & 0xFFFFFFFF)
        return bytes(code)


def build(arch: Arch, profile: Profile) -> Filter:
    """The BPF program of `profile` for `arch`."""
    eperm = _errno(errno.EPERM)
    numbers = arch.numbers
    out: list[bytes] = [
        _ins(_LD_W_ABS, 0, 0, _ARCH_OFFSET),
        _ins(_JMP_JEQ_K, 1, 0, arch.audit_arch),
        _ins(_RET_K, 0, 0, SECCOMP_RET_KILL_PROCESS),  # another ABI: its numbers mean other calls
        _ins(_LD_W_ABS, 0, 0, _NR_OFFSET),
    ]
    if arch.has_x32:
        out += [_ins(_JMP_JGE_K, 0, 1, _X32_SYSCALL_BIT), _ins(_RET_K, 0, 0, SECCOMP_RET_KILL_PROCESS)]
    # The program profile is stacked on the zygote's: it holds only what it adds.
    denied = _DENIED_ALWAYS if profile is Profile.ZYGOTE else _DENIED_FOR_PROGRAMS
    for name in denied:
        if name in numbers:
            out += [_ins(_JMP_JEQ_K, 0, 1, numbers[name]), _ins(_RET_K, 0, 0, eperm)]
    if profile is Profile.ZYGOTE:
        # clone3 passes its flags in memory the filter cannot read: ENOSYS makes libc use clone.
        out += [_ins(_JMP_JEQ_K, 0, 1, numbers["clone3"]), _ins(_RET_K, 0, 0, _errno(errno.ENOSYS))]

    def when_arg(name: str, index: int, test: int, value: int, deny_on_match: bool) -> None:
        # [nr == name] -> load args[index] low half -> test -> deny or fall through to the next block
        jt, jf = (0, 1) if deny_on_match else (1, 0)
        out.extend(
            [
                _ins(_LD_W_ABS, 0, 0, _NR_OFFSET),
                _ins(_JMP_JEQ_K, 0, 3, numbers[name]),
                _ins(_LD_W_ABS, 0, 0, _arg_low(index)),
                _ins(test, jt, jf, value),
                _ins(_RET_K, 0, 0, eperm),
            ]
        )

    if profile is Profile.ZYGOTE:
        when_arg("clone", 0, _JMP_JSET_K, CLONE_DENIED_FLAGS, deny_on_match=True)
        for request in (TIOCSTI, TIOCLINUX):
            when_arg("ioctl", 1, _JMP_JEQ_K, request, deny_on_match=True)
        for name, positions in _CWD_RELATIVE_ONLY:
            for index in positions:
                if name in numbers:
                    when_arg(name, index, _JMP_JEQ_K, AT_FDCWD, deny_on_match=False)
    pid_slots: list[int] = []
    if profile is Profile.PROGRAM:
        for option in (PR_SET_PDEATHSIG, PR_SET_MM, PR_SET_PTRACER):
            when_arg("prctl", 0, _JMP_JEQ_K, option, deny_on_match=True)
        for name, index in _SELF_SIGNALS:
            when_arg(name, index, _JMP_JEQ_K, 0, deny_on_match=False)
            pid_slots.append(8 * (len(out) - 2))  # the JEQ's k is patched with the child's pid
        # prlimit64(pid, resource, new_limit, old_limit): reading is fine, setting is not.
        out += [
            _ins(_LD_W_ABS, 0, 0, _NR_OFFSET),
            _ins(_JMP_JEQ_K, 0, 5, numbers["prlimit64"]),
            _ins(_LD_W_ABS, 0, 0, _arg_low(2)),
            _ins(_JMP_JEQ_K, 0, 2, 0),
            _ins(_LD_W_ABS, 0, 0, _arg_low(2) + 4),
            _ins(_JMP_JEQ_K, 1, 0, 0),
            _ins(_RET_K, 0, 0, eperm),
        ]
    out.append(_ins(_RET_K, 0, 0, SECCOMP_RET_ALLOW))
    return Filter(bytearray(b"".join(out)), pid_slots)


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


class Installer:
    """Installs filters in this process. Made once in the zygote, so that a child's install is two
    prctl calls with no library lookup (and no ctypes audit event once a program's hook is armed)."""

    def __init__(self) -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            self._prctl = libc.prctl
        except (OSError, AttributeError) as exc:
            raise SeccompUnavailableError(f"no prctl in this C library ({exc})") from exc
        self._prctl.restype = ctypes.c_int
        self._prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]

    def call(self, option: int, arg2: int = 0, arg3: int = 0) -> int:
        result = int(self._prctl(option, arg2, arg3, 0, 0))
        if result < 0:
            code = ctypes.get_errno()
            raise SeccompUnavailableError(code, f"prctl({option}): {errno.errorcode.get(code, code)}")
        return result

    def no_new_privs(self) -> None:
        """No setuid or file-capability gain from here on: required for an unprivileged filter or
        Landlock, and right for a sandbox anyway."""
        self.call(PR_SET_NO_NEW_PRIVS, 1)

    def parent_death_signal(self, signum: int) -> None:
        self.call(PR_SET_PDEATHSIG, signum)

    def prepared_call(self, option: int, arg2: int = 0, arg3: int = 0) -> PreparedCall:
        return PreparedCall(option, arg2, arg3)

    def install(self, code: bytes) -> None:
        buffer = ctypes.create_string_buffer(code, len(code))
        program = _SockFprog(len(code) // 8, ctypes.addressof(buffer))
        self.call(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(program))

    def prepare(self, built: Filter) -> Prepared:
        """`built` laid out in C memory once (in the zygote): a child then patches in its pid and
        makes one prctl call, touching (and so copying) as few of the zygote's pages as it can."""
        return Prepared(self, built)


class PreparedCall:
    """One prctl call with its C arguments made in advance: in a freshly forked child, a call
    through ctypes' argument conversion and errno machinery writes to (and so copies) dozens of
    the zygote's pages; this one writes to few."""

    _function: Any = None

    def __init__(self, option: int, arg2: int = 0, arg3: int = 0) -> None:
        if PreparedCall._function is None:
            PreparedCall._function = ctypes.CDLL(None).prctl  # no argtypes, no errno copy
            PreparedCall._function.restype = ctypes.c_int
        self._args = (
            ctypes.c_int(option),
            ctypes.c_ulong(arg2),
            ctypes.c_ulong(arg3),
            ctypes.c_ulong(0),
            ctypes.c_ulong(0),
        )
        self._option = option

    def __call__(self) -> None:
        if PreparedCall._function(*self._args) < 0:
            raise SeccompUnavailableError(f"prctl({self._option}) failed")


class Prepared:
    """A filter ready in C memory; `install(pid)` installs it in the calling process."""

    def __init__(self, installer: Installer, built: Filter) -> None:
        code = built.for_pid(0)
        self._buffer = ctypes.create_string_buffer(code, len(code))
        self._program = _SockFprog(len(code) // 8, ctypes.addressof(self._buffer))
        self._slots = [offset + 4 for offset in built.pid_slots]
        self._call = installer.prepared_call(
            PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(self._program)
        )

    def install(self, pid: int) -> None:
        for offset in self._slots:
            struct.pack_into("=I", self._buffer, offset, pid & 0xFFFFFFFF)
        self._call()


def mode() -> str:
    """This process's seccomp mode as /proc/self/status says it: "0" none, "1" strict, "2" filter."""
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("Seccomp:"):
                    return line.split()[1]
    except OSError:
        pass
    return "unknown"
