"""`arcforge-solve sweep CONFIG.toml`: a grid of settings (engine, time per task, seed, engine
options) over one task set, each setting a whole `run()` in a folder of its own, then one table.

Each setting's folder holds its submission and journal, so an interrupted sweep resumes: a rerun
skips the tasks each setting's journal already holds. The table (`sweep.md`, `sweep.csv`,
`sweep.json` in the sweep's out folder) has the settings, then the three scores, then the mean
seconds per task. The TOML format is in the solver README ("Scale out").
"""

from __future__ import annotations

import contextlib
import csv
import io
import itertools
import re
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from arcforge_solver.engines.registry import (
    EngineUnavailableError,
    UnknownEngineError,
    resolve_engine_class,
)
from arcforge_solver.runtime.journal import Journal, journal_path_for, settings_digest
from arcforge_solver.runtime.ray_executor import RayUnavailableError, cluster_address, ray_session
from arcforge_solver.runtime.run import EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, RunConfig, RunReport, run
from arcforge_solver.runtime.submission import write_json_atomic, write_text_atomic
from arcforge_solver.runtime.timing import parse_duration

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

TOP_KEYS = {"tasks", "solutions", "limit", "out", "executor", "ray_address", "workers", "grid"}
GRID_KEYS = {"engine", "time_per_task", "seed", "options"}


class SweepConfigError(ValueError):
    """The sweep file is unreadable or wrong; the message names the file and the field."""


@dataclass(frozen=True)
class Setting:
    engine: str
    time_per_task_s: float
    seed: int
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """A folder name that says the setting: `search-t2s-seed0`, `…-population=50`."""
        parts = [self.engine, f"t{self.time_per_task_s:g}s", f"seed{self.seed}"]
        parts += [f"{key}={value}" for key, value in sorted(self.options.items())]
        return re.sub(r"[^A-Za-z0-9_.=+-]+", "-", "-".join(parts))


@dataclass
class SweepConfig:
    path: Path
    out: Path
    settings: list[Setting]
    tasks: Path | None = None
    solutions: Path | None = None
    limit: int | None = None
    executor: str = "process"
    ray_address: str | None = None
    workers: int | None = None
    option_names: list[str] = field(default_factory=list)


def _list_of(path: Path, name: str, value: Any, kind: type | tuple[type, ...]) -> list[Any]:
    values = value if isinstance(value, list) else [value]
    if not values:
        raise SweepConfigError(f"{path}: {name} is an empty list; give at least one value")
    kinds = kind if isinstance(kind, tuple) else (kind,)
    for item in values:
        if (isinstance(item, bool) and bool not in kinds) or not isinstance(item, kinds):
            raise SweepConfigError(f"{path}: {name} holds {item!r}; expected {_kind_name(kind)}")
    return values


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(
        {str: "a string", int: "a whole number", float: "a number"}.get(k, k.__name__) for k in kinds
    )


def _path_field(path: Path, raw: Mapping[str, Any], name: str) -> Path | None:
    value = raw.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise SweepConfigError(f"{path}: {name} must be a path (a string)")
    target = Path(value).expanduser()
    return target if target.is_absolute() else path.parent / target  # relative to the sweep file


def load_sweep(path: Path) -> SweepConfig:
    """Read and check a sweep file; SweepConfigError names the file and the field that is wrong."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SweepConfigError(f"{path}: no such sweep file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SweepConfigError(f"{path}: cannot read the sweep file: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SweepConfigError(f"{path}: not valid TOML: {exc}") from None
    unknown = sorted(set(raw) - TOP_KEYS)
    misplaced = [name for name in unknown if name in GRID_KEYS]
    if misplaced:
        raise SweepConfigError(
            f"{path}: {misplaced[0]} belongs in the [grid] table: [grid] {misplaced[0]} = [...]"
        )
    if unknown:
        raise SweepConfigError(f"{path}: unknown field {unknown[0]!r}; known: {', '.join(sorted(TOP_KEYS))}")
    grid = raw.get("grid")
    if not isinstance(grid, dict) or "engine" not in grid:
        raise SweepConfigError(f"{path}: needs a [grid] table with at least engine = [...]")
    unknown = sorted(set(grid) - GRID_KEYS)
    if unknown:
        raise SweepConfigError(
            f"{path}: unknown field grid.{unknown[0]}; known: {', '.join(sorted(GRID_KEYS))}"
        )
    engines = _list_of(path, "grid.engine", grid["engine"], str)
    for engine in engines:
        try:
            resolve_engine_class(engine)
        except (UnknownEngineError, EngineUnavailableError) as exc:
            raise SweepConfigError(f"{path}: grid.engine: {exc}") from None
    times: list[float] = []
    for value in _list_of(path, "grid.time_per_task", grid.get("time_per_task", [20]), (str, int, float)):
        try:
            times.append(parse_duration(value))
        except ValueError as exc:
            raise SweepConfigError(f"{path}: grid.time_per_task: {exc}") from None
    seeds = _list_of(path, "grid.seed", grid.get("seed", [0]), int)
    options = grid.get("options", {})
    if not isinstance(options, dict):
        raise SweepConfigError(f"{path}: grid.options must be a table of option = [values]")
    option_names = sorted(options)
    option_values = [
        _list_of(path, f"grid.options.{name}", options[name], (str, int, float, bool))
        for name in option_names
    ]
    settings = [
        Setting(engine, seconds, seed, dict(zip(option_names, chosen, strict=True)))
        for engine, seconds, seed, *chosen in itertools.product(engines, times, seeds, *option_values)
    ]
    limit = raw.get("limit")
    workers = raw.get("workers")
    for name, value in (("limit", limit), ("workers", workers)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise SweepConfigError(f"{path}: {name} must be a whole number of at least 1")
    executor = raw.get("executor", "process")
    if executor not in ("process", "ray"):
        raise SweepConfigError(f'{path}: executor must be "process" or "ray", not {executor!r}')
    address = raw.get("ray_address")
    if address is not None and (not isinstance(address, str) or executor != "ray"):
        raise SweepConfigError(f'{path}: ray_address must be a string, and needs executor = "ray"')
    tasks = _path_field(path, raw, "tasks")
    if tasks is not None and not tasks.exists():
        raise SweepConfigError(f"{path}: tasks: {tasks} does not exist")
    return SweepConfig(
        path=path,
        out=_path_field(path, raw, "out") or path.with_name(path.stem + "-sweep"),
        settings=settings,
        tasks=tasks,
        solutions=_path_field(path, raw, "solutions"),
        limit=limit,
        executor=executor,
        ray_address=cluster_address(address) if executor == "ray" else None,
        workers=workers,
        option_names=option_names,
    )


def seconds_per_task(config: RunConfig) -> float | None:
    """The mean engine seconds of the tasks this setting's journal holds (resumed ones too)."""
    digest = settings_digest(config.engine, config.engine_options, config.seed)
    latest: dict[str, float] = {}
    for record in Journal(journal_path_for(config.out)).load():
        if record.engine == config.engine and record.settings == digest:
            latest[record.task_id] = record.seconds
    return sum(latest.values()) / len(latest) if latest else None


