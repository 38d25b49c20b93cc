"""The loopback hub speaks the real protocol: huggingface_hub itself downloads from it."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from huggingface_hub import HfApi, snapshot_download
from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

from tests.downloader.conftest import GOOD_TOKEN, REPO_ID
from tests.support.hub_server import GeneratedRepo, HubServer


@pytest.mark.parametrize("via_cdn", [False, True], ids=["direct", "cdn-redirect"])
def test_snapshot_download_gets_every_file(
    hub: HubServer, repo: GeneratedRepo, tmp_path: Path, via_cdn: bool
):
    hub.set_faults(redirect_to_cdn=via_cdn)
    folder = snapshot_download(REPO_ID, local_dir=tmp_path / "snap", endpoint=hub.url, token=False)
    for name, info in repo.files.items():
        assert hashlib.sha256((Path(folder) / name).read_bytes()).hexdigest() == info.sha256, name
    assert hub.stats()["cdn_requests"] > 0 if via_cdn else hub.stats()["cdn_requests"] == 0


def test_metadata_matches_the_generated_repo(hub: HubServer, repo: GeneratedRepo):
    api = HfApi(endpoint=hub.url, token=False)
    info = api.model_info(REPO_ID, files_metadata=True)
    assert info.sha == repo.commit
    siblings = {s.rfilename: s for s in info.siblings or []}
    shard = "model-00001-of-00002.safetensors"
    assert siblings[shard].size == repo.files[shard].size
    assert siblings[shard].lfs is not None and siblings[shard].lfs.sha256 == repo.files[shard].sha256
    tree = {f.path: f for f in api.list_repo_tree(REPO_ID, revision=repo.commit, recursive=True)}
    assert set(tree) == set(repo.files)
    assert tree["config.json"].blob_id == repo.files["config.json"].blob_id


def test_errors_map_to_huggingface_hub_classes(hub: HubServer, tmp_path: Path):
    api = HfApi(endpoint=hub.url, token=False)
    with pytest.raises(RepositoryNotFoundError):
        api.model_info("arcforge-test/absent")
    hub.set_faults(gated_tokens=[GOOD_TOKEN])
    with pytest.raises(GatedRepoError):
        snapshot_download(REPO_ID, local_dir=tmp_path / "gated", endpoint=hub.url, token=False, dry_run=True)
