"""Push the notebook, follow its runs and fetch its output, each call through the one call wrapper."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from arcforge_kaggle_publish.calls import kaggle_call
from arcforge_kaggle_publish.errors import PublishError
from arcforge_kaggle_publish.kaggle_adapter import kaggle_host, sdk_call
from arcforge_kaggle_publish.limits import split_model_handle
from arcforge_kaggle_publish.polling import poll_until
from arcforge_kaggle_publish.reporter import Reporter

FINAL_STATES = ("COMPLETE", "ERROR", "CANCEL_ACKNOWLEDGED")


def kernel_ref(kernel_id: str, version: int | None) -> str:
    return f"{kernel_id}/{version}" if version else kernel_id


def push_kernel(api: Any, folder: Path, run: bool, kernel_id: str) -> Any:
    """Save (and run) the notebook in `folder`, sent exactly once; SaveKernel's `error` is a failure."""
    try:
        response = kaggle_call(
            "SaveKernel",
            api.kernels_push,
            str(folder),
            no_run=not run,
            idempotent=False,
            host=kaggle_host(),
            if_sent=f"check with: arcforge-publish status {kernel_id}; push again only if no new version is listed",
        )
    except ValueError as exc:  # the client's own checks of kernel-metadata.json
        raise PublishError(f"the kaggle client rejected {folder}: {exc}", code="usage") from None
    problems = []
    for label, bad in (
        ("invalid dataset sources", response.invalid_dataset_sources),
        ("invalid competition sources", response.invalid_competition_sources),
        ("invalid kernel sources", response.invalid_kernel_sources),
        ("invalid model sources", response.invalid_model_sources),
    ):
        if bad:
            problems.append(f"{label}: {', '.join(bad)}")
    if response.error or problems or not response.version_number:
        # SaveKernel answers HTTP 200 with versionNumber null, ref "" and Kaggle's words when it saved nothing,
        # e.g. "Maximum batch GPU session count of 2 reached" (competitors' public code; real-world.md).
        words = "; ".join([str(response.error or "no version number in Kaggle's answer"), *problems])
        raise PublishError(
            f"Kaggle did not save {kernel_id}: {words}", code="rejected", advice=_save_kernel_advice(words)
        )
    return response


def _save_kernel_advice(words: str) -> str:
    lowered = words.lower()
    if "session count" in lowered or "concurrent" in lowered:
        return (
            "Kaggle runs at most two GPU sessions at once per account: wait for one to finish (arcforge-publish "
            "status OWNER/SLUG, or stop one at kaggle.com/code), then push again"
        )
    if "invalid" in lowered and "source" in lowered:
        return "publish the dataset or model first (or fix its name), then push again"
    if "quota" in lowered:
        return "the weekly GPU quota is spent; see kaggle.com → Settings → quotas"
    return "fix what Kaggle names, then push again"


def resolve_model_source(api: Any, handle: str) -> str:
    """OWNER/MODEL/FRAMEWORK/VARIATION[/VERSION] → the full handle with a version, as the kaggle client needs.

    kaggle 2.2.5 `kernels_push` accepts only OWNER/MODEL/FRAMEWORK/VARIATION/VERSION in model_sources
    (`validate_model_instance_version_string`), so a handle without one gets the instance's latest version.
    """
    owner, model, framework, variation, version = split_model_handle(handle)
    if version is not None:
        return f"{owner}/{model}/{framework}/{variation}/{version}"
    instance = kaggle_call(
        f"GetModelInstance for {handle}",
        api.model_instance_get,
        f"{owner}/{model}/{framework}/{variation}",
        idempotent=True,
        host=kaggle_host(),
    )
    latest = int(getattr(instance, "version_number", 0) or 0)
    if latest < 1:
        raise PublishError(f"Kaggle Models has no version of {handle}", code="not_found")
    return f"{owner}/{model}/{framework}/{variation}/{latest}"


def kernel_status(api: Any, kernel_id: str, version: int | None) -> tuple[str, str]:
    """(status name, failure message) of a notebook's latest or given version."""
    from kagglesdk.kernels.types.kernels_api_service import ApiGetKernelSessionStatusRequest

    owner, _, slug = kernel_id.partition("/")
    request = ApiGetKernelSessionStatusRequest()
    request.user_name, request.kernel_slug = owner, slug
    if version:
        request.version_label = f"v{version}"  # the API wants v<N>
    response = sdk_call(
        api,
        "GetKernelSessionStatus",
        lambda k: k.kernels.kernels_api_client.get_kernel_session_status,
        request,
        idempotent=True,
    )
    return response.status.name, response.failure_message or ""


def wait_for_kernel(
    api: Any,
    *,
    kernel_id: str,
    version: int | None,
    reporter: Reporter,
    wait: bool,
    poll_seconds: float,
    timeout_s: float,
) -> tuple[str, str]:
    def show(state: tuple[str, str]) -> None:
        status, failure = state
        reporter.emit("item", kernel=kernel_id, status=status, message=failure, version=version)
        reporter.say(f"{kernel_ref(kernel_id, version)}: {status}" + (f": {failure}" if failure else ""))

    return poll_until(
        lambda: kernel_status(api, kernel_id, version),
        label=lambda state: state[0],
        final=lambda state: state[0] in FINAL_STATES,
        on_change=show,
        poll_seconds=poll_seconds,
        timeout_s=timeout_s,
        what=kernel_ref(kernel_id, version),
        wait=wait,
    )


def current_kernel_version(api: Any, kernel_id: str) -> int | None:
    """The notebook's latest version number, from GetKernel."""
    from kagglesdk.kernels.types.kernels_api_service import ApiGetKernelRequest

    owner, _, slug = kernel_id.partition("/")
    request = ApiGetKernelRequest()
    request.user_name, request.kernel_slug = owner, slug
    response = sdk_call(
        api, "GetKernel", lambda k: k.kernels.kernels_api_client.get_kernel, request, idempotent=True
    )
    metadata = response.metadata
    return int(metadata.current_version_number or 0) or None if metadata is not None else None


def fetch_output(api: Any, kernel_id: str, version: int | None, to: Path) -> list[Path]:
    """Download the version's output files and its log with the kaggle client."""
    ref = kernel_ref(kernel_id, version)
    try:
        files, _token = kaggle_call(
            f"ListKernelSessionOutput for {ref}",
            api.kernels_output,
            ref,
            str(to),
            force=True,
            quiet=True,
            idempotent=True,
            host=kaggle_host(),
        )
    except ValueError as exc:
        raise PublishError(f"cannot fetch the output of {ref}: {exc}", code="http") from None
    return [Path(f) for f in files]
