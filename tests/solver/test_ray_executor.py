"""`arcforge-solve run --executor ray`: tasks as Ray tasks on a local loopback cluster (2 CPUs) or on
a cluster started beside the test, a worker killed mid-run, a hung engine cancelled, and the clear
errors (no Ray, no cluster, an engine that runs in the runtime's own process)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from tests.solver.conftest import DOUBLE, PYTHON

pytest.importorskip("ray")

HEAD = ["--num-cpus", "2", "--include-dashboard", "false", "--disable-usage-stats"]
RUN_TIMEOUT_S = 420  # a cold local Ray cluster on a loaded 2-core machine takes a while to start


@pytest.fixture
def cli_env(cli_env: dict[str, str]) -> dict[str, str]:
    """The suite's env without a $RAY_ADDRESS of the caller's (a run would join that cluster)."""
    return {name: value for name, value in cli_env.items() if name != "RAY_ADDRESS"}


def solve_command(tasks: Path, out: Path, engine: str, *extra: str) -> list[str]:
    return [
        PYTHON,
        "-m",
        "arcforge_solver",
        "run",
        str(tasks),
        "--out",
        str(out),
        "--engine",
        f"{DOUBLE}:{engine}",
        "--workers",
        "2",
        *extra,
    ]


def execute(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, env=env, capture_output=True, check=False, text=True, timeout=RUN_TIMEOUT_S
    )


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return execute([PYTHON, "-m", "arcforge_solver", *args], env)


def journal_states(out: Path) -> dict[str, str]:
    journal = out.with_name(out.stem + ".journal.jsonl")
    return {
        record["task_id"]: record["state"] for record in map(json.loads, journal.read_text().splitlines())
    }


def scores(submission: Path, tasks: Path, env: dict[str, str]) -> dict[str, float]:
    result = cli("score", str(submission), str(tasks), "--json", env=env)
    assert result.returncode == 0, result.stderr
    value: dict[str, float] = json.loads(result.stdout)
    return value


def assert_valid(submission: Path, tasks: Path, env: dict[str, str]) -> None:
    result = cli("validate", str(submission), "--tasks", str(tasks), env=env)
    assert result.returncode == 0, result.stderr
    assert "valid: 5 tasks" in result.stdout


def stop(process: subprocess.Popen[str]) -> None:
    """SIGTERM (the run shuts its Ray cluster down), then SIGKILL if it lingers."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)


