"""The full run's forecast: hours planned, the share of the budget, GPU hours and the work per task, from
assumed rates (before a run) and from the rates a short run measured."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from arcforge_solver.cli import main
from arcforge_solver.runtime.forecast import FullRunForecast, Rates, assumed_forecast, measured_rates
from arcforge_solver.runtime.lanes import GIB, Gpu
from arcforge_solver.runtime.scheduler import RESERVE_FRACTION

L4S = [Gpu(str(i), "NVIDIA L4", 23034 * 1024**2) for i in range(4)]


def _hidden_set_on_l4s(**changes: Any) -> FullRunForecast:
    """240 tasks, 11 h, the hybrid engine on four L4s, 48 cores; `changes` override any of these."""
    settings: dict[str, Any] = {
        "tasks": 240,
        "budget_s": 11 * 3600,
        "cap_s": None,
        "holds_model": True,
        "search_share": 0.5,
        "gpus": L4S,
        "cpus": 48,
        "replica_bytes": int(20.4 * GIB),
    }
    return assumed_forecast(**{**settings, **changes})


def test_the_hidden_set_on_four_l4s_uses_the_whole_budget() -> None:
    forecast = _hidden_set_on_l4s(tokens_per_s=60, tokens_per_sample=350, search_evaluations_per_s=11_000)
    usable = 11 * 3600 * (1 - RESERVE_FRACTION)
    assert forecast.lanes == 4 and forecast.gpus == 4
    assert forecast.seconds_per_task == pytest.approx(usable * 4 / 240)  # ≈ 647 s
    assert forecast.planned_s == pytest.approx(usable)
    assert forecast.budget_share == pytest.approx(1 - RESERVE_FRACTION)
    assert forecast.gpu_hours == pytest.approx(usable / 3600 * 4)
    work = forecast.per_task()
    assert work["llm_samples"] == pytest.approx(usable * 4 / 240 * 60 / 350)
    # 48 cores less one per lane, 11 a lane: 10 search processes, capped at 8.
    assert work["search_evaluations"] == pytest.approx(usable * 4 / 240 * 0.5 * 11_000 * 8)
    text = "\n".join(forecast.lines())
    assert "full run: 240 tasks, budget 11.0 h, on 4 lanes, one model replica per GPU" in text
    assert "hours planned: 10.8 h; expected: 10.8 h, 98% of the budget; GPU hours: 43.1 (4 GPUs)" in text
    assert "LLM samples (population 8 ×" in text
    assert "assumed, not measured" in text
    event = forecast.as_event()
    assert event["gpu_hours"] == pytest.approx(43.12, abs=0.01)
    assert event["lanes"] == 4


def test_a_local_per_task_cap_plans_a_fraction_of_the_budget() -> None:
    # The old Kaggle run: 10 s per task capped 240 tasks at 40 minutes of an 11-hour budget.
    forecast = _hidden_set_on_l4s(cap_s=10.0, holds_model=False, search_share=1.0, gpus=[], cpus=1)
    assert forecast.seconds_per_task == 10.0
    assert forecast.planned_s == pytest.approx(2400)
    assert forecast.gpus == 0 and forecast.gpu_hours == 0
    assert forecast.budget_share == pytest.approx(2400 / (11 * 3600))


def test_a_model_too_big_for_a_card_is_one_sharded_lane() -> None:
    forecast = _hidden_set_on_l4s(replica_bytes=40 * GIB)
    assert forecast.lanes == 1 and forecast.gpus == 4
    assert "one model replica sharded over 4 × NVIDIA L4" in forecast.lines()[0]
    assert "one decoding at a time" in forecast.lines()[2]


def test_measured_rates_from_a_test_mode_run() -> None:
    results = [
        (
            2.0,
            True,
            {
                "search": {"evals_per_s": 9000.0},
                "search_seconds": 1.0,
                "llm": {"tokens": 400, "programs": 4},
                "llm_seconds": 1.0,
            },
        ),
        (
            10.0,
            False,
            {
                "search": {"evals_per_s": 11000.0},
                "search_seconds": 5.0,
                "llm": {"tokens": 2000, "programs": 16},
                "llm_seconds": 9.0,
            },
        ),
    ]
    rates = measured_rates(results, lanes_label="1 lane on the CPU")
    assert rates is not None
    assert rates.llm_tokens_per_s == pytest.approx(2400 / 10.0)
    assert rates.llm_programs_per_s == pytest.approx(20 / 12.0)
    assert rates.search_evaluations_per_s == pytest.approx(10_000.0)
    assert rates.search_share == pytest.approx(0.5)
    assert rates.search_share == pytest.approx(0.5)
    assert rates.solved_share == 0.5 and rates.solved_seconds == 2.0
    assert "measured on this run's 2 tasks" in rates.source
    assert measured_rates([], lanes_label="") is None
    # With a budget and no cap, unsolved tasks take what solved ones leave: the run uses its planned hours.
    full = FullRunForecast(240, 11 * 3600, None, 4, 4, "4 lanes", rates)
    assert full.expected_s == pytest.approx(full.planned_s)
    # With a per-task cap, solved tasks end early and the run ends sooner.
    capped = FullRunForecast(240, 11 * 3600, 10.0, 4, 4, "4 lanes", rates)
    assert capped.expected_s == pytest.approx(240 * (0.5 * 2.0 + 0.5 * 10.0) / 4)


def test_search_only_forecast_spreads_over_every_core() -> None:
    forecast = FullRunForecast(
        240, 11 * 3600, None, 48, 0, "48 CPU workers", Rates(source="x", search_evaluations_per_s=11_000.0)
    )
    assert forecast.seconds_per_task == pytest.approx(11 * 3600 * (1 - RESERVE_FRACTION) * 48 / 240)
    assert forecast.gpu_hours == 0


def test_the_forecast_command(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["forecast", "--tasks", "240", "--time-budget", "11h", "--gpus", "4", "--cpus", "48"]
    assert main([*argv, "--engine", "hybrid", "--replica-gib", "20.4"]) == 0
    out = capsys.readouterr().out
    assert "4 lanes, one model replica per GPU on 4 × GPU (22.5 GiB)" in out
    assert "hours planned: 10.8 h; expected: 10.8 h, 98% of the budget; GPU hours: 43.1 (4 GPUs)" in out
    assert "≈111 LLM samples" in out and "≈28.5 M search evaluations" in out
    assert main([*argv, "--engine", "search", "--json"]) == 0
    event = json.loads(capsys.readouterr().out)
    assert (event["lanes"], event["gpus"], event["engine"]) == (48, 0, "search")
    assert event["time_per_task_s"] == pytest.approx(11 * 3600 * 0.98 * 48 / 240, abs=0.01)


def test_a_test_mode_run_forecasts_the_full_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out, state = tmp_path / "submission.json", tmp_path / "state"
    argv = ["run", "--test-mode", "--out", str(out), "--state-dir", str(state), "--workers", "2"]
    argv += ["--time-per-task", "2", "--forecast-tasks", "240", "--forecast-budget", "11h"]
    assert main(argv) == 0
    printed = capsys.readouterr().err  # the run's report goes to stderr with its progress
    assert "full run: 240 tasks, budget 11.0 h, on 2 CPU workers" in printed
    assert "each task gets 5.4 min (2 lanes over 240 tasks)" in printed  # 11 h × 0.98 × 2 / 240
    assert "hours planned: 10.8 h" in printed and "GPU hours: 0.0" in printed
    assert "M search evaluations" in printed and "measured on this run's 5 tasks" in printed
    events = [json.loads(line) for line in (state / "test-run.jsonl").read_text().splitlines()]
    forecast = next(e["data"]["forecast"] for e in events if e["kind"] == "log" and "forecast" in e["data"])
    assert forecast["tasks"] == 240 and forecast["lanes"] == 2 and forecast["gpus"] == 0
    assert forecast["planned_hours"] == pytest.approx(11 * 0.98, abs=0.01)
    assert forecast["per_task"]["search_evaluations"] > 0


def test_the_forecast_command_refuses_bad_input(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["forecast", "--engine", "nonsense"]) == 2
    assert "unknown engine 'nonsense'" in capsys.readouterr().err
    assert main(["forecast", "--model-dir", "/nonexistent/model"]) == 2
    assert "cannot size a replica of the model in /nonexistent/model" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["forecast", "--gpus", "-1"])
    assert "not a number of GPUs" in capsys.readouterr().err
    assert main(["forecast", "--gpus", "0", "--cpus", "4", "--engine", "hybrid", "--replica-gib", "20"]) == 0
    assert "1 lane on the CPU (no GPU)" in capsys.readouterr().out