def table_rows(
    sweep: SweepConfig, results: list[tuple[Setting, RunConfig, RunReport]]
) -> list[dict[str, Any]]:
    rows = []
    for setting, run_config, report in results:
        row: dict[str, Any] = {
            "setting": setting.name,
            "engine": setting.engine,
            "time_per_task_s": setting.time_per_task_s,
            "seed": setting.seed,
        }
        row.update({name: setting.options.get(name) for name in sweep.option_names})
        scores = report.scores
        row["kaggle"] = None if scores is None else round(scores.kaggle, 4)
        row["task_fraction"] = None if scores is None else round(scores.task_fraction, 4)
        row["tasks_fully_solved"] = None if scores is None else round(scores.tasks_fully_solved, 4)
        per_task = seconds_per_task(run_config)
        row["seconds_per_task"] = None if per_task is None else round(per_task, 3)
        row["status"] = report.status
        row["submission"] = str(run_config.out)
        rows.append(row)
    return rows


def markdown_table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return ""
    columns = [name for name in rows[0] if name != "submission"]
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join(" --- " for _ in columns) + "|"]
    lines += ["| " + " | ".join(_cell(row[name]) for name in columns) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    return f"{value:g}" if isinstance(value, float) else str(value)


def write_table(out: Path, rows: list[dict[str, Any]]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "sweep.md", markdown_table(rows))
    buffer = io.StringIO()
    if rows:
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    write_text_atomic(out / "sweep.csv", buffer.getvalue())
    write_json_atomic(out / "sweep.json", rows)


@contextlib.contextmanager
def _executor_session(sweep: SweepConfig) -> Iterator[None]:
    """One Ray connection for the whole sweep (a local cluster starts once, not once per setting)."""
    if sweep.executor != "ray":
        yield
        return
    with ray_session(sweep.ray_address, sweep.workers):
        yield


def run_sweep(
    sweep: SweepConfig, stream: TextIO, *, state_dir: Path | None = None, fresh: bool = False
) -> int:
    """Run every setting in turn, then write the table; an interrupt writes the table so far."""
    results: list[tuple[Setting, RunConfig, RunReport]] = []
    code = EXIT_OK
    try:
        with _executor_session(sweep):
            for number, setting in enumerate(sweep.settings, start=1):
                print(f"sweep {number}/{len(sweep.settings)}: {setting.name}", file=stream)
                run_config = RunConfig(
                    out=sweep.out / setting.name / "submission.json",
                    tasks=sweep.tasks,
                    solutions=sweep.solutions,
                    limit=sweep.limit,
                    engine=setting.engine,
                    engine_options=dict(setting.options),
                    time_per_task_s=setting.time_per_task_s,
                    workers=sweep.workers,
                    seed=setting.seed,
                    state_dir=state_dir,
                    fresh=fresh,
                    executor=sweep.executor,
                    ray_address=sweep.ray_address,
                )
                report = run(run_config, stream)
                results.append((setting, run_config, report))
                if report.exit_code == EXIT_INTERRUPTED:
                    code = EXIT_INTERRUPTED
                    break
                if report.exit_code != EXIT_OK:
                    code = report.exit_code
    except RayUnavailableError as exc:
        print(f"arcforge-solve: {exc}", file=stream)
        code = EXIT_USAGE
    except KeyboardInterrupt:
        code = EXIT_INTERRUPTED
    rows = table_rows(sweep, results)
    write_table(sweep.out, rows)
    print(markdown_table(rows), end="")
    print(f"sweep table: {sweep.out / 'sweep.md'} (also sweep.csv, sweep.json)", file=stream)
    if code == EXIT_INTERRUPTED:
        print("sweep interrupted; rerun the same command to resume.", file=stream)
    return code


def command_sweep(
    config_path: Path, *, state_dir: Path | None, fresh: bool, stream: TextIO | None = None
) -> int:
    """The `sweep` subcommand: a bad sweep file is one clear error and exit 2."""
    out_stream = stream or sys.stderr
    try:
        sweep = load_sweep(config_path)
    except SweepConfigError as exc:
        print(f"arcforge-solve: {exc}", file=out_stream)
        return EXIT_USAGE
    return run_sweep(sweep, out_stream, state_dir=state_dir, fresh=fresh)
