"""The only place that imports the `kaggle` package, and the one endpoint setting arcforge adds.

Why this module exists:
- `import kaggle` authenticates at import time (and prints help when it cannot), so the import happens
  here, lazily, after the credentials and environment are settled, with its chatter swallowed.
- kaggle 2.2.5 imports `six` without declaring it; arcforge-kaggle-publish declares `six` itself.
- The kaggle client has no public endpoint setting: kagglesdk picks its base URL from a fixed table
  (`KAGGLE_API_ENVIRONMENT` chooses prod, staging or `http://localhost` on port 80). The tests, and
  anyone with a Kaggle stand-in, need another base URL, so `ARCFORGE_KAGGLE_ENDPOINT=http://HOST:PORT`
  builds the client in its non-prod mode (calls go to `<endpoint>/api/v1/<service>/<Method>`) and sets
  that client's base URL. Nothing else about the client changes: requests, auth, retries and the
  resumable uploads are the kaggle package's own.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import os
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from arcforge_kaggle_publish.calls import kaggle_call
from arcforge_kaggle_publish.credentials import Credentials
from arcforge_kaggle_publish.errors import PublishError

ENDPOINT_ENV = "ARCFORGE_KAGGLE_ENDPOINT"
T = TypeVar("T")


def kaggle_endpoint() -> str | None:
    """The stand-in base URL from $ARCFORGE_KAGGLE_ENDPOINT, or None for the real Kaggle."""
    value = os.environ.get(ENDPOINT_ENV, "").strip().rstrip("/")
    if value and not value.startswith(("http://", "https://")):
        raise PublishError(f"{ENDPOINT_ENV}={value!r} is not an http(s) URL", code="config")
    return value or None


def kaggle_api_module() -> Any:
    """`kaggle.api.kaggle_api_extended`, imported once; the import-time authentication's output is discarded.

    Every other module reaches the kaggle package through this function (or after `build_api`), so the
    first import always happens here.
    """
    sink = io.StringIO()
    try:
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            # by module name: `kaggle/__init__` rebinds the attribute `kaggle.api` to a KaggleApi instance
            extended = importlib.import_module("kaggle.api.kaggle_api_extended")
    except ImportError as exc:
        raise PublishError(
            f"the kaggle client cannot be imported: {exc}",
            code="config",
            advice="pip install 'kaggle==2.2.5' six",
        ) from None
    return extended


def build_api(credentials: Credentials) -> Any:
    """A KaggleApi signed in with `credentials`, talking to Kaggle or to $ARCFORGE_KAGGLE_ENDPOINT."""
    endpoint = kaggle_endpoint()
    kaggle_api_class = kaggle_api_module().KaggleApi
    from kagglesdk.kaggle_client import KaggleClient
    from kagglesdk.kaggle_env import KaggleEnv

    class ArcforgeKaggleApi(kaggle_api_class):  # type: ignore[misc, valid-type]
        def build_kaggle_client(self) -> Any:
            client = KaggleClient(
                env=KaggleEnv.LOCAL if endpoint else KaggleEnv.PROD,
                username=credentials.username,
                password=credentials.key,
                response_processor=self.get_response_processor(),
            )
            if endpoint:
                # kagglesdk keeps the base URL here and offers no setter; see the module docstring.
                client.http_client()._endpoint = endpoint
            return client

    api = ArcforgeKaggleApi()
    api.config_values = {
        "username": credentials.username,
        "key": credentials.key,
        "auth_method": "LEGACY_API_KEY",
    }
    api._authenticated = True
    return api


def kaggle_host() -> str:
    """The host arcforge talks to, for messages: the stand-in's or Kaggle's API host."""
    endpoint = kaggle_endpoint()
    return urlsplit(endpoint).netloc if endpoint else "api.kaggle.com"


def sdk_call(
    api: Any,
    what: str,
    pick: Callable[[Any], Callable[[Any], T]],
    request: Any,
    *,
    idempotent: bool,
    if_sent: str = "",
) -> T:
    """One kagglesdk call, `pick(client)(request)` on a fresh client, through the one call wrapper."""

    def once() -> T:
        with api.build_kaggle_client() as kaggle:
            return pick(kaggle)(request)

    return kaggle_call(what, once, idempotent=idempotent, host=kaggle_host(), if_sent=if_sent)
