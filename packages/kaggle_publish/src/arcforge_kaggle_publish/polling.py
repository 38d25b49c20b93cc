"""`poll_until`: ask Kaggle for a state with growing pauses until it is final, reporting each change once."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from arcforge_kaggle_publish.errors import PublishError

S = TypeVar("S")

MAX_POLL_S = 60.0


def poll_until(
    fetch: Callable[[], S],
    *,
    label: Callable[[S], str],
    final: Callable[[S], bool],
    on_change: Callable[[S], None],
    poll_seconds: float,
    timeout_s: float,
    what: str,
    advice: str = "",
    wait: bool = True,
) -> S:
    """Call `fetch` until `final(state)`; `on_change` sees each new `label(state)`; return the last state.

    With `wait=False` the first state is returned as it is. The pause starts at `poll_seconds` and grows by
    half up to a minute. Past `timeout_s` a `PublishError` names `what` and the state it was still in.
    """
    delay, deadline, last = poll_seconds, time.monotonic() + timeout_s, None
    while True:
        state = fetch()
        shown = label(state)
        if shown != last:
            on_change(state)
            last = shown
        if not wait or final(state):
            return state
        if time.monotonic() > deadline:
            raise PublishError(
                f"{what} was still {shown} after {timeout_s:.0f}s", code="timeout", advice=advice
            )
        time.sleep(delay)
        delay = min(delay * 1.5, MAX_POLL_S)
