"""The guard in tests/conftest.py: a test that reaches beyond loopback fails, loopback works."""

from __future__ import annotations

import contextlib
import socket

import pytest
import requests

from tests.conftest import SocketGuard
from tests.support.kaggle import KaggleStandIn


def test_connect_beyond_loopback_is_refused_and_remembered(_no_network_beyond_loopback: SocketGuard) -> None:
    guard = _no_network_beyond_loopback
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    with sock, pytest.raises(ConnectionRefusedError, match="beyond loopback"):
        sock.connect(("192.0.2.1", 443))  # TEST-NET-1: never routable
    with pytest.raises(socket.gaierror):
        socket.getaddrinfo("www.kaggle.com", 443)
    assert guard.violations == ["connect to ('192.0.2.1', 443)", "name look-up of 'www.kaggle.com'"]
    guard.violations.clear()  # this test wanted them; any other test would now fail at teardown


def test_a_swallowed_error_still_fails_the_test(_no_network_beyond_loopback: SocketGuard) -> None:
    guard = _no_network_beyond_loopback
    with contextlib.suppress(requests.ConnectionError):  # code under test that hides the failure
        requests.get("http://192.0.2.1/", timeout=1)
    assert guard.violations and "192.0.2.1" in guard.violations[0]
    guard.violations.clear()


def test_loopback_and_invalid_names_pass(
    kaggle: KaggleStandIn, _no_network_beyond_loopback: SocketGuard
) -> None:
    assert requests.post(f"{kaggle.url}/api/v1/x/Y", timeout=5).status_code == 401
    with pytest.raises(socket.gaierror):
        socket.getaddrinfo("kaggle.invalid", 443)
    assert _no_network_beyond_loopback.violations == []
