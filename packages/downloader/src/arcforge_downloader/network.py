"""How the transfer engine reaches a host: the proxy and the CA trust that huggingface_hub's HTTP client uses.

Metadata goes through huggingface_hub's client (httpx, or httpx2 for huggingface_hub 2.x), which takes
`HTTPS_PROXY` / `HTTP_PROXY` / `ALL_PROXY` / `NO_PROXY` from the environment and builds its TLS
context with its own `create_ssl_context()`. The byte stream must reach the Hub and its CDN the same
way, or a user behind a proxy (or on a Python without a system CA bundle) sees the file list work
and every transfer fail. So this module asks the same sources: `urllib.request.getproxies()` (what
httpx reads too) and the client library's own `create_ssl_context()`.
"""

from __future__ import annotations

import base64
import importlib
import ssl
import urllib.request
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit


class ProxyConfigError(Exception):
    """A proxy variable in the environment that cannot be used; the message names it."""


@dataclass(frozen=True)
class Proxy:
    """An HTTP proxy: `host:port` to connect to, and the Proxy-Authorization header it needs, if any."""

    netloc: str
    authorization: str | None
    url: str  # as the environment gave it, for messages (credentials stripped)

    @property
    def headers(self) -> dict[str, str]:
        return {"Proxy-Authorization": self.authorization} if self.authorization else {}


def proxy_for(url: str) -> Proxy | None:
    """The proxy the environment names for `url`, or None (no proxy, or NO_PROXY matches its host)."""
    parts = urlsplit(url)
    proxies = urllib.request.getproxies()
    chosen = proxies.get(parts.scheme) or proxies.get("all")
    if not chosen:
        return None
    if bypassed(parts.hostname or "", parts.port, proxies.get("no", "")):
        return None
    return parse_proxy(chosen)


def bypassed(host: str, port: int | None, no_proxy: str) -> bool:
    """Whether NO_PROXY names `host`: `*`, the host itself, a parent domain (`example.com` and
    `.example.com` both cover `cdn.example.com`), optionally with `:port`; as httpx and curl read it."""
    host = host.lower().strip("[]")
    for entry in (e.strip().lower() for e in no_proxy.split(",")):
        if not entry:
            continue
        if entry == "*":
            return True
        name, _, entry_port = entry.rpartition(":") if entry.count(":") == 1 else (entry, "", "")
        if entry_port and entry_port != str(port):
            continue
        name = name.strip("[]").lstrip(".")
        if host == name or host.endswith("." + name):
            return True
    return False


def parse_proxy(value: str) -> Proxy:
    text = value if "://" in value else f"http://{value}"
    try:
        parts = urlsplit(text)
        port = parts.port or 8080
    except ValueError as exc:
        raise ProxyConfigError(f"the proxy {value!r} is not a URL: {exc}") from None
    if parts.scheme != "http":
        # TLS to the proxy itself (https://proxy) would wrap a TLS tunnel in TLS: http.client cannot.
        raise ProxyConfigError(
            f"the proxy {parts.scheme}://{parts.hostname}:{port} is reached over {parts.scheme}; "
            "arcforge-download talks to proxies over plain http:// (CONNECT for https targets)"
        )
    if not parts.hostname:
        raise ProxyConfigError(f"the proxy {value!r} names no host")
    authorization = None
    if parts.username is not None:
        pair = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
        authorization = "Basic " + base64.b64encode(pair).decode("ascii")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return Proxy(f"{host}:{port}", authorization, f"http://{host}:{port}")


def tls_context() -> ssl.SSLContext:
    """The TLS context huggingface_hub's HTTP client would build, so bytes and metadata trust the same CAs.

    httpx2 (huggingface_hub 2.x) trusts SSL_CERT_FILE / SSL_CERT_DIR, else the system store; httpx
    (1.x) trusts certifi's bundle. Without either library, certifi if installed, else the system store.
    """
    for module_name in ("httpx2", "httpx"):
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        factory = getattr(module, "create_ssl_context", None)
        if factory is not None:
            context = factory()
            if isinstance(context, ssl.SSLContext):
                return context
    try:
        certifi = importlib.import_module("certifi")
    except ImportError:
        return ssl.create_default_context()
    return ssl.create_default_context(cafile=certifi.where())
