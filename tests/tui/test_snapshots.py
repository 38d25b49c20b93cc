"""Snapshots of every pane at 80×24 and 120×40 (fixed clock, UTC, no animations).

Update them after a deliberate change of the screens with
`nox -s "tests(suite='tui')" -- --snapshot-update`, and look at the SVGs before committing.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot

from arcforge_tui.app import MonitorApp
from tests.tui import scenario
from tests.tui.conftest import make_app, settle

SnapCompare = Callable[..., bool]


def running_app(state_dir: Path) -> MonitorApp:
    """Mid-run: the download half way through its last shard, uploads done, four of six tasks done."""
    scenario.write_download(state_dir, finished=False)
    scenario.write_upload(state_dir)
    scenario.write_test_run(state_dir, finished=False, tasks=4)
    return make_app(state_dir, replay=True)


def settled(app: MonitorApp) -> Callable[[Pilot[None]], object]:
    async def run_before(pilot: Pilot[None]) -> None:
        await settle(pilot, app)

    return run_before


@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
@pytest.mark.parametrize("pane", ["1", "2", "3", "4"], ids=["download", "upload", "test-run", "log"])
def test_pane(snap_compare: SnapCompare, state_dir: Path, pane: str, size: tuple[int, int]) -> None:
    app = running_app(state_dir)
    assert snap_compare(app, press=[pane], terminal_size=size, run_before=settled(app))


def test_waiting_for_every_stage(snap_compare: SnapCompare, state_dir: Path) -> None:
    app = make_app(state_dir)  # live, on an empty state dir
    assert snap_compare(app, terminal_size=(80, 24), run_before=settled(app))


def test_finished_run_with_a_gated_download(snap_compare: SnapCompare, state_dir: Path) -> None:
    scenario.write_gated_download(state_dir)
    scenario.write_test_run(state_dir)
    app = make_app(state_dir, replay=True)
    assert snap_compare(app, press=["1"], terminal_size=(120, 40), run_before=settled(app))


def test_task_detail(snap_compare: SnapCompare, state_dir: Path) -> None:
    app = running_app(state_dir)
    assert snap_compare(app, press=["3", "down", "enter"], terminal_size=(80, 24), run_before=settled(app))
