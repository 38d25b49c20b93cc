"""Shared helpers for the TUI tests: a deterministic app factory and bounded waits on its state."""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from rich.text import Text
from textual.pilot import Pilot
from textual.widgets import Static

from arcforge_tui.app import MonitorApp

FIXED_NOW = 1_764_100_000.0  # 2025-11-25 19:46:40 UTC: the header clock in every test


def make_app(state_dir: Path, *, replay: bool = False) -> MonitorApp:
    """An app with a fixed clock, UTC times, quick polling and no animations."""
    app = MonitorApp(
        state_dir,
        replay=replay,
        clock=lambda: FIXED_NOW,
        tz=dt.timezone.utc,
        poll_interval=0.05,
        redraw_interval=0.05,
    )
    app.animation_level = "none"
    return app


async def wait_until(pilot: Pilot[None], condition: Callable[[], bool], what: str, tries: int = 600) -> None:
    """Let the app run until `condition` holds (bounded, so a bug fails instead of hanging)."""
    for _ in range(tries):
        if condition():
            return
        await pilot.pause(0.02)
    raise AssertionError(f"the app never reached: {what}")


async def settle(pilot: Pilot[None], app: MonitorApp) -> None:
    """Wait until the widgets show everything read so far (and, in replay, everything there is)."""
    await wait_until(pilot, lambda: (app.loaded or not app.replay) and app.settled, "a settled screen")
    await pilot.pause()


def shown(widget: Static) -> Any:
    """What a Static was given to show (`content` in newer Textual, `renderable` before)."""
    if hasattr(widget, "content"):
        return widget.content
    return widget.renderable


def plain(widget: Static) -> str:
    """The text a Static shows, without styles."""
    content = shown(widget)
    if isinstance(content, Text):
        return content.plain
    if isinstance(content, str):
        return content
    console = Console(width=200, file=io.StringIO(), record=True, color_system=None)
    console.print(content)
    return console.export_text()


def skipped_count(texts: list[str], reason: str) -> int:
    """How many lines the log says were skipped for `reason`, over all its messages.

    The tailer says it once per batch it read, and where a poll falls between two appends is up to
    the scheduler, so a test counts the lines, not the messages.
    """
    pattern = re.compile(rf"skipped (\d+) lines?: {re.escape(reason)}")
    return sum(int(match.group(1)) for text in texts for match in pattern.finditer(text))


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    path = tmp_path / "state"
    path.mkdir()
    return path
