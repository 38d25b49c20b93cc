"""A loopback HTTP forward proxy that records every request it carries, run on a thread of the test.

It does what corporate proxies do for the two request forms clients send them (RFC 9110 §9.3.6,
RFC 9112 §3.2.2): a plain-http request in absolute form (`GET http://host/path HTTP/1.1`) is forwarded
to that host and its answer relayed back; `CONNECT host:port` opens a tunnel that it relays blindly
(it sees the target, never the bytes inside TLS). With `credentials` set it answers 407 with
`Proxy-Authenticate` until the client sends `Proxy-Authorization: Basic …`, like squid's basic auth.
httpx (huggingface_hub's client) and curl send both forms this way when `HTTP_PROXY`/`HTTPS_PROXY` is set.

    with running_http_proxy() as proxy:
        env["HTTP_PROXY"] = proxy.url
        ...
        proxy.requests  # ["GET http://127.0.0.1:5000/api/models/… [bytes=0-1048575]", "CONNECT 127.0.0.1:5443", …]
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import select
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

# Hop-by-hop headers are the proxy's own business, never forwarded (RFC 9110 §7.6.1).
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
}
RELAY_CHUNK = 64 * 1024


@dataclass
class ProxyLog:
    """What the proxy carried: one line per request, and body bytes relayed back per request line."""

    requests: list[str] = field(default_factory=list)
    body_bytes: dict[str, int] = field(default_factory=dict)
    refused: int = 0  # 407 answers
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, line: str) -> None:
        with self.lock:
            self.requests.append(line)

    def count(self, line: str, n: int) -> None:
        with self.lock:
            self.body_bytes[line] = self.body_bytes.get(line, 0) + n


class ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "arcforge-test-proxy/1"
    log: ProxyLog  # set on the subclass per proxy
    credentials: str | None = None  # "user:password" when the proxy wants basic auth

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _authorised(self) -> bool:
        if self.credentials is None:
            return True
        expected = "Basic " + base64.b64encode(self.credentials.encode()).decode()
        if self.headers.get("Proxy-Authorization") == expected:
            return True
        with self.log.lock:
            self.log.refused += 1
        self.send_response(407)
        self.send_header("Proxy-Authenticate", 'Basic realm="arcforge-test-proxy"')
        self.send_header("Content-Length", "0")
        self.end_headers()
        return False

    def do_CONNECT(self) -> None:
        self.log.add(f"CONNECT {self.path}")
        if not self._authorised():
            return
        host, _, port = self.path.rpartition(":")
        try:
            upstream = socket.create_connection((host.strip("[]"), int(port)), timeout=30)
        except (OSError, ValueError) as exc:
            self.send_error(502, f"cannot reach {self.path}: {exc}")
            return
        self.send_response(200, "Connection Established")
        self.end_headers()
        self.close_connection = True
        _pipe(self.connection, upstream)

    def _forward(self) -> None:
        target = urlsplit(self.path)
        range_header = self.headers.get("Range")
        line = f"{self.command} {self.path}" + (f" [{range_header}]" if range_header else "")
        self.log.add(line)
        if not self._authorised():
            return
        if target.scheme != "http" or not target.netloc:
            self.send_error(400, "a proxy request names the whole http:// URL")
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        upstream = http.client.HTTPConnection(target.netloc, timeout=60)
        try:
            path = target.path + (f"?{target.query}" if target.query else "")
            upstream.request(self.command, path or "/", body=body, headers=headers)
            response = upstream.getresponse()
            self.send_response(response.status, response.reason)
            for key, value in response.getheaders():
                if key.lower() not in HOP_BY_HOP:
                    self.send_header(key, value)
            if response.getheader("Content-Length") is None:
                self.close_connection = True  # no length: the end of the relay marks the end
            self.end_headers()
            if self.command == "HEAD":
                return
            while block := response.read1(RELAY_CHUNK):
                self.wfile.write(block)
                self.log.count(line, len(block))
        except OSError:
            self.close_connection = True  # either side hung up: drop this client connection too
        finally:
            upstream.close()

    do_GET = _forward  # noqa: N815
    do_HEAD = _forward  # noqa: N815
    do_POST = _forward  # noqa: N815


def _pipe(client: socket.socket, upstream: socket.socket) -> None:
    """Relay bytes both ways until either side closes."""
    sockets = [client, upstream]
    try:
        while True:
            readable, _, _ = select.select(sockets, [], [], 60)
            if not readable:
                return
            for source in readable:
                data = source.recv(RELAY_CHUNK)
                if not data:
                    return
                (upstream if source is client else client).sendall(data)
    except OSError:
        return
    finally:
        upstream.close()


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that hang up mid-relay are part of the tests


@dataclass
class HttpProxy:
    url: str
    log: ProxyLog

    @property
    def requests(self) -> list[str]:
        with self.log.lock:
            return list(self.log.requests)


@contextlib.contextmanager
def running_http_proxy(credentials: str | None = None) -> Iterator[HttpProxy]:
    log = ProxyLog()
    handler = type("Handler", (ProxyHandler,), {"log": log, "credentials": credentials})
    server = _QuietServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield HttpProxy(f"http://127.0.0.1:{server.server_address[1]}", log)
    finally:
        server.shutdown()
        server.server_close()
