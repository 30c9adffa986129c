"""A cancelled job must not leave a canary serving with nobody judging it.

GitHub cancels a job by sending SIGTERM to its container, then SIGKILL a few seconds later;
Python's default SIGTERM ends the process on the spot. While a rollout runs, SIGTERM marks the
process as cancelled and raises `Cancelled`, so the rollout takes the canary out of traffic and
records why before the process exits (Ctrl-C does the same through KeyboardInterrupt). The
mark matters because the exception can land inside a library call that swallows errors (an
HTTP client, a best-effort publisher): the rollout checks the mark at every look, so a
swallowed signal still stops it within one look interval.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

from ml_actions.errors import Cancelled

_requested: list[str] = []


def request(reason: str) -> None:
    _requested.append(reason)


def raise_if_requested() -> None:
    """Raise `Cancelled` when a cancel was requested (and not yet acted on)."""
    if _requested:
        raise Cancelled(_requested[-1])


@contextlib.contextmanager
def cancel_on_sigterm(what: str) -> Iterator[None]:
    """Within the block, SIGTERM requests a cancel and raises `Cancelled` in the main thread."""
    _requested.clear()
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    reason = f"cancelled (SIGTERM): {what}"

    def cancel(signum: int, frame: object) -> None:
        request(reason)
        raise Cancelled(reason)

    previous = signal.signal(signal.SIGTERM, cancel)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
        _requested.clear()
