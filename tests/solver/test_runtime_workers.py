"""The shared worker-process plumbing: a spawned child answers, a polite stop lets it exit, a child
that ignores the stop is killed and reaped."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from multiprocessing.connection import Connection

from arcforge_solver.runtime.workers import close_and_wait, kill_child, kill_group, spawn_child, stop_children


def echo_main(conn: Connection, prefix: str) -> None:
    """Answers each message with prefix + message; exits on None."""
    while True:
        message = conn.recv()
        if message is None:
            return
        conn.send(prefix + message)


def stubborn_main(conn: Connection) -> None:
    """Ignores the stop message and sleeps on."""
    conn.recv()
    while True:
        time.sleep(60)


def test_a_child_answers_and_exits_by_itself_when_stopped() -> None:
    child = spawn_child(echo_main, ("echo: ",), "arcforge-test-echo")
    child.conn.send("hello")
    assert child.conn.recv() == "echo: hello"
    stop_children([child])
    assert not child.process.is_alive()
    assert child.process.exitcode == 0  # it left on its own, within the grace period


def test_a_child_that_ignores_the_stop_is_killed_and_reaped() -> None:
    child = spawn_child(stubborn_main, (), "arcforge-test-stubborn")
    stop_children([child])
    assert not child.process.is_alive()
    assert child.process.exitcode == -signal.SIGKILL


def test_kill_child_on_a_live_child() -> None:
    child = spawn_child(echo_main, ("",), "arcforge-test-kill")
    kill_child(child)
    assert child.process.exitcode == -signal.SIGKILL
    assert child.conn.closed


def test_a_subprocess_group_is_asked_then_killed() -> None:
    reads_stdin = subprocess.Popen(  # exits when its stdin closes
        [sys.executable, "-c", "import sys; sys.stdin.read()"],
        stdin=subprocess.PIPE,
        start_new_session=True,
    )
    close_and_wait(reads_stdin)
    assert reads_stdin.returncode == 0
    kill_group(reads_stdin)  # a no-op for a process that has gone
    assert reads_stdin.returncode == 0

    ignores_stdin = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"],
        stdin=subprocess.PIPE,
        start_new_session=True,
    )
    close_and_wait(ignores_stdin)
    assert ignores_stdin.poll() is None  # still there after the grace period
    kill_group(ignores_stdin)
    assert ignores_stdin.returncode == -signal.SIGKILL
