"""arcforge's shared contract: the status-event writer and reader, the state dir, typed payloads and
the reader of the downloader's manifest.json. Standard library only; every stage depends on it and on
no other stage (docs/events.md, docs/manifest.md)."""

from arcforge_events.contract import (
    CONTRACT_VERSION,
    DEFAULT_STATE_DIR,
    EVENT_KINDS,
    PACKAGE_VERSION,
    STAGES,
    STATE_DIR_ENV,
    event_path,
    resolve_state_dir,
)
from arcforge_events.reader import (
    Event,
    EventTailer,
    Junk,
    ReadBatch,
    latest_run,
    parse_event,
    parse_line,
    read_events,
)
from arcforge_events.writer import EventWriter, UndocumentedPayloadError, new_run_id

__version__ = PACKAGE_VERSION

__all__ = [
    "CONTRACT_VERSION",
    "DEFAULT_STATE_DIR",
    "EVENT_KINDS",
    "STAGES",
    "STATE_DIR_ENV",
    "Event",
    "EventTailer",
    "EventWriter",
    "Junk",
    "ReadBatch",
    "UndocumentedPayloadError",
    "__version__",
    "event_path",
    "latest_run",
    "new_run_id",
    "parse_event",
    "parse_line",
    "read_events",
    "resolve_state_dir",
]