def test_a_killed_ray_worker_is_retried_and_the_scores_equal_the_process_pools(
    small_tasks: Path, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    pool_out = tmp_path / "pool" / "submission.json"
    pool = execute(
        solve_command(small_tasks, pool_out, "SlowEngine", "--seed", "3", "--time-per-task", "120"),
        {**cli_env, "ARCFORGE_DOUBLE_SLEEP": "0.05"},
    )
    assert pool.returncode == 0, pool.stderr

    pids = tmp_path / "pids"
    pids.mkdir()
    ray_out = tmp_path / "ray" / "submission.json"
    log = (tmp_path / "ray.log").open("w")
    builds = tmp_path / "builds"
    builds.mkdir()
    env = {**cli_env, "ARCFORGE_DOUBLE_SLEEP": "3", "ARCFORGE_DOUBLE_PIDS": str(pids)}
    env["ARCFORGE_DOUBLE_BUILDS"] = str(builds)
    command = solve_command(
        small_tasks, ray_out, "SlowEngine", "--seed", "3", "--time-per-task", "120", "--executor", "ray"
    )
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while not list(pids.iterdir()):
            assert process.poll() is None, (tmp_path / "ray.log").read_text()
            assert time.monotonic() < deadline, "no Ray task started"
            time.sleep(0.05)
        first = next(pids.iterdir())
        killed_task, killed_pid = first.name.rsplit(".", 1)
        os.kill(int(killed_pid), signal.SIGKILL)  # the Ray worker process solving `killed_task`
        assert process.wait(timeout=RUN_TIMEOUT_S) == 0, (tmp_path / "ray.log").read_text()
    finally:
        stop(process)
        log.close()

    # The killed task ran again in another worker process, and the run finished every task.
    tries = {path.name.rsplit(".", 1)[1] for path in pids.glob(f"{killed_task}.*")}
    assert killed_pid in tries and len(tries) >= 2
    # Each Ray worker process built the engine once, however many tasks it solved.
    solvers = {path.name.rsplit(".", 1)[1] for path in pids.iterdir()}
    assert len(solvers) < len(list(pids.iterdir()))  # some worker solved more than one task
    assert {path.name: path.read_text() for path in builds.iterdir() if path.name in solvers} == {
        pid: "built\n" for pid in solvers
    }
    assert journal_states(ray_out) == {task: "done" for task in journal_states(pool_out)}
    assert_valid(ray_out, small_tasks, cli_env)
    assert scores(ray_out, small_tasks, cli_env) == scores(pool_out, small_tasks, cli_env)
    assert json.loads(ray_out.read_text()) == json.loads(pool_out.read_text())
    assert scores(ray_out, small_tasks, cli_env)["tasks_solved"] == 3


def test_a_hung_engine_is_cancelled_as_a_timeout_and_the_rest_finish(
    small_tasks: Path, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    out = tmp_path / "submission.json"
    result = execute(
        solve_command(
            small_tasks, out, "HangingEngine", "--limit", "1", "--time-per-task", "1", "--executor", "ray"
        ),
        cli_env,
    )
    assert result.returncode == 0, result.stderr
    journal = out.with_name(out.stem + ".journal.jsonl")
    (record,) = map(json.loads, journal.read_text().splitlines())
    assert record["state"] == "timeout"
    assert "Ray task cancelled" in record["error"]
    assert_valid(out, small_tasks, cli_env)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_a_run_against_a_cluster_address(small_tasks: Path, tmp_path: Path, cli_env: dict[str, str]) -> None:
    # A loopback cluster as `ray start --head` makes one; token auth off on both ends, as the test's
    # head and driver are one machine's processes (Ray >= 2.5x turns token auth on by default).
    env = {**cli_env, "RAY_AUTH_MODE": "disabled", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
    port = free_port()
    ray_cli = str(Path(PYTHON).with_name("ray"))
    # Its own short temp folder (Ray's socket paths must stay short), so that no stale
    # /tmp/ray/ray_current_cluster is left for a later `ray.init()` to find.
    ray_temp = Path(tempfile.mkdtemp(prefix="arcforge-ray-", dir="/tmp"))
    head = subprocess.Popen(
        [ray_cli, "start", "--head", "--block", "--port", str(port), "--temp-dir", str(ray_temp), *HEAD],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while True:
            assert head.poll() is None, "ray start --head exited"
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the Ray head never listened"
                time.sleep(0.5)
        out = tmp_path / "submission.json"
        command = solve_command(small_tasks, out, "FixedProgramEngine", "--executor", "ray")
        result = execute(
            [*command, "--ray-address", f"127.0.0.1:{port}"],
            env,
        )
        assert result.returncode == 0, result.stderr
        assert set(journal_states(out).values()) == {"done"}
        assert scores(out, small_tasks, cli_env)["tasks_solved"] == 3
    finally:
        head.terminate()  # `ray start --block` stops the head's processes on SIGTERM
        try:
            head.wait(timeout=90)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait(timeout=30)
        shutil.rmtree(ray_temp, ignore_errors=True)


@pytest.mark.parametrize("given", ["flag", "environment"])
def test_no_cluster_at_the_address_is_one_clear_error(
    small_tasks: Path, tmp_path: Path, cli_env: dict[str, str], given: str
) -> None:
    out = tmp_path / "submission.json"
    command = solve_command(small_tasks, out, "FixedProgramEngine", "--executor", "ray")
    address = f"127.0.0.1:{free_port()}"
    if given == "flag":
        result = execute([*command, "--ray-address", address], cli_env)
    else:  # as `ray job submit` hands its entrypoint the cluster
        result = execute(command, {**cli_env, "RAY_ADDRESS": address})
    assert result.returncode == 2
    assert "cannot reach the Ray cluster at 127.0.0.1:" in result.stderr
    assert "Traceback" not in result.stderr
    assert_valid(out, small_tasks, cli_env)  # the fallback submission, written before any solving


def test_without_ray_the_error_names_the_extra(
    small_tasks: Path, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    hidden = tmp_path / "no-ray"
    (hidden / "ray").mkdir(parents=True)
    (hidden / "ray" / "__init__.py").write_text("raise ImportError(\"No module named 'ray'\")\n")
    env = {**cli_env, "PYTHONPATH": os.pathsep.join([str(hidden), cli_env["PYTHONPATH"]])}
    out = tmp_path / "submission.json"
    result = execute(
        solve_command(small_tasks, out, "FixedProgramEngine", "--executor", "ray"),
        env,
    )
    assert result.returncode == 2
    assert "pip install 'arcforge-solver[ray]'" in result.stderr
    assert "Traceback" not in result.stderr
    assert_valid(out, small_tasks, cli_env)


def test_an_engine_of_the_runtimes_own_process_is_refused(
    small_tasks: Path, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    out = tmp_path / "submission.json"
    result = execute(
        solve_command(small_tasks, out, "SequentialFixedProgramEngine", "--executor", "ray"),
        cli_env,
    )
    assert result.returncode == 2
    assert "--executor ray runs engines that solve tasks in worker processes" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_ray_address_without_the_ray_executor_is_refused(
    small_tasks: Path, tmp_path: Path, cli_env: dict[str, str]
) -> None:
    command = solve_command(small_tasks, tmp_path / "submission.json", "FixedProgramEngine")
    result = execute(
        [*command, "--ray-address", "127.0.0.1:6379"],
        cli_env,
    )
    assert result.returncode == 2
    assert "--ray-address needs --executor ray" in result.stderr
