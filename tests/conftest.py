"""Guards for every test: nothing may open a socket to anything beyond loopback, and nothing may write
into the user's own state (the clone's `.arcforge/`).

The real services (the Hub, Kaggle) are never reachable from a test; their stand-ins listen on 127.0.0.1.
A test whose code connects elsewhere fails, even when the code under test catches the error, because a
swallowed connection error would hide a test that silently depends on the internet. Names under `.invalid`
(RFC 2606: never resolve) answer "name not known" at once, for tests of an unreachable host. The guard
covers this process; subprocesses started by a test are outside it.

The state guard looks at the files themselves, so it catches subprocesses too: a test that runs a stage
without `--state-dir` (or `ARCFORGE_STATE_DIR`) would append its events to the user's TUI history.

The Ctrl-C tests send SIGINT to the processes they start. A shell that starts a job in the background
(`nohup nox -s tests &`, some CI runners) starts it with SIGINT ignored, and an ignored signal stays
ignored across exec, so those processes would never see it: this session takes SIGINT back first.
"""

from __future__ import annotations

import ipaddress
import os
import signal
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

_LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}


def _is_loopback(host: object) -> bool:
    if not isinstance(host, str):
        return False
    name = host.strip("[]").lower()
    if name in _LOOPBACK_NAMES or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name.split("%")[0]).is_loopback
    except ValueError:
        return False


class SocketGuard:
    """Patches socket connects and name look-ups for one test; remembers each attempt beyond loopback."""

    def __init__(self) -> None:
        self.violations: list[str] = []

    def check_address(self, family: int, address: Any) -> None:
        if family == getattr(socket, "AF_UNIX", None):
            return
        host = address[0] if isinstance(address, tuple) and address else address
        if not _is_loopback(host):
            self.violations.append(f"connect to {address!r}")
            raise ConnectionRefusedError(f"test guard: no connections beyond loopback ({address!r})")

    def check_name(self, host: object) -> None:
        if host is None or _is_loopback(host):
            return
        if isinstance(host, bytes):
            host = host.decode(errors="replace")
        if isinstance(host, str) and host.rstrip(".").lower().endswith(".invalid"):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        try:
            ipaddress.ip_address(str(host).strip("[]").split("%")[0])
        except ValueError:
            self.violations.append(f"name look-up of {host!r}")
            raise socket.gaierror(
                socket.EAI_NONAME, f"test guard: no DNS beyond loopback ({host!r})"
            ) from None


@pytest.fixture(autouse=True)
def _no_network_beyond_loopback(monkeypatch: pytest.MonkeyPatch) -> Iterator[SocketGuard]:
    guard = SocketGuard()
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_sendto = socket.socket.sendto
    real_getaddrinfo = socket.getaddrinfo

    def connect(self: socket.socket, address: Any) -> None:
        guard.check_address(self.family, address)
        real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        guard.check_address(self.family, address)
        return real_connect_ex(self, address)

    def sendto(self: socket.socket, data: Any, *args: Any) -> int:
        guard.check_address(self.family, args[-1])
        return real_sendto(self, data, *args)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        guard.check_name(host)
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket.socket, "sendto", sendto)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield guard
    if guard.violations:
        pytest.fail("this test reached beyond loopback: " + "; ".join(guard.violations), pytrace=False)


USER_STATE_DIRS = {Path(__file__).resolve().parents[1] / ".arcforge", Path.cwd().resolve() / ".arcforge"}


def _state_snapshot() -> dict[str, tuple[int, int]]:
    """Every file under the user's state dirs, with its size and modification time."""
    found: dict[str, tuple[int, int]] = {}
    for folder in USER_STATE_DIRS:
        for root, _dirs, files in os.walk(folder):
            for name in files:
                path = os.path.join(root, name)
                try:
                    info = os.stat(path)
                except OSError:
                    continue
                found[path] = (info.st_size, info.st_mtime_ns)
    return found


@pytest.fixture(autouse=True)
def _no_writes_into_user_state() -> Iterator[None]:
    before = _state_snapshot()
    yield
    after = _state_snapshot()
    changed = sorted(path for path in after if before.get(path) != after[path])
    if changed:
        pytest.fail(
            "this test wrote into the user's state ("
            + ", ".join(changed)
            + "); give the stage a --state-dir or ARCFORGE_STATE_DIR under tmp_path",
            pytrace=False,
        )
