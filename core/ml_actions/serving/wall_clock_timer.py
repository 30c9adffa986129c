"""A one-shot timer on the event loop for a deadline on the wall clock.

The gateway's deadlines (the canary lease, the shadow's `until`) are wall-clock instants: they
are saved in the state file and outlive a restart. The event loop's timers run on its own
clock, and uvloop rounds them to the millisecond on a cached loop time, so a timer can fire a
little before `time.time()` reaches the deadline (5 of 200 did on this machine). An owner that
then found its deadline "not yet passed" and returned would never be called again: the canary
would stay unguarded, the shadow mirrored for good. This timer re-arms until the wall clock
has passed the deadline, then calls its action once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


class WallClockTimer:
    """Calls `action` once, after the wall clock passes the deadline given to `arm`."""

    def __init__(self, action: Callable[[], None]):
        self._action = action
        self._deadline: float | None = None
        self._handle: asyncio.TimerHandle | None = None

    @property
    def armed(self) -> bool:
        return self._handle is not None

    def arm(self, deadline: float | None) -> None:
        """(Re)start the countdown to `deadline` (epoch seconds); None only cancels it."""
        self.cancel()
        self._deadline = deadline
        if deadline is not None:
            self._handle = asyncio.get_running_loop().call_later(
                max(0.0, deadline - time.time()), self.fire)

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._handle, self._deadline = None, None

    def fire(self) -> None:
        """The loop's callback: the action if the deadline has passed, else wait for the
        rest. Public so a test can fire it early, as uvloop may."""
        if self._handle is not None:
            self._handle.cancel()
        self._handle = None
        deadline = self._deadline
        if deadline is None:
            return
        if time.time() < deadline:
            self.arm(deadline)
            return
        self._deadline = None
        self._action()
