"""Signing in to Kaggle: pick the credentials the kaggle client would, learn the username, say which was used.

A token's username comes from Kaggle (IntrospectToken), never from a file. A token Kaggle calls inactive is
passed over for the legacy key, as the kaggle client does (`_authenticate_with_access_token` falls through),
with a warning, since a refused token is usually an expired one.
"""

from __future__ import annotations

import sys

from arcforge_kaggle_publish.credentials import (
    TOKEN,
    Credentials,
    find_legacy_key,
    find_token,
    no_credentials_error,
)
from arcforge_kaggle_publish.errors import PublishError
from arcforge_kaggle_publish.kaggle_adapter import introspect_token


def sign_in() -> Credentials:
    """The credentials to use, with the username; a PublishError when there are none that Kaggle accepts."""
    found = find_token()
    refused = ""
    if found is not None:
        username = introspect_token(found.token)
        if username:
            return Credentials(username, found.token, TOKEN, found.source)
        refused = f"Kaggle did not accept the API token from {found.source} (expired or revoked)"
    legacy = find_legacy_key()
    if legacy is not None:
        if refused:
            print(
                f"arcforge-publish: warning: {refused}; using the legacy key from {legacy.source}",
                file=sys.stderr,
            )
        return legacy
    if refused:
        raise PublishError(
            refused,
            code="unauthorized",
            advice="make a new token at kaggle.com → Settings → API and put it in KAGGLE_API_TOKEN or "
            "~/.kaggle/access_token",
        )
    raise no_credentials_error()
