"""The stand-in's notebook runner lays out a pushed version's sources the way each Kaggle image mounts them."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.kaggle_publish.conftest import make_model_folder
from tests.support.kaggle import KaggleStandIn
from tests.support.kaggle.notebook_runner import MOUNT_LAYOUTS, materialize_inputs

MODEL = "google/codegemma/transformers/7b-it"
EXPECTED = {
    # today: competitions/<slug>/, datasets/<owner>/<slug>/, models/<owner>/<model>/<framework>/<variation>/<n>/
    "current": (
        "competitions/arc-prize-2026-arc-agi-2/arc-agi_test_challenges.json",
        "datasets/alice/codegemma-arcforge/model/config.json",
        "models/google/codegemma/transformers/7b-it/2/config.json",
    ),
    # older images: everything straight under /kaggle/input
    "legacy": (
        "arc-prize-2026-arc-agi-2/arc-agi_test_challenges.json",
        "codegemma-arcforge/model/config.json",
        "codegemma/transformers/7b-it/2/config.json",
    ),
    "mixed": (
        "competitions/arc-prize-2026-arc-agi-2/arc-agi_test_challenges.json",
        "codegemma-arcforge/model/config.json",
        "codegemma/transformers/7b-it/2/config.json",
    ),
}


@pytest.mark.parametrize("layout", MOUNT_LAYOUTS)
def test_each_layout_mounts_the_competition_datasets_and_models(
    kaggle: KaggleStandIn, publish, tmp_path: Path, layout: str
) -> None:
    assert (
        publish(
            "dataset", str(make_model_folder(tmp_path / "m", weights=100)), "--id", "alice/codegemma-arcforge"
        ).code
        == 0
    )
    kaggle.add_model(MODEL, versions=[1, 2], files={"config.json": b"{}", "model.safetensors": b"x"})
    pushed = publish(
        "kernel",
        "--id",
        "alice/arcforge-arc-prize",
        "--dataset",
        "alice/codegemma-arcforge",
        "--model",
        MODEL,
    )
    assert pushed.code == 0, pushed.err
    kernel = kaggle.kernels[("alice", "arcforge-arc-prize")]
    assert kernel.versions[-1].request["modelDataSources"] == [f"{MODEL}/2"]  # the latest version, resolved
    input_dir = materialize_inputs(kaggle, kernel.versions[-1], tmp_path / layout, layout)
    for path in EXPECTED[layout]:
        assert (input_dir / path).is_file(), f"{layout}: {path}\n" + "\n".join(
            str(p.relative_to(input_dir)) for p in sorted(input_dir.rglob("*"))
        )


def test_an_unknown_layout_is_named(kaggle: KaggleStandIn, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="layout must be one of current, legacy, mixed"):
        materialize_inputs(kaggle, None, tmp_path, "flat")  # type: ignore[arg-type]
