"""arcforge-solver's status events: the shared writer of arcforge-events, bound to this stage.

The writer, the reader and the contract live in arcforge-events (docs/events.md); this module only
names the stage that this package writes.
"""

from __future__ import annotations

from arcforge_events import EventWriter, resolve_state_dir

STAGE = "test-run"

__all__ = ["STAGE", "EventWriter", "resolve_state_dir"]
