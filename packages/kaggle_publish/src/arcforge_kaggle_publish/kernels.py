"""Push the notebook, follow its runs, fetch and check its output."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from arcforge_kaggle_publish.errors import PublishError
from arcforge_kaggle_publish.kaggle_adapter import kaggle_call
from arcforge_kaggle_publish.reporter import Reporter

FINAL_STATES = ("COMPLETE", "ERROR", "CANCEL_ACKNOWLEDGED")


def kernel_ref(kernel_id: str, version: int | None) -> str:
    return f"{kernel_id}/{version}" if version else kernel_id


def push_kernel(api: Any, folder: Path, run: bool) -> Any:
    """Save (and run) the notebook in `folder`; SaveKernel's `error` is a failure even under HTTP 200."""
    import requests

    try:
        response = api.with_retry(api.kernels_push, max_retries=6, initial_delay_millis=300)(
            str(folder), no_run=not run
        )
    except requests.HTTPError as exc:
        status = exc.response.status_code if exc.response is not None else 0
        raise PublishError(f"Kaggle answered {status} to SaveKernel: {exc}", code="http") from None
    except ValueError as exc:  # the client's own checks of kernel-metadata.json
        raise PublishError(f"the kaggle client rejected {folder}: {exc}", code="usage") from None
    problems = []
    if response.error:
        problems.append(str(response.error))
    for label, bad in (
        ("invalid dataset sources", response.invalid_dataset_sources),
        ("invalid competition sources", response.invalid_competition_sources),
        ("invalid kernel sources", response.invalid_kernel_sources),
        ("invalid model sources", response.invalid_model_sources),
    ):
        if bad:
            problems.append(f"{label}: {', '.join(bad)}")
    if problems:
        raise PublishError("Kaggle did not save the notebook: " + "; ".join(problems), code="rejected")
    return response


def kernel_status(api: Any, kernel_id: str, version: int | None) -> tuple[str, str]:
    """(status name, failure message) of a notebook's latest or given version."""
    from kagglesdk.kernels.types.kernels_api_service import ApiGetKernelSessionStatusRequest

    owner, _, slug = kernel_id.partition("/")
    request = ApiGetKernelSessionStatusRequest()
    request.user_name, request.kernel_slug = owner, slug
    if version:
        request.version_label = f"v{version}"  # the API wants v<N>
    with api.build_kaggle_client() as kaggle:
        response = kaggle_call(api, kaggle.kernels.kernels_api_client.get_kernel_session_status, request)
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
    delay, deadline, last = poll_seconds, time.monotonic() + timeout_s, ""
    while True:
        status, failure = kernel_status(api, kernel_id, version)
        if status != last:
            reporter.emit("item", kernel=kernel_id, status=status, message=failure, version=version)
            reporter.say(f"{kernel_ref(kernel_id, version)}: {status}" + (f": {failure}" if failure else ""))
            last = status
        if not wait or status in FINAL_STATES:
            return status, failure
        if time.monotonic() > deadline:
            raise PublishError(f"{kernel_id} was still {status} after {timeout_s:.0f}s", code="timeout")
        time.sleep(delay)
        delay = min(delay * 1.5, 60.0)


def fetch_output(api: Any, kernel_id: str, version: int | None, to: Path) -> list[Path]:
    """Download the version's output files and its log with the kaggle client."""
    import requests

    to.mkdir(parents=True, exist_ok=True)
    ref = f"{kernel_id}/{version}" if version else kernel_id
    try:
        files, _token = api.with_retry(api.kernels_output, max_retries=6, initial_delay_millis=300)(
            ref, str(to), force=True, quiet=True
        )
    except requests.HTTPError as exc:
        status = exc.response.status_code if exc.response is not None else 0
        raise PublishError(
            f"Kaggle answered {status} to ListKernelSessionOutput for {ref}: {exc}", code="http"
        ) from None
    except ValueError as exc:
        raise PublishError(f"cannot fetch the output of {ref}: {exc}", code="http") from None
    return [Path(f) for f in files]


def solver_command() -> list[str]:
    """How to run the solver's CLI: arcforge-solve beside this interpreter, on PATH, or `python -m`."""
    beside = Path(sys.executable).parent / ("arcforge-solve.exe" if os.name == "nt" else "arcforge-solve")
    if beside.is_file():
        return [str(beside)]
    on_path = shutil.which("arcforge-solve")
    if on_path:
        return [on_path]
    import importlib.util

    if importlib.util.find_spec("arcforge_solver") is not None:  # finds it without importing it
        return [sys.executable, "-m", "arcforge_solver"]
    raise PublishError(
        "arcforge-solve is not installed, so the submission cannot be validated",
        code="config",
        advice="pip install arcforge-solver (or the workspace: pip install -r requirements.txt)",
    )


def validate_submission(submission: Path, tasks: Path) -> str:
    """Run `arcforge-solve validate`; its output on success, a PublishError with its words on failure."""
    done = subprocess.run(
        [*solver_command(), "validate", str(submission), "--tasks", str(tasks)],
        capture_output=True,
        text=True,
        check=False,
    )
    words = (done.stdout + done.stderr).strip()
    if done.returncode != 0:
        raise PublishError(f"{submission} is not a valid submission: {words}", code="invalid_submission")
    return words


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def last_run_events(path: Path) -> list[dict[str, Any]]:
    """The events of the last run in a test-run.jsonl; junk lines are skipped."""
    events: list[dict[str, Any]] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return events
    for line in lines:
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if not isinstance(event, dict) or not isinstance(event.get("data"), dict):
            continue
        if event.get("kind") == "start":
            events = []
        events.append(event)
    return events
