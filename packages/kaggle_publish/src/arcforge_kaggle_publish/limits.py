"""Kaggle's dataset limits, checked before anything is uploaded."""

from __future__ import annotations

import re

from arcforge_kaggle_publish.errors import PublishError

SLUG_RE = re.compile(r"^[A-Za-z0-9-]{6,50}$")
OWNER_RE = re.compile(r"^[A-Za-z0-9_-]{1,100}$")
MAX_FILES = 1000
# Licence names Kaggle accepts for datasets (Kaggle/kaggle-api docs/datasets_metadata.md). Models have their own
# list (docs/models_metadata.md: "Apache 2.0", ...), which the dataset API does not take.
LICENSES = (
    "CC0-1.0",
    "CC-BY-SA-3.0",
    "CC-BY-SA-4.0",
    "CC-BY-NC-SA-4.0",
    "GPL-2.0",
    "ODbL-1.0",
    "DbCL-1.0",
    "copyright-authors",
    "other",
    "unknown",
    "CC-BY-4.0",
    "CC-BY-NC-4.0",
    "PDDL",
    "CC-BY-3.0",
    "CC-BY-3.0-IGO",
    "US-Government-Works",
    "CC-BY-NC-SA-3.0-IGO",
    "CDLA-Permissive-1.0",
    "CDLA-Sharing-1.0",
    "CC-BY-ND-4.0",
    "CC-BY-NC-ND-4.0",
    "ODC-BY-1.0",
    "LGPL-3.0",
    "AGPL-3.0",
    "FDL-1.3",
    "EU-ODP-Legal-Notice",
    "apache-2.0",
    "GPL-3.0",
)
# Names people type for a licence that Kaggle's dataset list spells otherwise.
_LICENSE_ALIASES = {
    "apache 2.0": "apache-2.0",
    "apache2": "apache-2.0",
    "apache-2": "apache-2.0",
    "cc0": "CC0-1.0",
    "gpl-3": "GPL-3.0",
}
# The owner in arcforge.toml until a user writes their own (tasks.py passes it through).
PLACEHOLDER_OWNER = "your-kaggle-username"
# ARC Prize editions whose data and submission.json the notebook handles (same JSON format).
SUPPORTED_COMPETITIONS = ("arc-prize-2026-arc-agi-2", "arc-prize-2025", "arc-prize-2024")
FRAMEWORKS_HELP = "transformers, pyTorch, jax, keras, gemmaCpp, ..."


def check_owner(owner: str, value: str, what: str) -> None:
    if owner.lower() == PLACEHOLDER_OWNER:
        raise PublishError(
            f"{what} {value!r} still has the placeholder owner {PLACEHOLDER_OWNER!r}",
            code="usage",
            advice="write your Kaggle username in arcforge.toml, or give just the slug to publish under the "
            "signed-in account",
        )


def split_ref(value: str, what: str = "id") -> tuple[str, str]:
    """OWNER/SLUG or a bare SLUG → (owner or '', slug); the placeholder owner is refused."""
    if "/" not in value:
        if not SLUG_RE.match(value):
            raise PublishError(
                f"{what} {value!r}: the slug must be 6–50 characters of letters, digits and '-'", code="usage"
            )
        return "", value
    return split_id(value, what)


def check_competition(name: str) -> str:
    """The competition slug, refused when it is an edition the notebook cannot answer."""
    lowered = name.strip().lower()
    if "agi-3" in lowered or "agi3" in lowered:
        raise PublishError(
            f"{name!r} is ARC-AGI-3: interactive agents answered in a parquet submission, not the "
            "arc-agi_test_challenges.json → submission.json format arcforge solves",
            code="usage",
            advice=f"use --competition {SUPPORTED_COMPETITIONS[0]} (ARC-AGI-2)",
        )
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]{2,80}", lowered):
        raise PublishError(f"competition {name!r} is not a Kaggle competition slug", code="usage")
    return lowered


def split_model_handle(value: str) -> tuple[str, str, str, str, int | None]:
    """OWNER/MODEL/FRAMEWORK/VARIATION[/VERSION] (a Kaggle Models instance) → its parts."""
    parts = value.strip().strip("/").split("/")
    if len(parts) not in (4, 5) or not all(parts):
        raise PublishError(
            f"--model {value!r} is not OWNER/MODEL/FRAMEWORK/VARIATION[/VERSION], e.g. "
            "google/codegemma/transformers/7b-it",
            code="usage",
            advice=f"copy the handle from the model's page on kaggle.com/models; FRAMEWORK is {FRAMEWORKS_HELP}",
        )
    check_owner(parts[0], value, "--model")
    version: int | None = None
    if len(parts) == 5:
        if not parts[4].isdigit() or int(parts[4]) < 1:
            raise PublishError(f"--model {value!r}: the version must be a number ≥ 1", code="usage")
        version = int(parts[4])
    return parts[0], parts[1], parts[2], parts[3], version


def split_id(value: str, what: str = "id") -> tuple[str, str]:
    """OWNER/SLUG → (owner, slug), with Kaggle's slug rules enforced."""
    owner, sep, slug = value.partition("/")
    if not sep or "/" in slug or not OWNER_RE.match(owner):
        raise PublishError(f"{what} {value!r} is not OWNER/SLUG", code="usage")
    check_owner(owner, value, what)
    if not SLUG_RE.match(slug):
        raise PublishError(
            f"{what} {value!r}: the slug must be 6–50 characters of letters, digits and '-' (got {len(slug)})",
            code="usage",
        )
    return owner, slug


def check_title(title: str) -> str:
    title = title.strip()
    if not 6 <= len(title) <= 50:
        raise PublishError(f"title {title!r} must be 6–50 characters (got {len(title)})", code="usage")
    return title


def normalize_license(name: str) -> str:
    """One licence, as Kaggle names it; `apache-2.0` and friends are accepted."""
    if "," in name:
        raise PublishError(f"exactly one licence, not {name!r}", code="usage")
    canonical = _LICENSE_ALIASES.get(name.strip().lower(), name.strip())
    for known in LICENSES:
        if known.lower() == canonical.lower():
            return known
    raise PublishError(
        f"licence {name!r} is not one of Kaggle's dataset licences: {', '.join(LICENSES)}",
        code="usage",
        advice="the Models list (e.g. 'Apache 2.0', 'MIT') is not the datasets list; for Apache use apache-2.0",
    )


def title_from_slug(slug: str) -> str:
    title = slug.replace("-", " ").strip()
    return title if len(title) >= 6 else (title + " dataset")[:50]
