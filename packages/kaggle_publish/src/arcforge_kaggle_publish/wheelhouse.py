"""Build the wheelhouse: the four arcforge packages, plus the third-party wheels the Kaggle image lacks.

torch, the CUDA libraries and triton are never included: the Kaggle image has its own CUDA build,
and a wheelhouse copy would be several GB and mismatched with the drivers.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

from arcforge_kaggle_publish.errors import PublishError

ARCFORGE_PACKAGES = ("solver", "downloader", "kaggle_publish", "tui")
EXCLUDED = re.compile(
    r"^(torch|torchvision|torchaudio|triton|nvidia-[\w-]+|cuda-[\w-]+|pytorch-triton[\w-]*)$", re.I
)


def requirement_name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;@]", requirement.strip(), maxsplit=1)[0]


def default_third_party(packages_dir: Path) -> list[str]:
    """The solver's runtime and llm dependencies (what the notebook runs), less torch/CUDA/triton."""
    pyproject = packages_dir / "solver" / "pyproject.toml"
    try:
        project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    except (OSError, KeyError, tomllib.TOMLDecodeError) as exc:
        raise PublishError(
            f"cannot read the solver's dependencies from {pyproject}: {exc}", code="usage"
        ) from None
    requirements = list(project.get("dependencies", []))
    requirements += list(project.get("optional-dependencies", {}).get("llm", []))
    return [r for r in requirements if not EXCLUDED.match(requirement_name(r))]


def _pip_wheel(args: list[str], out: Path, what: str) -> None:
    command = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(out), *args]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-8:])
        raise PublishError(f"pip could not build the wheel of {what}:\n{tail}", code="build")


def build_wheelhouse(
    packages_dir: Path, out: Path, third_party: list[str], say: object = print
) -> list[Path]:
    """Wheels of the arcforge packages in `packages_dir` and of `third_party`, into `out` (emptied first)."""
    missing = [p for p in ARCFORGE_PACKAGES if not (packages_dir / p / "pyproject.toml").is_file()]
    if missing:
        raise PublishError(
            f"{packages_dir} lacks the arcforge package(s) {', '.join(missing)}",
            code="usage",
            advice="run from the repository root or pass --packages-dir",
        )
    excluded = [r for r in third_party if EXCLUDED.match(requirement_name(r))]
    if excluded:
        raise PublishError(
            f"never put {', '.join(excluded)} in the wheelhouse: Kaggle's image has its own", code="usage"
        )
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.whl"):
        old.unlink()
    for package in ARCFORGE_PACKAGES:
        say(f"  building the wheel of packages/{package}")  # type: ignore[operator]
        _pip_wheel([str(packages_dir / package)], out, f"packages/{package}")
    for requirement in third_party:
        say(f"  fetching the wheel of {requirement}")  # type: ignore[operator]
        _pip_wheel(["--only-binary=:all:", requirement], out, requirement)
    wheels = sorted(out.glob("*.whl"))
    leaked = [w.name for w in wheels if EXCLUDED.match(w.name.split("-")[0].replace("_", "-"))]
    if leaked:
        raise PublishError(f"the wheelhouse would contain {', '.join(leaked)}; refusing", code="build")
    return wheels
