"""Loading a model folder offline: layouts, the wrong-path error, device and dtype choice."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from arcforge_solver.engines.llm.loading import (
    ModelFolderError,
    load_model,
    pick_dtype,
    plan_device,
    resolve_model_paths,
)
from tests.support.tiny_model import build_tiny_model

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("tiny-llama"))


def test_downloader_layout_resolves_model_and_tokenizer(tiny: Path) -> None:
    paths = resolve_model_paths(tiny)
    assert paths.model == tiny / "model"
    assert paths.tokenizer == tiny / "tokenizer"


def test_flat_hugging_face_folder_resolves_to_itself(tiny: Path, tmp_path: Path) -> None:
    flat = tmp_path / "flat"
    shutil.copytree(tiny / "model", flat)
    for item in (tiny / "tokenizer").iterdir():
        shutil.copy(item, flat / item.name)
    paths = resolve_model_paths(flat)
    assert paths.model == flat and paths.tokenizer == flat


def test_missing_folder_error_lists_the_parent(tmp_path: Path) -> None:
    (tmp_path / "gemma-2b").mkdir()
    with pytest.raises(ModelFolderError) as caught:
        resolve_model_paths(tmp_path / "gemma-2")
    message = str(caught.value)
    assert "model folder not found" in message
    assert "gemma-2b" in message


def test_folder_without_weights_says_so_and_lists_what_is_there(tiny: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(tiny, broken)
    (broken / "model" / "model.safetensors").unlink()
    (broken / "model" / "notes.txt").write_text("partial download")
    with pytest.raises(ModelFolderError) as caught:
        resolve_model_paths(broken)
    message = str(caught.value)
    assert "No file named model.safetensors" in message.replace("no file named", "No file named")
    assert "model/config.json" in message
    assert "model/notes.txt" in message
    assert "tokenizer/" in message


def test_wrong_level_suggests_the_nested_model(tiny: Path, tmp_path: Path) -> None:
    kaggle_input = tmp_path / "input"
    shutil.copytree(tiny, kaggle_input / "my-model" / "1")
    with pytest.raises(ModelFolderError) as caught:
        resolve_model_paths(kaggle_input)
    assert "did you mean" in str(caught.value)
    assert str(kaggle_input / "my-model" / "1") in str(caught.value)


def test_missing_tokenizer_is_named(tiny: Path, tmp_path: Path) -> None:
    no_tokenizer = tmp_path / "no-tok"
    shutil.copytree(tiny / "model", no_tokenizer / "model")
    with pytest.raises(ModelFolderError, match="no tokenizer"):
        resolve_model_paths(no_tokenizer)


@pytest.mark.parametrize(
    ("capabilities", "expected"),
    [
        ([], "float32"),
        ([(7, 5)], "float16"),  # T4
        ([(7, 5), (7, 5)], "float16"),  # Kaggle's 2× T4
        ([(6, 0)], "float16"),  # P100
        ([(8, 0)], "bfloat16"),  # A100
        ([(9, 0)], "bfloat16"),  # H100
        ([(8, 6), (7, 5)], "float16"),  # mixed: the weakest card decides
    ],
)
def test_dtype_follows_the_hardware(capabilities: list[tuple[int, int]], expected: str) -> None:
    assert pick_dtype(capabilities) == expected


def test_cpu_plan_is_float32_without_device_map() -> None:
    plan = plan_device(device="cpu")
    assert (plan.device, plan.device_map, plan.dtype) == ("cpu", None, "float32")
    assert plan_device("bfloat16", device="cpu").dtype == "bfloat16"
    with pytest.raises(ValueError, match="dtype must be one of"):
        plan_device("int3")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU path")
@pytest.mark.parametrize("arch", ["llama", "gemma"])
def test_load_tiny_model_offline_on_cpu(tmp_path_factory: pytest.TempPathFactory, arch: str) -> None:
    root = build_tiny_model(tmp_path_factory.mktemp(f"tiny-{arch}"), arch=arch)
    loaded = load_model(root)
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    assert loaded.plan.device == "cpu"
    assert loaded.model.dtype == torch.float32
    assert str(loaded.input_device) == "cpu"
    assert loaded.tokenizer.padding_side == "left"
    assert loaded.tokenizer.pad_token is not None
    assert loaded.model.config.model_type == arch
    assert loaded.model.training is False


def test_unreadable_weights_give_the_folder_error(tiny: Path, tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt"
    shutil.copytree(tiny, corrupt)
    (corrupt / "model" / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ModelFolderError, match="cannot load the model"):
        load_model(corrupt)
