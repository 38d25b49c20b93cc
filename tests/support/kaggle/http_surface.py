"""The stand-in Kaggle's HTTP surface: routes, sign-in, resumable uploads, output downloads, wire faults.

Every API call is `POST /api/v1/<service>/<Method>` with camelCase JSON, the shapes kagglesdk's generated
types use. Uploads follow Google Cloud Storage's resumable semantics on the `createUrl` that
StartBlobUpload hands out: `PUT` with `Content-Range: bytes S-E/N` appends, `PUT` with
`Content-Range: bytes */N` answers 308 and `Range: bytes=0-K` (what was persisted), 200 when complete.

Start it with `start_kaggle_server(...)` (a context manager, served from a thread) and point arcforge
at it with `server.env(...)`.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.support.kaggle.model import Competition, Runner, default_competition
from tests.support.kaggle.service import KaggleStandIn

# ---- HTTP ------------------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read state, not logs
        return

    def _reply(
        self, code: int, payload: dict[str, Any] | bytes, headers: dict[str, str] | None = None
    ) -> None:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(code)
        self.send_header(
            "Content-Type", "application/octet-stream" if isinstance(payload, bytes) else "application/json"
        )
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def _user(self) -> str | None:
        # A KGAT_ API token arrives as `Authorization: Bearer …`, the legacy key as Basic auth
        # (kagglesdk kaggle_http_client.py `_try_fill_auth`, `BearerAuth`; the kaggle-api README).
        header = self.headers.get("Authorization", "")
        with self.server.state.lock:
            self.server.state.auth_headers.append(header)
        return self.server.state.user_for(header)

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def do_POST(self) -> None:
        state = self.server.state
        body = self._read_body()
        match = re.fullmatch(r"/api/v1/([\w.]+)/(\w+)", self.path)
        if match is None:
            self._reply(404, {"code": 404, "message": f"no route {self.path}"})
            return
        method = match.group(2)
        with state.lock:
            faults = state.faults
            limited = faults.rate_limit_on.get(method, 0) > 0 or faults.rate_limit > 0
            if faults.rate_limit_on.get(method, 0) > 0:
                faults.rate_limit_on[method] -= 1
            elif faults.rate_limit > 0:
                faults.rate_limit -= 1
        if limited:
            # The kaggle client waits Retry-After on a 429 (kaggle_api_extended.py `_get_retry_after_delay`).
            self._reply(429, {"code": 429, "message": "Too many requests"}, {"Retry-After": "0"})
            return
        user = self._user()
        service = match.group(1)
        # Token introspection answers whoever asks (kaggle_api_extended.py `_introspect_token` sends it with the
        # very token it checks); an unknown token is `active: false`, not a 401.
        if user is None and method != "IntrospectToken":
            self._reply(401, {"code": 401, "message": "Unauthenticated"})
            return
        try:
            request = json.loads(body or b"{}")
        except ValueError:
            self._reply(400, {"code": 400, "message": "request body is not JSON"})
            return
        code, reply = state.handle_api(user or "", service, method, request)
        with state.lock:
            dropped = state.faults.drop_after.get(method, 0) > 0
            if dropped:
                state.faults.drop_after[method] -= 1
        if dropped:  # Kaggle acted on it; the answer never arrives
            self._drop_connection()
            return
        self._reply(code, reply)

    def do_GET(self) -> None:
        match = re.fullmatch(r"/output/([^/]+)/([^/]+)/(\d+)/(.+)", self.path)
        content = None
        if match is not None:
            owner, slug, number, name = match.groups()
            content = self.server.state.output_file(owner, slug, int(number), name)
        if content is None:
            self._reply(404, {"code": 404, "message": "not found"})
            return
        self._reply(200, content)

    def do_PUT(self) -> None:
        state = self.server.state
        match = re.fullmatch(r"/upload/([\w-]+)", self.path)
        upload = state.uploads.get(match.group(1)) if match else None
        if upload is None:
            self._read_body()
            self._reply(404, {"code": 404, "message": "upload session not found"})
            return
        upload.puts += 1
        # Google's resumable-upload protocol, which the kaggle client drives for dataset files
        # (kaggle_api_extended.py `upload_complete` / `ResumableUploadContext`): `bytes */N` asks how much
        # arrived, 308 with a Range header means "go on from there", 200 means complete.
        content_range = self.headers.get("Content-Range", "")
        if content_range.startswith("bytes */"):
            self._read_body()
            if upload.complete:
                self._reply(200, {"name": upload.name, "size": str(upload.length)})
            else:
                headers = {"Range": f"bytes=0-{len(upload.data) - 1}"} if upload.data else {}
                self._reply(308, b"", headers)
            return
        start = 0
        ranged = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+)", content_range)
        if ranged:
            start = int(ranged.group(1))
        if start > len(upload.data):
            self._read_body()
            self._reply(400, {"code": 400, "message": f"range starts at {start}, have {len(upload.data)}"})
            return
        del upload.data[start:]  # a PUT from `start` replaces whatever came after it
        length = int(self.headers.get("Content-Length") or 0)
        with state.lock:
            fail_503 = state.faults.upload_503 > 0
            if fail_503:
                state.faults.upload_503 -= 1
        keep_until = start + length // 2 if fail_503 else None
        remaining = length
        while remaining > 0:
            limit = 64 * 1024
            faults = state.faults
            for cut in (faults.drop_upload_at, faults.stall_upload_at, keep_until):
                if cut is not None and cut > len(upload.data):
                    limit = min(limit, cut - len(upload.data))
            chunk = self.rfile.read(min(limit, remaining))
            if not chunk:
                return  # the client went away; what arrived stays persisted
            upload.data.extend(chunk)
            upload.wire_bytes += len(chunk)
            remaining -= len(chunk)
            if faults.drop_upload_at is not None and len(upload.data) >= faults.drop_upload_at:
                faults.drop_upload_at = None
                self._drop_connection()
                return
            if faults.stall_upload_at is not None and len(upload.data) >= faults.stall_upload_at:
                faults.stall_upload_at = None
                state.upload_stalled.set()
                state._release.wait(timeout=60)
                self._drop_connection()
                return
            if keep_until is not None and len(upload.data) >= keep_until:
                while remaining > 0:  # drain the rest; GCS persisted only part of it
                    got = self.rfile.read(min(65536, remaining))
                    if not got:
                        return
                    upload.wire_bytes += len(got)
                    remaining -= len(got)
                self._reply(503, {"code": 503, "message": "Service Unavailable"})
                return
        if upload.complete:
            self._reply(200, {"name": upload.name, "size": str(upload.length)})
        else:
            headers = {"Range": f"bytes=0-{len(upload.data) - 1}"} if upload.data else {}
            self._reply(308, b"", headers)

    def _drop_connection(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(2)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, state: KaggleStandIn) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = state


@contextlib.contextmanager
def start_kaggle_server(
    users: dict[str, str] | None = None,
    competitions: list[Competition] | None = None,
    runner: Runner | None = None,
    processing_polls: int = 1,
    running_polls: int = 1,
) -> Iterator[KaggleStandIn]:
    """Serve a stand-in Kaggle on 127.0.0.1 from a background thread for the duration of the block.

    `users` maps usernames to API keys (default: alice → a fixed test key). `competitions` defaults to an
    arc-prize-2025 with one small task. `processing_polls` / `running_polls` say how many status calls a
    dataset stays processing and a kernel stays RUNNING.
    """
    state = KaggleStandIn(
        users or {"alice": "alice-secret-key-0123456789"},
        competitions if competitions is not None else [default_competition()],
        runner,
        processing_polls=processing_polls,
        running_polls=running_polls,
    )
    server = _Server(state)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, name="kaggle-stand-in", daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.release_stall()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
