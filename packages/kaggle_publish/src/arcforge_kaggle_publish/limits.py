"""Kaggle's dataset limits, checked before anything is uploaded."""

from __future__ import annotations

import re

from arcforge_kaggle_publish.errors import PublishError

SLUG_RE = re.compile(r"^[A-Za-z0-9-]{6,50}$")
OWNER_RE = re.compile(r"^[A-Za-z0-9_-]{1,100}$")
MAX_FILES = 1000
# Licence names the Kaggle API accepts for datasets (kaggle.com/docs/api, dataset metadata).
LICENSES = (
    "CC0-1.0",
    "CC-BY-SA-3.0",
    "CC-BY-SA-4.0",
    "CC-BY-NC-SA-4.0",
    "CC-BY-4.0",
    "CC-BY-3.0",
    "CC-BY-NC-4.0",
    "GPL-2.0",
    "GPL-3.0",
    "LGPL-3.0",
    "AGPL-3.0",
    "Apache 2.0",
    "MIT",
    "BSD-3-Clause",
    "ODbL-1.0",
    "PDDL",
    "ODC-BY-1.0",
    "DbCL-1.0",
    "copyright-authors",
    "other",
    "unknown",
)
_LICENSE_ALIASES = {"apache-2.0": "Apache 2.0", "apache2": "Apache 2.0", "cc0": "CC0-1.0", "mit": "MIT"}


def split_id(value: str, what: str = "id") -> tuple[str, str]:
    """OWNER/SLUG → (owner, slug), with Kaggle's slug rules enforced."""
    owner, sep, slug = value.partition("/")
    if not sep or "/" in slug or not OWNER_RE.match(owner):
        raise PublishError(f"{what} {value!r} is not OWNER/SLUG", code="usage")
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
    raise PublishError(f"unknown licence {name!r}; Kaggle accepts: {', '.join(LICENSES)}", code="usage")


def title_from_slug(slug: str) -> str:
    title = slug.replace("-", " ").strip()
    return title if len(title) >= 6 else (title + " dataset")[:50]
