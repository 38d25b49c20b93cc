"""arcforge's invoke tasks: thin wrappers over the package CLIs, configured by arcforge.toml.

`invoke download upload test-run --on kaggle submit` runs the whole chain: the notebook is pushed once in
TEST_MODE, checked, and that same version submitted; the full solve runs only in Kaggle's rerun. Flags
override the file. Run `invoke --list` for the tasks and `invoke --help TASK` for a task's flags.
"""

from __future__ import annotations

import importlib.util
import os
import shlex
import sys
from pathlib import Path
from typing import Any

from invoke import Context, task
from invoke.exceptions import Exit

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent
CONFIG_ENV = "ARCFORGE_CONFIG"

# The engines that hold a model, and so need --model-dir.
MODEL_ENGINES = ("llm", "hybrid", "ttt", "ttt+search")

# Module to run with `python -m`, and its distribution, for each stage.
CLIS = {
    "download": ("arcforge_downloader", "arcforge-downloader"),
    "publish": ("arcforge_kaggle_publish", "arcforge-kaggle-publish"),
    "solve": ("arcforge_solver", "arcforge-solver"),
    "tui": ("arcforge_tui", "arcforge-tui"),
}


def load_config() -> dict[str, Any]:
    """arcforge.toml from $ARCFORGE_CONFIG or the repository root."""
    path = Path(os.environ.get(CONFIG_ENV, ROOT / "arcforge.toml"))
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise Exit(
            f"arcforge: no config file at {path} (set {CONFIG_ENV} or restore arcforge.toml)"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise Exit(f"arcforge: {path} is not valid TOML: {exc}") from None


def setting(config: dict[str, Any], section: str, key: str) -> Any:
    try:
        return config[section][key]
    except KeyError:
        raise Exit(f"arcforge: arcforge.toml has no [{section}] {key}; add it or pass the flag") from None


def state_dir(config: dict[str, Any]) -> str:
    """arcforge-events' rule: $ARCFORGE_STATE_DIR, else arcforge.toml's [paths] state_dir, else .arcforge."""
    try:
        from arcforge_events import resolve_state_dir
    except ModuleNotFoundError:
        raise Exit(
            f"arcforge: arcforge-events is not installed in this environment ({sys.executable}). "
            "Install the workspace first: python3 -m pip install -r requirements.txt"
        ) from None
    return str(resolve_state_dir(configured=config.get("paths", {}).get("state_dir")))


def run_cli(c: Context, stage: str, *args: object, pty: bool = False) -> None:
    """Run a package's CLI with this interpreter; fail clearly if the package is not installed."""
    module, dist = CLIS[stage]
    if importlib.util.find_spec(module) is None:
        raise Exit(
            f"arcforge: {dist} is not installed in this environment ({sys.executable}). "
            "Install the workspace first: python3 -m pip install -r requirements.txt"
        )
    command = shlex.join([sys.executable, "-m", module, *(str(a) for a in args)])
    result = c.run(command, pty=pty, warn=True)
    if result is None or result.exited != 0:
        code = 1 if result is None else result.exited
        raise Exit(f"arcforge: {dist} failed (exit {code})", code=code)


@task(
    help={
        "repo_id": "Hugging Face model repo (default: [model] repo_id)",
        "revision": "branch, tag or commit (default: [model] revision)",
        "output_dir": "where model/ and tokenizer/ go (default: [model] output_dir)",
        "workers": "parallel connections",
        "dry_run": "list what would be fetched and stop",
    }
)
def download(
    c: Context,
    repo_id: str = "",
    revision: str = "",
    output_dir: str = "",
    workers: int = 0,
    dry_run: bool = False,
) -> None:
    """Download the model repo into OUTPUT_DIR/model and OUTPUT_DIR/tokenizer (needs HF_TOKEN for gated repos)."""
    config = load_config()
    args: list[object] = [
        repo_id or setting(config, "model", "repo_id"),
        "--output-dir",
        output_dir or setting(config, "model", "output_dir"),
        "--revision",
        revision or setting(config, "model", "revision"),
        "--state-dir",
        state_dir(config),
    ]
    if workers:
        args += ["--workers", workers]
    if dry_run:
        args.append("--dry-run")
    run_cli(c, "download", *args)


def kaggle_id(config: dict[str, Any], slug_key: str) -> str:
    return f"{setting(config, 'kaggle', 'owner')}/{setting(config, 'kaggle', slug_key)}"


@task(
    help={
        "model_dir": "folder with model/ and tokenizer/ (default: [model] output_dir)",
        "skip_wheelhouse": "publish only the model dataset",
        "dry_run": "show exactly what would be uploaded, upload nothing",
    }
)
def upload(c: Context, model_dir: str = "", skip_wheelhouse: bool = False, dry_run: bool = False) -> None:
    """Publish the wheelhouse dataset and the model dataset to Kaggle (needs KAGGLE_API_TOKEN or ~/.kaggle)."""
    config = load_config()
    common: list[object] = ["--state-dir", state_dir(config)]
    if dry_run:
        common.append("--dry-run")
    model = config.get("kaggle", {}).get("model", "")
    folder = Path(model_dir or setting(config, "model", "output_dir"))
    if (
        (model_dir or not model)
        and not (folder / "model").is_dir()
        and not (folder / "config.json").is_file()
    ):
        raise Exit(
            f"arcforge: no downloaded model in {folder} (model/ is missing): run `invoke download` first"
        )
    if not skip_wheelhouse:
        run_cli(c, "publish", "wheelhouse", "--id", kaggle_id(config, "wheelhouse_slug"), *common)
    if model and not model_dir:
        print(f"arcforge: [kaggle] model is {model} (Kaggle Models): no model dataset to publish")
        return
    run_cli(
        c,
        "publish",
        "dataset",
        model_dir or setting(config, "model", "output_dir"),
        "--id",
        kaggle_id(config, "dataset_slug"),
        *common,
    )


def solve_args(
    config: dict[str, Any], on: str, *, engine: str = "", time_per_task: str = "", workers: int = 0
) -> list[str]:
    """`arcforge-solve run`'s arguments, built here once: for a local run, or for the Kaggle notebook.

    Local runs cap each task ([solver] time_per_task suits a laptop). On Kaggle the notebook solves every
    task in the rerun, and the whole [competition] time_budget is the only cap: under a budget the solver
    sets no per-task cap and spreads it over the tasks and lanes. The notebook picks the engine, and the
    solver the workers (every core less one per GPU lane), unless told here.
    """
    if on == "local":
        return [
            "--engine", engine or config.get("solver", {}).get("engine", "search"),
            "--time-per-task", str(time_per_task or setting(config, "solver", "time_per_task")),
            "--workers", str(workers or config.get("solver", {}).get("workers", 2)),
        ]  # fmt: skip
    args = ["--time-budget", str(setting(config, "competition", "time_budget"))]
    if time_per_task:
        args += ["--time-per-task", str(time_per_task)]
    if engine:
        args += ["--engine", engine]
    if workers:
        args += ["--workers", str(workers)]
    return args


@task(
    name="test-run",
    help={
        "on": "local (default): run the solver here; kaggle: push the notebook in TEST_MODE and fetch its output",
        "tasks": "challenges file or folder of task files (default: the bundled sample)",
        "out": "where submission.json goes (default: out/submission.json; a Kaggle run's output goes beside it in kaggle/)",
        "engine": "search, llm or hybrid (default: [solver] engine here; on Kaggle the notebook's choice)",
        "time_per_task": "seconds per task (default: [solver] time_per_task here; on Kaggle no cap but the budget)",
        "workers": "parallel worker processes (default: [solver] workers here; on Kaggle every free core)",
        "limit": "run only the first N tasks",
        "model_dir": "model folder for the model engines (default: [model] output_dir, as on Kaggle)",
        "fresh": "forget the journal's results and solve every task again",
    },
)
def test_run(
    c: Context,
    on: str = "local",
    tasks: str = "",
    out: str = "out/submission.json",
    engine: str = "",
    time_per_task: str = "",
    workers: int = 0,
    limit: int = 0,
    model_dir: str = "",
    fresh: bool = False,
) -> None:
    """Solve ARC tasks and report the score: locally on the bundled sample by default, or on Kaggle."""
    config = load_config()
    if on not in ("local", "kaggle"):
        raise Exit(f"arcforge: --on takes local or kaggle, not {on!r}")
    chosen = solve_args(config, on, engine=engine, time_per_task=time_per_task, workers=workers)
    if on == "kaggle":
        test_run_on_kaggle(c, config, Path(out).parent / "kaggle", chosen)
        return
    args: list[object] = ["run"]
    if tasks:
        args.append(tasks)
    args += ["--out", out, *chosen, "--state-dir", state_dir(config)]
    if limit:
        args += ["--limit", limit]
    if fresh:
        args.append("--fresh")
    chosen_engine = engine or setting(config, "solver", "engine")
    if not model_dir and chosen_engine in MODEL_ENGINES:
        model_dir = setting(config, "model", "output_dir")  # where `invoke download` put it, as on Kaggle
        if not Path(model_dir).is_dir():
            raise Exit(
                f"arcforge: engine {chosen_engine} needs a model and {model_dir} has none: "
                "run `invoke download` first"
            )
    if model_dir:
        args += ["--model-dir", model_dir]
    run_cli(c, "solve", *args)


def test_run_on_kaggle(c: Context, config: dict[str, Any], output_dir: Path, solver: list[str]) -> None:
    """Push the notebook in TEST_MODE, wait for it, then fetch and validate its submission.

    The commit run checks 5 tasks and forecasts the full set; the same version is what `invoke submit`
    submits, and Kaggle's rerun of it solves every task over the whole budget.
    """
    kernel = kaggle_id(config, "kernel_slug")
    common = ["--state-dir", state_dir(config)]
    model = config.get("kaggle", {}).get("model", "")  # a Kaggle Models source instead of our model dataset
    sources = ["--model", model] if model else ["--dataset", kaggle_id(config, "dataset_slug")]
    run_cli(
        c, "publish", "kernel",
        "--id", kernel,
        *sources,
        "--dataset", kaggle_id(config, "wheelhouse_slug"),
        "--competition", setting(config, "kaggle", "competition"),
        "--accelerator", setting(config, "kaggle", "accelerator"),
        "--test-mode", "--test-mode-budget", setting(config, "competition", "test_mode_budget"),
        "--run", *common,
        *(f"--solve-arg={arg}" for arg in solver),
    )  # fmt: skip
    run_cli(c, "publish", "status", kernel, "--wait", *common)
    run_cli(c, "publish", "output", kernel, "--to", output_dir, *common)


@task(
    help={
        "version": "the notebook version (default: the last pushed one that ran to COMPLETE with a validated submission)",
        "message": "the submission's description",
        "wait": "wait until Kaggle has scored it (the rerun takes up to the whole budget)",
    }
)
def submit(c: Context, version: int = 0, message: str = "arcforge submission", wait: bool = False) -> None:
    """Submit the checked notebook version to the competition: Kaggle's rerun of it solves every task."""
    config = load_config()
    args: list[object] = [
        "submit",
        "--kernel", kaggle_id(config, "kernel_slug"),
        "--competition", setting(config, "kaggle", "competition"),
        "-m", message,
        "--state-dir", state_dir(config),
    ]  # fmt: skip
    if version:
        args += ["--version", version]
    if wait:
        args.append("--wait")
    run_cli(c, "publish", *args)


@task(
    help={
        "submission": "the run's submission.json (default: out/submission.json; a fetched Kaggle output works too)",
        "tasks": "the challenges file or task folder of the run (default: found beside it, or the bundled sample)",
        "out": "where the HTML goes (default: <submission>.report.html beside it)",
    }
)
def report(c: Context, submission: str = "out/submission.json", tasks: str = "", out: str = "") -> None:
    """Write the self-contained HTML report of a run: scores, every task, its grids and best program."""
    config = load_config()
    if not Path(submission).is_file():
        raise Exit(f"arcforge: no submission at {submission}: run `invoke test-run` first, or name one")
    # The events: a fetched Kaggle output's beside the submission, else the state dir's last run for it.
    os.environ.setdefault("ARCFORGE_STATE_DIR", state_dir(config))
    args: list[object] = ["report", submission]
    if tasks:
        args += ["--tasks", tasks]
    if out:
        args += ["--out", out]
    run_cli(c, "solve", *args)


@task(help={"replay": "load a finished run at once instead of following it live"})
def tui(c: Context, replay: bool = False) -> None:
    """Open the live monitor on the configured state dir."""
    config = load_config()
    args: list[object] = ["--state-dir", state_dir(config)]
    if replay:
        args.append("--replay")
    run_cli(c, "tui", *args, pty=sys.stdout.isatty())  # a full-screen app wants a terminal


@task(
    help={
        "name": "benchmark script in benchmarks/ (without .py); empty lists them",
        "args": "arguments for it",
    }
)
def bench(c: Context, name: str = "", args: str = "") -> None:
    """Run a benchmark script from benchmarks/."""
    scripts = sorted(p.stem for p in (ROOT / "benchmarks").glob("*.py"))
    if not name:
        raise Exit("arcforge: name a benchmark with --name; have: " + ", ".join(scripts))
    if name not in scripts:
        raise Exit(f"arcforge: no benchmark {name!r}; have: " + ", ".join(scripts))
    c.run(shlex.join([sys.executable, str(ROOT / "benchmarks" / f"{name}.py"), *shlex.split(args)]))
