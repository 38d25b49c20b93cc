"""Worker-process plumbing, one copy for the whole solver: start a child process, let it die with its
parent, stop it with one grace period, kill and reap it.

Three kinds of worker use it: the runtime's task workers (`executors`), the hybrid engine's search
worker (`engines.llm.search_worker`) and the sandbox's program workers (`sandbox.pool`, started as a
subprocess in a process group of its own). This module imports nothing else of the solver, so every
layer may use it.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

GRACE_S = 2.0
"""The one grace period: how long a worker may run past its deadline before it is killed, and how
long a polite stop waits for workers to exit by themselves."""
REAP_TIMEOUT_S = 5.0
"""How long to wait for a killed process to be reaped (a SIGKILLed process goes at once)."""
PARENT_CHECK_S = 0.5
"""How often a worker checks that its parent is still there."""


def exit_with_parent(parent_pid: int, code: int = 1) -> None:
    """In a worker: end this process at once when `parent_pid` is gone (killed with SIGKILL, say), so
    that no worker outlives the run. Starts a daemon thread; call it before any limit on threads."""

    def watch() -> None:
        while True:
            if os.getppid() != parent_pid:
                os._exit(code)
            time.sleep(PARENT_CHECK_S)

    threading.Thread(target=watch, daemon=True, name="arcforge-parent-watch").start()


def ignore_interrupts() -> None:
    """In a worker: Ctrl-C reaches the whole process group; the parent handles it and stops us itself."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@dataclass
class Child:
    """A spawned worker process and the parent's end of its duplex pipe."""

    process: BaseProcess
    conn: Connection


def spawn_child(
    target: Callable[..., None], args: tuple[Any, ...], name: str, *, daemon: bool = True
) -> Child:
    """Start `target(conn, *args)` in a fresh (spawned, not forked) process, a daemon unless it must
    start workers of its own (multiprocessing refuses children to a daemon: a GPU lane's hybrid engine
    starts its search worker); `exit_with_parent` and the owner's stop end it either way.

    Spawn, not fork: the parent may hold threads, a CUDA context or locks that a fork would copy."""
    context = multiprocessing.get_context("spawn")
    parent_conn, child_conn = context.Pipe(duplex=True)
    process = context.Process(target=target, args=(child_conn, *args), daemon=daemon, name=name)
    process.start()
    child_conn.close()
    return Child(process, parent_conn)


def kill_child(child: Child) -> None:
    """Kill the worker if it still runs, reap it and close the pipe."""
    if child.process.is_alive():
        child.process.kill()
    child.process.join(timeout=REAP_TIMEOUT_S)
    with contextlib.suppress(OSError):
        child.conn.close()


def stop_children(children: Sequence[Child]) -> None:
    """Ask each worker to finish (None on its pipe), give them all one grace period together, then
    kill and reap whatever is left."""
    for child in children:
        with contextlib.suppress(OSError):
            child.conn.send(None)
    deadline = time.monotonic() + GRACE_S
    for child in children:
        child.process.join(timeout=max(0.0, deadline - time.monotonic()))
        kill_child(child)


def kill_group(process: subprocess.Popen[bytes]) -> None:
    """Kill a subprocess started with `start_new_session=True` and everything it started, and reap it."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        process.kill()
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=REAP_TIMEOUT_S)


def close_and_wait(process: subprocess.Popen[bytes]) -> None:
    """Ask a subprocess to finish (EOF on its stdin) and give it one grace period to exit; the caller
    then kills its group (a no-op for a process that has gone)."""
    with contextlib.suppress(OSError):
        if process.stdin is not None:
            process.stdin.close()
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=GRACE_S)
