"""Build the wheelhouse: the arcforge packages, the user's own packages (`--include`), plus the
third-party wheels the Kaggle image lacks.

torch, the CUDA libraries and triton are never included: the Kaggle image has its own CUDA build,
and a wheelhouse copy would be several GB and mismatched with the drivers.
"""

from __future__ import annotations

import email.parser
import json
import re
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

from arcforge_kaggle_publish.errors import PublishError

ARCFORGE_PACKAGES = ("solver", "downloader", "kaggle_publish", "tui")
"""The four stages; every other package folder beside them (the shared events contract) is built too."""
MANIFEST = "arcforge-wheelhouse.json"
"""Beside the wheels: which distributions came from `--include`, for the notebook to install by name."""
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


def included_folders(paths: list[Path]) -> list[Path]:
    """The user's package folders given with `--include`, each checked for a pyproject.toml."""
    for path in paths:
        if not (path / "pyproject.toml").is_file():
            what = "is not a folder" if not path.is_dir() else "has no pyproject.toml"
            raise PublishError(
                f"--include {path} {what}",
                code="usage",
                advice="name the folder of a Python package, the one that holds its pyproject.toml",
            )
    return list(paths)


def wheel_requirements(wheel_path: Path, extras: tuple[str, ...] = ()) -> list[str]:
    """A wheel's runtime requirements and those of `extras`, less torch/CUDA/triton and less the
    arcforge packages (built from source beside it)."""
    with zipfile.ZipFile(wheel_path) as wheel:
        metadata_name = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
        metadata = email.parser.Parser().parsestr(wheel.read(metadata_name).decode("utf-8"))
    requirements = []
    for line in metadata.get_all("Requires-Dist") or []:
        requirement, _, marker = line.partition(";")
        extra = re.search(r"extra\s*==\s*['\"]([\w-]+)['\"]", marker)
        if extra and extra.group(1) not in extras:
            continue
        name = requirement_name(requirement)
        if not EXCLUDED.match(name) and not name.lower().startswith("arcforge-"):
            requirements.append(requirement.strip())
    return requirements


def solver_requirements(solver_wheel: Path) -> list[str]:
    """The solver wheel's runtime and `llm` requirements: what the notebook runs."""
    return wheel_requirements(solver_wheel, ("llm",))


def distribution_name(name: str) -> str:
    """A project or wheel-file name, normalised (PEP 503), so `My_Pkg` and `my-pkg` are one."""
    return re.sub(r"[-_.]+", "-", name).lower()


def wheel_distribution(wheel: Path) -> str:
    return distribution_name(wheel.name.split("-")[0])


def _pip_wheel(args: list[str], out: Path, what: str) -> None:
    command = [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(out), *args]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-8:])
        raise PublishError(f"pip could not build the wheel of {what}:\n{tail}", code="build")


def build_wheelhouse(
    packages_dir: Path,
    out: Path,
    third_party: list[str] | None,
    say: Callable[[str], None] = print,
    include: list[Path] | None = None,
) -> list[Path]:
    """Wheels of the arcforge packages, of the `include` package folders and of `third_party` (None: the
    solver's own requirements) in `out`. An included package's third-party requirements that the wheelhouse
    lacks are fetched too, unless `third_party` is [] (arcforge packages only)."""
    folders = package_folders(packages_dir)
    own = included_folders(include or [])
    excluded = [r for r in third_party or [] if EXCLUDED.match(requirement_name(r))]
    if excluded:
        raise PublishError(
            f"never put {', '.join(excluded)} in the wheelhouse: Kaggle's image has its own", code="usage"
        )
    out.mkdir(parents=True, exist_ok=True)
    for old in [*out.glob("*.whl"), out / MANIFEST]:
        old.unlink(missing_ok=True)
    for folder in own:  # first: the user's package is the likeliest to fail, so it fails fast
        say(f"  building the wheel of {folder}")
        _pip_wheel([str(folder)], out, str(folder))
    included = sorted(out.glob("*.whl"))
    for folder in folders:
        say(f"  building the wheel of packages/{folder.name}")
        _pip_wheel([str(folder)], out, f"packages/{folder.name}")
    fetch_for_included = third_party != []
    if third_party is None:
        third_party = solver_requirements(next(out.glob("arcforge_solver-*.whl")))
    for requirement in third_party:
        say(f"  fetching the wheel of {requirement}")
        _pip_wheel(["--only-binary=:all:", requirement], out, requirement)
    if fetch_for_included:
        _fetch_missing(included, out, say)
    wheels = sorted(out.glob("*.whl"))
    leaked = [w.name for w in wheels if EXCLUDED.match(w.name.split("-")[0].replace("_", "-"))]
    if leaked:
        raise PublishError(f"the wheelhouse would contain {', '.join(leaked)}; refusing", code="build")
    manifest = {"included": [wheel_distribution(w) for w in included], "wheels": [w.name for w in wheels]}
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return wheels


def _fetch_missing(included: list[Path], out: Path, say: Callable[[str], None]) -> None:
    """The included packages' direct third-party requirements that the wheelhouse has no wheel of yet
    (torch, CUDA, triton and arcforge-* are left out by `wheel_requirements`)."""
    for wheel in included:
        for requirement in wheel_requirements(wheel):
            name = distribution_name(requirement_name(requirement))
            if name in {wheel_distribution(w) for w in out.glob("*.whl")}:
                continue
            say(f"  fetching the wheel of {requirement} (for {wheel.name})")
            _pip_wheel(["--only-binary=:all:", requirement], out, requirement)
