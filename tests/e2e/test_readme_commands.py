"""The benchmark commands printed in the READMEs run as printed: each names a script that exists, through
the nox session that installs what the benchmarks import, and each script answers --help."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
READMES = [ROOT / "README.md", *sorted((ROOT / "packages").glob("*/README.md"))]
COMMAND = re.compile(r"(?:nox -s bench -- |python3? )benchmarks/([a-z0-9_]+)\.py")  # NAME is a placeholder


def printed_benchmarks() -> set[tuple[str, str]]:
    found = set()
    for readme in READMES:
        for match in COMMAND.finditer(readme.read_text()):
            found.add((readme.relative_to(ROOT).as_posix(), match.group(0)))
    return found


def test_every_printed_benchmark_command_goes_through_the_bench_session() -> None:
    commands = printed_benchmarks()
    assert commands, "the READMEs print no benchmark command"
    bare = sorted(f"{readme}: {cmd}" for readme, cmd in commands if not cmd.startswith("nox -s bench -- "))
    assert bare == [], (
        "printed as `python benchmarks/…`, which fails where the benchmarks' imports are missing"
    )


@pytest.mark.parametrize("script", sorted({cmd.rsplit("/", 1)[1] for _r, cmd in printed_benchmarks()}))
def test_each_printed_benchmark_exists_and_answers_help(script: str) -> None:
    path = ROOT / "benchmarks" / script
    assert path.is_file(), f"benchmarks/{script} is printed in a README but does not exist"
    result = subprocess.run(
        [sys.executable, str(path), "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "usage:" in result.stdout
