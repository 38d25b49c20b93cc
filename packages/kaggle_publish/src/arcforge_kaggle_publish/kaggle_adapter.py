"""The only place that imports the `kaggle` package, and the one endpoint setting arcforge adds.

Why this module exists:
- `import kaggle` authenticates at import time (a network call with a token, help printed when it
  cannot), so the import happens here, lazily, with every credential hidden and its chatter swallowed.
- kaggle 2.2.5 imports `six` without declaring it; arcforge-kaggle-publish declares `six` itself.
- The kaggle client has no public endpoint setting: kagglesdk picks its base URL from a fixed table
  (`KAGGLE_API_ENVIRONMENT` chooses prod, staging or `http://localhost` on port 80). The tests, and
  anyone with a Kaggle stand-in, need another base URL, so `ARCFORGE_KAGGLE_ENDPOINT=http://HOST:PORT`
  builds the client in its non-prod mode (calls go to `<endpoint>/api/v1/<service>/<Method>`) and sets
  that client's base URL. Nothing else about the client changes: requests, Bearer or Basic auth and
  the resumable uploads are the kaggle package's own; which calls are retried is `calls.py`'s rule.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from typing import Any, TypeVar
from urllib.parse import urlsplit

from arcforge_kaggle_publish.calls import kaggle_call
from arcforge_kaggle_publish.credentials import LEGACY, Credentials
from arcforge_kaggle_publish.errors import PublishError

ENDPOINT_ENV = "ARCFORGE_KAGGLE_ENDPOINT"
T = TypeVar("T")
# Read by the kaggle package when it is imported: hidden for the import (see `_import_without_signing_in`).
_SIGN_IN_ENV = ("KAGGLE_API_TOKEN", "KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_CONFIG_DIR", "HOME")


def kaggle_endpoint() -> str | None:
    """The stand-in base URL from $ARCFORGE_KAGGLE_ENDPOINT, or None for the real Kaggle."""
    value = os.environ.get(ENDPOINT_ENV, "").strip().rstrip("/")
    if value and not value.startswith(("http://", "https://")):
        raise PublishError(f"{ENDPOINT_ENV}={value!r} is not an http(s) URL", code="config")
    if value:
        try:
            urlsplit(value).port  # noqa: B018 -- raises on a malformed host or port
        except ValueError as exc:
            raise PublishError(f"{ENDPOINT_ENV}={value!r} is not a valid URL: {exc}", code="config") from None
    return value or None


@contextlib.contextmanager
def _import_without_signing_in() -> Iterator[None]:
    """Hide every credential while `import kaggle` runs its import-time `authenticate()`.

    With a token present, that call introspects it against api.kaggle.com (`_introspect_token`) whatever
    endpoint arcforge was told to use, and it creates the config folder; with the credentials hidden it
    finds none, gives up quietly (kaggle/__init__.py swallows the error) and touches nothing of the user's.
    arcforge signs in afterwards, itself, through the endpoint it was given.
    """
    saved = {name: os.environ.get(name) for name in _SIGN_IN_ENV}
    scratch = tempfile.mkdtemp(prefix="arcforge-kaggle-import-")
    try:
        for name in _SIGN_IN_ENV:
            os.environ.pop(name, None)
        os.environ["HOME"] = os.environ["KAGGLE_CONFIG_DIR"] = scratch
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        shutil.rmtree(scratch, ignore_errors=True)


def kaggle_api_module() -> Any:
    """`kaggle.api.kaggle_api_extended`, imported once, without the import-time sign-in or its chatter.

    Every other module reaches the kaggle package through this function (or after `build_api`), so the
    first import always happens here.
    """
    already = sys.modules.get("kaggle.api.kaggle_api_extended")
    if already is not None:
        return already
    sink = io.StringIO()
    try:
        with _import_without_signing_in(), contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            # by module name: `kaggle/__init__` rebinds the attribute `kaggle.api` to a KaggleApi instance
            extended = importlib.import_module("kaggle.api.kaggle_api_extended")
    except ImportError as exc:
        raise PublishError(
            f"the kaggle client cannot be imported: {exc}",
            code="config",
            advice="pip install 'kaggle==2.2.5' six",
        ) from None
    return extended


def _client(
    endpoint: str | None, credentials: Credentials | None, *, token: str = "", processor: Any = None
) -> Any:
    """A KaggleClient for `endpoint` (None: Kaggle itself) signed in with exactly these credentials."""
    from kagglesdk.kaggle_client import KaggleClient
    from kagglesdk.kaggle_env import KaggleEnv

    legacy = credentials if credentials is not None and credentials.method == LEGACY else None
    client = KaggleClient(
        env=KaggleEnv.LOCAL if endpoint else KaggleEnv.PROD,
        username=legacy.username if legacy else None,
        password=legacy.secret if legacy else None,
        api_token=token or (credentials.secret if credentials is not None and not legacy else None),
        response_processor=processor,
    )
    http = client.http_client()
    if endpoint:
        # kagglesdk keeps the base URL here and offers no setter; see the module docstring.
        http._endpoint = endpoint
    if legacy is not None:
        # kagglesdk's `_try_fill_auth` prefers any token in the environment over the key it was given; the
        # legacy key was chosen (no token, or Kaggle refused it), so the session signs in with the key.
        http._signed_in = True
        http._init_session()
        http._session.auth = (legacy.username, legacy.secret)
    return client


def introspect_token(token: str) -> str | None:
    """The username Kaggle has for this API token; None when Kaggle calls it inactive or invalid.

    The call the kaggle client makes at sign-in (`_introspect_token`), which also reads an answer of 400, 403
    or 404 as "not a valid token".
    """
    from kagglesdk.security.types.oauth_service import IntrospectTokenRequest

    kaggle_api_module()  # the kaggle package first: its import must not sign in (see above)
    request = IntrospectTokenRequest()
    request.token = token
    endpoint = kaggle_endpoint()

    def once() -> Any:
        with _client(endpoint, None, token=token) as kaggle:
            return kaggle.security.oauth_client.introspect_token(request)

    try:
        response = kaggle_call("IntrospectToken", once, idempotent=True, host=kaggle_host())
    except PublishError as exc:
        if exc.status in (400, 403, 404):
            return None
        raise
    if not response.active or not response.username:
        return None
    return str(response.username)


def build_api(credentials: Credentials) -> Any:
    """A KaggleApi signed in with `credentials`, talking to Kaggle or to $ARCFORGE_KAGGLE_ENDPOINT."""
    endpoint = kaggle_endpoint()
    kaggle_api_class = kaggle_api_module().KaggleApi

    class ArcforgeKaggleApi(kaggle_api_class):  # type: ignore[misc, valid-type]
        def build_kaggle_client(self) -> Any:
            return _client(endpoint, credentials, processor=self.get_response_processor())

    api = ArcforgeKaggleApi()
    # What `authenticate()` would have set (kaggle_api_extended.py `_authenticate_with_access_token` /
    # `_authenticate_with_legacy_apikey`); the high-level calls read the username from here.
    api.config_values = {"username": credentials.username}
    if credentials.method == LEGACY:
        api.config_values.update(key=credentials.secret, auth_method="LEGACY_API_KEY")
    else:
        api.config_values.update(token=credentials.secret, auth_method="ACCESS_TOKEN")
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
