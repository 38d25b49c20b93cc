"""A stand-in for the Python of Kaggle's image: a fresh virtualenv that holds pip and numpy, no arcforge,
for a notebook to install the wheelhouse into offline."""

from __future__ import annotations

import importlib.metadata
import os
import subprocess
import venv
from pathlib import Path


def kaggle_image_python(target: Path) -> str:
    """Create the virtualenv under `target`; its python. numpy is this interpreter's copy, linked in."""
    venv.EnvBuilder(with_pip=True).create(target / "venv")  # ensurepip installs its bundled pip, offline
    python = target / "venv" / "bin" / "python"
    image = target / "image-site"
    image.mkdir()
    numpy = importlib.metadata.distribution("numpy")
    top = Path(str(numpy.locate_file("numpy")))
    for entry in top.parent.iterdir():  # numpy, numpy.libs and numpy's dist-info, nothing else
        if entry.name in ("numpy", "numpy.libs") or (
            entry.name.startswith("numpy-") and entry.name.endswith(".dist-info")
        ):
            (image / entry.name).symlink_to(entry)
    own_site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    (Path(own_site) / "kaggle_image.pth").write_text(f"{image}\n")
    probe = subprocess.run(
        [str(python), "-c", "import numpy, importlib.util; print(importlib.util.find_spec('arcforge_solver'))"],
        capture_output=True, text=True, check=False, env={"PATH": os.environ.get("PATH", "")},
    )  # fmt: skip
    if probe.returncode != 0 or probe.stdout.strip() != "None":
        raise RuntimeError(f"the image virtualenv is not clean: {probe.stdout}{probe.stderr}")
    return str(python)
