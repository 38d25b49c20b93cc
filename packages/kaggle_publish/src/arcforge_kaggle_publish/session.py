"""What every `arcforge-publish` command shares: the state dir, the credentials, redaction, the kaggle client."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from arcforge_kaggle_publish.credentials import Credentials, Redactor
from arcforge_kaggle_publish.events import resolve_state_dir
from arcforge_kaggle_publish.limits import split_ref
from arcforge_kaggle_publish.reporter import Reporter


class Session:
    """One command's parsed arguments and its lazily built sign-in and client."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.state_dir = resolve_state_dir(args.state_dir)
        self.redact = Redactor()
        self._credentials: Credentials | None = None
        self._api: Any = None

    @property
    def credentials(self) -> Credentials:
        if self._credentials is None:
            from arcforge_kaggle_publish.signin import sign_in

            self._credentials = sign_in()
            self.redact.add(self._credentials.secret)
            print(self._credentials.describe(), file=sys.stderr)
        return self._credentials

    @property
    def api(self) -> Any:
        if self._api is None:
            from arcforge_kaggle_publish.kaggle_adapter import build_api

            self._api = build_api(self.credentials)
        return self._api

    def full_ref(self, value: str, what: str) -> str:
        """OWNER/SLUG as given, or a bare SLUG under the signed-in user; the placeholder owner is refused."""
        owner, slug = split_ref(value, what)
        return f"{owner or self.credentials.username}/{slug}"

    def reporter(self, stage: str = "upload") -> Reporter:
        return Reporter(stage, self.state_dir, self.redact)
