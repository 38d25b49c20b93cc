"""Build the wheelhouse: the arcforge packages, plus the third-party wheels the Kaggle image lacks.

torch, the CUDA libraries and triton are never included: the Kaggle image has its own CUDA build,
and a wheelhouse copy would be several GB and mismatched with the drivers.
"""

from __future__ import annotations

import email.parser
import re
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

from arcforge_kaggle_publish.errors import PublishError

ARCFORGE_PACKAGES = ("solver", "downloader", "kaggle_publish", "tui")
"""The four stages; every other package folder beside them (the shared events contract) is built too."""
EXCLUDED = re.compile(
    r"^(torch|torchvision|torchaudio|triton|nvidia-[\w-]+|cuda-[\w-]+|pytorch-triton[\w-]*)$", re.I
)


def requirement_name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;@(]", requirement.strip(), maxsplit=1)[0]


def package_folders(packages_dir: Path) -> list[Path]:
    """Every package under `packages_dir` (a folder with a pyproject.toml), the four stages first."""
    missing = [p for p in ARCFORGE_PACKAGES if not (packages_dir / p / "pyproject.toml").is_file()]
    if missing:
        raise PublishError(
            f"{packages_dir} lacks the arcforge package(s) {', '.join(missing)}",
            code="usage",
            advice="run from the repository root or pass --packages-dir",
        )
    others = sorted(
        p.name
        for p in packages_dir.iterdir()
        if (p / "pyproject.toml").is_file() and p.name not in ARCFORGE_PACKAGES
    )
    return [packages_dir / name for name in (*ARCFORGE_PACKAGES, *others)]


def solver_requirements(solver_wheel: Path) -> list[str]:
    """The solver wheel's runtime and `llm` requirements (what the notebook runs), less torch/CUDA/triton
    and less the arcforge packages (built from source beside it)."""
    with zipfile.ZipFile(solver_wheel) as wheel:
        metadata_name = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = email.parser.Parser().parsestr(wheel.read(metadata_name).decode("utf-8"))
    requirements = []
    for line in metadata.get_all("Requires-Dist") or []:
        requirement, _, marker = line.partition(";")
        extra = re.search(r"extra\s*==\s*['\"]([\w-]+)['\"]", marker)
        if extra and extra.group(1) != "llm":
            continue
        name = requirement_name(requirement)
        if not EXCLUDED.match(name) and not name.lower().startswith("arcforge-"):
            requirements.append(requirement.strip())
    return requirements


def _pip_wheel(args: list[str], out: Path, what: str) -> None:
    command = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(out), *args]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-8:])
        raise PublishError(f"pip could not build the wheel of {what}:\n{tail}", code="build")


def build_wheelhouse(
    packages_dir: Path, out: Path, third_party: list[str] | None, say: Callable[[str], None] = print
) -> list[Path]:
    """Wheels of the arcforge packages and of `third_party` (None: the solver's own requirements) in `out`."""
    folders = package_folders(packages_dir)
    excluded = [r for r in third_party or [] if EXCLUDED.match(requirement_name(r))]
    if excluded:
        raise PublishError(
            f"never put {', '.join(excluded)} in the wheelhouse: Kaggle's image has its own", code="usage"
        )
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.whl"):
        old.unlink()
    for folder in folders:
        say(f"  building the wheel of packages/{folder.name}")
        _pip_wheel([str(folder)], out, f"packages/{folder.name}")
    if third_party is None:
        third_party = solver_requirements(next(out.glob("arcforge_solver-*.whl")))
    for requirement in third_party:
        say(f"  fetching the wheel of {requirement}")
        _pip_wheel(["--only-binary=:all:", requirement], out, requirement)
    wheels = sorted(out.glob("*.whl"))
    leaked = [w.name for w in wheels if EXCLUDED.match(w.name.split("-")[0].replace("_", "-"))]
    if leaked:
        raise PublishError(f"the wheelhouse would contain {', '.join(leaked)}; refusing", code="build")
    return wheels
