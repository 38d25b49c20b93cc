"""The one way arcforge calls Kaggle: every call goes through `kaggle_call`, which retries only what is safe.

A call is *idempotent* when sending it twice has the effect of sending it once: the reads (status, lists,
downloads) and the resumable uploads (the upload state says where to go on). Those are retried on a 429,
a 5xx and a dropped connection. SaveKernel and CreateCodeSubmission (and the dataset creates) are not:
they are sent once. A 429 is still retried for them, since Kaggle refused the request without acting on
it (the kaggle CLI never retries SaveKernel either: `kaggle_api_extended.py` `kernels_push`).

Every failure becomes one `PublishError` in words: the HTTP status, or for a Kaggle that cannot be reached
(DNS, refused, TLS, proxy) the host and what to check. When the connection drops after a non-idempotent
request was sent, the error says that the request may have taken effect and how to check.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from arcforge_kaggle_publish.errors import PublishError

T = TypeVar("T")

MAX_ATTEMPTS = 6
FIRST_DELAY_S = 0.3
MAX_DELAY_S = 30.0
RETRIED_STATUSES = frozenset({429, 500, 502, 503, 504})
_HTTP_CODES = {401: "unauthorized", 403: "forbidden", 404: "not_found", 429: "rate_limited"}


def http_status(exc: BaseException) -> int | None:
    """The HTTP status of a `requests.HTTPError`, None for anything else."""
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    return status if isinstance(status, int) else None


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception and its causes/contexts (urllib3 and socket errors hide inside requests' errors)."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        nested = current.args[0] if current.args and isinstance(current.args[0], BaseException) else None
        reason = getattr(current, "reason", None)
        current = (
            current.__cause__
            or current.__context__
            or (reason if isinstance(reason, BaseException) else None)
            or nested
        )
    return seen


def _host_of(exc: BaseException, fallback: str) -> str:
    request = getattr(exc, "request", None)
    url = getattr(request, "url", None) or fallback
    return urlsplit(str(url)).netloc or str(url)


def unreachable_kind(exc: BaseException) -> str | None:
    """'dns', 'refused', 'tls', 'proxy' or 'timeout' when the request never reached Kaggle; else None."""
    import requests

    if isinstance(exc, requests.exceptions.ProxyError):
        return "proxy"
    if isinstance(exc, requests.exceptions.SSLError):
        return "tls"
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return "timeout"
    names = {type(e).__name__ for e in _chain(exc)}
    if names & {"NameResolutionError", "gaierror", "LocationParseError"}:
        return "dns"
    if names & {"ConnectionRefusedError", "NewConnectionError"}:
        return "refused"
    if names & {"SSLError", "SSLCertVerificationError"}:
        return "tls"
    return None


_UNREACHABLE_ADVICE = {
    "dns": "the name does not resolve: check the network and DNS, or ARCFORGE_KAGGLE_ENDPOINT if set",
    "refused": "nothing answers there: check the network, a firewall, or ARCFORGE_KAGGLE_ENDPOINT if set",
    "tls": "the TLS handshake failed: check the system clock, a proxy that rewrites TLS, or "
    "REQUESTS_CA_BUNDLE",
    "proxy": "the proxy failed: check HTTPS_PROXY / HTTP_PROXY / NO_PROXY",
    "timeout": "the connection timed out: check the network, a firewall or a proxy",
}
_UNREACHABLE_WORDS = {
    "dns": "cannot resolve",
    "refused": "connection refused by",
    "tls": "TLS failed with",
    "proxy": "the proxy could not reach",
    "timeout": "timed out connecting to",
}


def kaggle_call(
    what: str,
    fn: Callable[..., T],
    *args: Any,
    idempotent: bool,
    host: str = "",
    if_sent: str = "",
    **kwargs: Any,
) -> T:
    """`fn(*args, **kwargs)`, retried only where safe; every failure a `PublishError` naming `what`.

    `host` names Kaggle's address in messages when the exception carries none. `if_sent` is the advice
    for a non-idempotent call whose connection dropped after sending (how to check what happened).
    """
    import requests

    delay = FIRST_DELAY_S
    for attempt in range(1, MAX_ATTEMPTS + 1):
        last = attempt == MAX_ATTEMPTS
        try:
            return fn(*args, **kwargs)
        except requests.HTTPError as exc:
            status = http_status(exc) or 0
            if status in RETRIED_STATUSES and (idempotent or status == 429) and not last:
                delay = _sleep(exc, delay)
                continue
            error = _http_error(what, status, exc)
            if not idempotent and status >= 500:  # a server error after sending: it may still have happened
                error.advice = "it may have happened on Kaggle; " + (
                    if_sent or "check on kaggle.com before running it again"
                )
            raise error from None
        except (requests.ConnectionError, requests.Timeout) as exc:
            kind = unreachable_kind(exc)
            if kind is not None:
                target = _host_of(exc, host)
                raise PublishError(
                    f"{_UNREACHABLE_WORDS[kind]} {target} for {what}",
                    code="network",
                    advice=_UNREACHABLE_ADVICE[kind],
                ) from None
            if idempotent and not last:
                delay = _sleep(exc, delay)
                continue
            if not idempotent:
                raise PublishError(
                    f"the connection to {_host_of(exc, host)} dropped after {what} was sent: it may have "
                    "happened on Kaggle. It was not sent again",
                    code="maybe_sent",
                    advice=if_sent or "check on kaggle.com before running it again",
                ) from None
            raise PublishError(
                f"the connection to {_host_of(exc, host)} kept dropping during {what}",
                code="network",
                advice="check the network, then run the same command again; it resumes",
            ) from None
    raise AssertionError("unreachable: the last attempt returns or raises")


def _sleep(exc: BaseException, delay: float) -> float:
    """Wait before the next attempt (Retry-After on a 429, as the kaggle client honours it); the next delay."""
    retry_after = getattr(getattr(exc, "response", None), "headers", {}).get("Retry-After")
    try:
        wait = float(retry_after) if retry_after is not None else delay * (0.75 + random.random() / 2)
    except ValueError:
        wait = delay
    time.sleep(max(0.0, min(wait, MAX_DELAY_S)))
    return min(delay * 1.7, MAX_DELAY_S)


def kaggle_message(exc: BaseException) -> str:
    """Kaggle's own words from an error response ({"message": ...}), else the exception's text."""
    response = getattr(exc, "response", None)
    try:
        body = response.json() if response is not None else None
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("message"), str) and body["message"]:
        return str(body["message"])
    return str(exc)


def _http_error(what: str, status: int, exc: BaseException) -> PublishError:
    code = _HTTP_CODES.get(status, "http")
    advice = {
        "unauthorized": "sign in again: a new API token from kaggle.com → Settings → API, as KAGGLE_API_TOKEN "
        "or ~/.kaggle/access_token",
        "rate_limited": "Kaggle is rate-limiting this account; wait a minute and run again",
    }.get(code, "")
    return PublishError(
        f"Kaggle answered {status} to {what}: {kaggle_message(exc)}", code=code, advice=advice, status=status
    )
