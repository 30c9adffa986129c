"""Timestamps as ml-actions writes them: UTC, ISO 8601, the precision said at the call.

State, reports and the gateway's history all carry times that people read and programs
compare; one module makes them the same kind of string.
"""

from __future__ import annotations

from datetime import UTC, datetime


def now_iso(timespec: str = "seconds") -> str:
    """Now in UTC, e.g. `2026-12-02T01:53:42+00:00` (`timespec` as `datetime.isoformat`)."""
    return datetime.now(UTC).isoformat(timespec=timespec)


def now_zulu() -> str:
    """Now in UTC with a `Z` suffix, e.g. `2026-12-02T01:53:42Z` (the reports' field)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_from_epoch(seconds: float) -> str:
    """A Unix time as UTC ISO 8601 with milliseconds."""
    return datetime.fromtimestamp(seconds, UTC).isoformat(timespec="milliseconds")


def epoch_from_iso(text: str) -> float:
    """The inverse of `now_iso` / `iso_from_epoch`."""
    return datetime.fromisoformat(text).timestamp()
