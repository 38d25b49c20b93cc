"""arcforge-kaggle-publish's status events: the shared writer of arcforge-events, bound to this stage.

The writer, the reader and the contract live in arcforge-events (docs/events.md); this module only
names the stages that this package writes: `upload`, and `test-run` for a Kaggle run's events.
"""

from __future__ import annotations

from arcforge_events import EventWriter, resolve_state_dir

STAGE = "upload"
KAGGLE_RUN_STAGE = "test-run"

__all__ = ["KAGGLE_RUN_STAGE", "STAGE", "EventWriter", "resolve_state_dir"]
