"""The one error type the CLI turns into a clear message and a non-zero exit."""

from __future__ import annotations


class PublishError(Exception):
    """Something the user can act on: the message says what failed and, where known, what to do.

    `status` is Kaggle's HTTP status when the error is Kaggle's answer.
    """

    def __init__(
        self, message: str, *, code: str = "failed", advice: str = "", status: int | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.advice = advice
        self.status = status

    def __str__(self) -> str:
        return f"{self.message} ({self.advice})" if self.advice else self.message
