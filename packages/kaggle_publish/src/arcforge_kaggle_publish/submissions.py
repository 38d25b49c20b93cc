"""Code submissions: create one (sent exactly once), then follow it until Kaggle has scored it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from arcforge_kaggle_publish.calls import kaggle_call
from arcforge_kaggle_publish.errors import PublishError
from arcforge_kaggle_publish.kaggle_adapter import kaggle_host, sdk_call
from arcforge_kaggle_publish.polling import poll_until


def create_code_submission(
    api: Any, *, competition: str, kernel_id: str, version: int, file_name: str, message: str
) -> Any:
    """CreateCodeSubmission, never resent: a second send would be a second submission of the day's few."""
    return kaggle_call(
        "CreateCodeSubmission",
        api.competition_submit_code,
        file_name,
        message,
        competition=competition,
        kernel=kernel_id,
        kernel_version=version,
        quiet=True,
        idempotent=False,
        host=kaggle_host(),
        if_sent=f"check the competition's submissions page on kaggle.com/competitions/{competition} "
        "before submitting again",
    )


@dataclass(frozen=True)
class _Status:
    name: str


@dataclass(frozen=True)
class UnseenSubmission:
    """What a submission Kaggle does not show yet (404 right after CreateCodeSubmission) reads as: PENDING."""

    ref: int
    status: _Status = _Status("PENDING")
    public_score: str = ""
    error_description: str = ""


def get_submission(api: Any, ref: int) -> Any:
    """The submission; a 404 reads as PENDING, as the kaggle CLI's `_poll_submission` does right after creating."""
    from kagglesdk.competitions.types.competition_api_service import ApiGetSubmissionRequest

    request = ApiGetSubmissionRequest()
    request.ref = ref
    try:
        return sdk_call(
            api,
            "GetSubmission",
            lambda k: k.competitions.competition_api_client.get_submission,
            request,
            idempotent=True,
        )
    except PublishError as exc:
        if exc.status == 404:
            return UnseenSubmission(ref)
        raise


def follow_submission(
    api: Any,
    ref: int,
    *,
    on_change: Any,
    wait: bool,
    poll_seconds: float,
    timeout_s: float,
) -> Any:
    """The submission once it is no longer PENDING (or at once without `wait`)."""
    return poll_until(
        lambda: get_submission(api, ref),
        label=lambda s: str(s.status.name),
        final=lambda s: s.status.name != "PENDING",
        on_change=on_change,
        poll_seconds=poll_seconds,
        timeout_s=timeout_s,
        what=f"submission #{ref}",
        wait=wait,
    )
