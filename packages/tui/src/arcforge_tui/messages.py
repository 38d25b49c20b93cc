"""Typed messages: the only way the tailing threads hand anything to the UI."""

from __future__ import annotations

from textual.message import Message

from arcforge_events import ReadBatch


class EventsRead(Message):
    """A batch of events (and junk/restart news) read from one stage's file."""

    def __init__(self, stage: str, batch: ReadBatch) -> None:
        super().__init__()
        self.stage = stage
        self.batch = batch


class StageLoaded(Message):
    """Replay: a stage's file has been read to its end."""

    def __init__(self, stage: str) -> None:
        super().__init__()
        self.stage = stage
