"""GPU lanes chosen from the visible cards and the model's size: one replica per card when it fits, one lane
sharded over every card when it does not, one lane on the CPU; and the CPU cores the lanes leave."""

from __future__ import annotations

import pytest

from arcforge_solver.runtime.lanes import (
    GIB,
    Gpu,
    GpuDetectionError,
    auto_workers,
    describe_gpus,
    detect_gpus,
    plan_lanes,
)

L4 = 23034 * 1024**2  # an NVIDIA L4 as nvidia-smi reports it


def _cards(count: int, memory: int = L4) -> list[Gpu]:
    return [Gpu(str(i), "NVIDIA L4", memory) for i in range(count)]


def test_fake_gpu_hook(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARCFORGE_FAKE_GPUS", "4")
    gpus = detect_gpus()
    assert [g.device for g in gpus] == ["0", "1", "2", "3"]
    assert all(g.memory_bytes == int(22.5 * GIB) for g in gpus)
    monkeypatch.setenv("ARCFORGE_FAKE_GPUS", "2x80")
    assert [g.memory_bytes for g in detect_gpus()] == [80 * GIB, 80 * GIB]
    monkeypatch.setenv("ARCFORGE_FAKE_GPUS", "0")
    assert detect_gpus() == []
    monkeypatch.setenv("ARCFORGE_FAKE_GPUS", "four")
    with pytest.raises(GpuDetectionError, match="ARCFORGE_FAKE_GPUS='four'"):
        detect_gpus()


def test_a_model_that_fits_one_card_gets_a_lane_per_card() -> None:
    # codegemma-7b-it: 17.1 GB of bf16 weights + one 8192-token KV cache (3.5 GiB) + 1 GiB ≈ 20.4 GiB.
    plan = plan_lanes(_cards(4), int(20.4 * GIB))
    assert plan.lanes == 4 and not plan.sharded
    assert [plan.env(i) for i in range(4)] == [{"CUDA_VISIBLE_DEVICES": str(i)} for i in range(4)]
    assert plan.gpus_used == 4
    assert "4 lanes, one replica per GPU on 4 × NVIDIA L4 (22.5 GiB)" in plan.reason


def test_a_model_too_large_for_one_card_is_sharded_and_says_so() -> None:
    plan = plan_lanes(_cards(4), 40 * GIB)
    assert plan.lanes == 1 and plan.sharded
    assert plan.env(0) == {"CUDA_VISIBLE_DEVICES": "0,1,2,3"}
    assert plan.gpus_used == 4
    assert "needs 40.0 GiB, more than one card's 22.5 GiB" in plan.reason
    assert "sharded over 4 GPUs with device_map=auto" in plan.reason
    beyond = plan_lanes(_cards(2), 100 * GIB)
    assert beyond.lanes == 1 and "offloaded to the CPU" in beyond.reason


def test_no_gpu_one_lane_on_the_cpu_and_a_lane_cap() -> None:
    cpu = plan_lanes([], 20 * GIB)
    assert (cpu.lanes, cpu.devices, cpu.gpus_used, cpu.env(0)) == (1, (), 0, {})
    assert "no GPU" in cpu.reason
    capped = plan_lanes(_cards(4), None, max_lanes=2)
    assert capped.devices == ("0", "1") and "capped at 2" in capped.reason


def test_cuda_visible_devices_names_are_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    cards = [Gpu("2", "NVIDIA L4", L4), Gpu("3", "NVIDIA L4", L4)]
    assert plan_lanes(cards, GIB).devices == ("2", "3")
    assert describe_gpus([Gpu("0", "A", GIB), Gpu("1", "B", 2 * GIB)]) == "A (1.0 GiB), B (2.0 GiB)"


def test_workers_auto_leaves_a_core_per_lane() -> None:
    assert auto_workers(0, cores=48) == 48
    assert auto_workers(4, cores=48) == 44
    assert auto_workers(4, cores=2) == 1
