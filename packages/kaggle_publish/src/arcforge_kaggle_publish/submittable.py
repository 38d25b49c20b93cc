"""Which notebook version may be submitted, and what its competition rerun will do.

Kaggle scores a code submission by rerunning the submitted version on the hidden tasks; only that rerun
counts. So a version is submitted only when its commit run ran to COMPLETE, `arcforge-publish output`
validated its submission, its notebook knows how to rerun (RERUN_SUPPORT) and its solver did not crash.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from arcforge_kaggle_publish.errors import PublishError
from arcforge_kaggle_publish.notebook import RERUN_SUPPORT, accelerator_for
from arcforge_kaggle_publish.records import Records

NOTEBOOK_FIELDS = (
    "rerun_support",
    "arcforge_version",
    "test_mode",
    "rerun",
    "engine",
    "workers",
    "gpus",
    "accelerator",
    "solver_exit_code",
    "submission_source",
    "forecast",
    "tasks",
)


def notebook_run(output_dir: Path) -> dict[str, Any]:
    """What the notebook recorded about its run in arcforge-provenance.json ({} for an older notebook)."""
    try:
        provenance = json.loads((output_dir / "arcforge-provenance.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(provenance, dict):
        return {}
    return {key: provenance[key] for key in NOTEBOOK_FIELDS if key in provenance}


def crash_warning(run: dict[str, Any]) -> str | None:
    """Why this commit run's submission is not the solver's own, if it is not."""
    exit_code = run.get("solver_exit_code")
    if exit_code not in (None, 0):
        return f"the solver exited with {exit_code}; the submission is the last valid one it left"
    if run.get("submission_source") == "fallback":
        return "the solver left no valid submission; the notebook wrote the fallback"
    return None


def _versions(records: Records, kernel_id: str) -> dict[int, dict[str, Any]]:
    versions = records.load()["kernels"].get(kernel_id.lower(), {})
    return {int(v): r for v, r in versions.items() if v.isdigit() and isinstance(r, dict)}


def _refusal(kernel_id: str, version: int, record: dict[str, Any]) -> str | None:
    """Why this version must not be submitted, or None."""
    ref = f"{kernel_id}/{version}"
    if not record.get("validated"):
        return (
            f"{ref} has no validated submission: run `arcforge-publish output {kernel_id} --version {version} "
            "--to DIR` once its run is COMPLETE"
        )
    run = record.get("notebook") or {}
    stamps = [record.get("rerun_support"), run.get("rerun_support")]
    if any(not isinstance(s, int) or s < RERUN_SUPPORT for s in stamps):
        return (
            f"{ref} was pushed with a notebook that predates rerun support (it would rerun in whatever mode "
            "it was pushed in); push the notebook again with this arcforge-publish, run it, and submit that version"
        )
    crashed = crash_warning(run)
    if crashed:
        return f"{ref}: {crashed} in its commit run, so its rerun would likely score nothing"
    return None


def choose_version(records: Records, kernel_id: str, requested: int | None) -> tuple[int, dict[str, Any]]:
    """The requested version if it may be submitted, else the last pushed one that may; a clear error
    naming what is missing otherwise."""
    versions = _versions(records, kernel_id)
    if requested is not None:
        record = versions.get(requested)
        if record is None:
            raise PublishError(
                f"{kernel_id}/{requested} was not pushed from here ({records.path} has no record of it)",
                code="usage",
                advice="push with `arcforge-publish kernel --run`, then fetch its output",
            )
        refusal = _refusal(kernel_id, requested, record)
        if refusal:
            raise PublishError(refusal, code="not_submittable")
        return requested, record
    if not versions:
        raise PublishError(
            f"no pushed version of {kernel_id} in {records.path}",
            code="usage",
            advice="push once in TEST_MODE: `invoke test-run --on kaggle`, then `invoke submit`",
        )
    reasons = []
    for version in sorted(versions, reverse=True):
        refusal = _refusal(kernel_id, version, versions[version])
        if refusal is None:
            return version, versions[version]
        reasons.append(refusal)
    raise PublishError(
        f"no version of {kernel_id} can be submitted:\n  " + "\n  ".join(reasons[:5]), code="not_submittable"
    )


def _hours(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 60:.0f} min" if seconds >= 60 else f"{seconds:.0f} s"


def rerun_summary(record: dict[str, Any]) -> str:
    """`the rerun solves all tasks in up to 11.0 h on 4 x NVIDIA L4 (engine hybrid, ...)`."""
    run = record.get("notebook") or {}
    forecast = run.get("forecast") or {}
    accelerator = run.get("accelerator") or {}
    pushed_for = accelerator_for(str(record.get("accelerator") or "")) or {}
    machine = (
        accelerator.get("label")
        or forecast.get("machine")
        or pushed_for.get("label")
        or record.get("accelerator")
        or "Kaggle's machine"
    )
    budget = forecast.get("budget_s")
    words = "the rerun solves all tasks of the hidden set" + (
        f" in up to {_hours(float(budget))}" if budget else ""
    )
    words += f" on {machine}"
    details = [f"engine {run.get('engine') or '?'}"]
    # The solver's own forecast of the full run, measured on the commit run's TEST_MODE tasks.
    if forecast.get("expected_hours") is not None:
        details.append(
            f"expected {float(forecast['expected_hours']):.1f} h, {float(forecast.get('gpu_hours') or 0):.1f} GPU hours"
        )
    if forecast.get("time_per_task_s"):
        lanes = forecast.get("lanes")
        details.append(
            f"{_hours(float(forecast['time_per_task_s']))} per task" + (f" on {lanes} lanes" if lanes else "")
        )
    return f"{words} ({', '.join(details)})"
