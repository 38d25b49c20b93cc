"""Which layers of the sandbox are active on this machine, and the one log line that says so.

Kernel layers (installed by the zygote, `sandbox.zygote`; each may be missing on an old kernel or in
a container that forbids it, and then the run goes on without it):
- `no_new_privs`: no privilege gain through exec (setuid, file capabilities);
- `seccomp`: the system-call filters of `sandbox.seccomp`;
- `landlock`: the file-system (and, from ABI 4/6, TCP and signal) rules of `sandbox.landlock`.
User-space layers, always on: a fresh process per program forked from a clean zygote, a scrubbed
environment, rlimits, and the audit hook of `sandbox.policy`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from arcforge_solver.sandbox.landlock import abi_version

KERNEL_LAYERS = ("no_new_privs", "seccomp", "landlock")
USERSPACE_LAYERS = {
    "fresh_process": "on: one process per program, forked from a clean zygote",
    "environment": "on: scrubbed (thread counts and locale only)",
    "rlimits": "on: address space, CPU, file size, no core files",
    "audit_hook": "on",
}
_said: set[str] = set()


def all_off(reason: str) -> dict[str, str]:
    return {name: f"off: {reason}" for name in KERNEL_LAYERS}


def landlock_scope(abi: int) -> str:
    parts = ["files"]
    if abi >= 4:
        parts.append("TCP")
    if abi >= 6:
        parts.append("signals and abstract sockets scoped")
    return ", ".join(parts)


def missing(layers: Mapping[str, str]) -> list[str]:
    return [name for name in KERNEL_LAYERS if not str(layers.get(name, "off")).startswith("on")]


def summary(layers: Mapping[str, str]) -> str:
    """One line: each kernel layer on or off, and why a missing one is missing."""
    parts = []
    for name in KERNEL_LAYERS:
        state = str(layers.get(name, "off: not reported"))
        parts.append(f"{name} {state}")
    return (
        "sandbox layers: "
        + "; ".join(parts)
        + "; fresh process per program, scrubbed environment, rlimits, audit hook on"
    )


def say_once(layers: Mapping[str, str]) -> str:
    """Log which layers are active, once per process for each distinct set (a warning when a kernel
    layer is missing). Returns the line."""
    import logging  # noqa: PLC0415  (not in the zygote: every module it holds costs each fork)

    line = summary(layers)
    if line in _said:
        return line
    _said.add(line)  # a rare second line from a race between two threads is harmless
    _logger = logging.getLogger("arcforge_solver.sandbox")
    if missing(layers):
        _logger.warning("%s (a missing kernel layer leaves the user-space layers only)", line)
    else:
        _logger.info("%s", line)
    return line


def probe() -> dict[str, str]:
    """What this kernel offers, without installing anything (for tests and diagnostics)."""
    report: dict[str, str] = {}
    try:
        with open("/proc/sys/kernel/seccomp/actions_avail", encoding="ascii") as handle:
            actions = handle.read().split()
        report["seccomp"] = "on" if "errno" in actions else "off: no errno action"
    except OSError:
        report["seccomp"] = "off: no /proc/sys/kernel/seccomp" if os.name == "posix" else "off: not Linux"
    abi = abi_version() if os.name == "posix" else 0
    report["landlock"] = f"on: ABI {abi}" if abi >= 1 else "off: this kernel has no Landlock"
    return report
