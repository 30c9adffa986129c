"""Durations as people write them in YAML and flags (`30s`, `5m`, `1h30m`, `250ms`).

One parser for the rollout schedule, the analysis windows and the rollback budget, so `5m`
means the same thing everywhere; PromQL range selectors are written back with
`promql_duration` (whole seconds, as Prometheus accepts them).
"""

from __future__ import annotations

import re

from ml_actions.errors import ConfigurationError

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")


def parse_duration(text: str | float | int, where: str = "duration") -> float:
    """Seconds in `text`; a bare number means seconds. `where` names the setting in errors."""
    if isinstance(text, bool):
        raise ConfigurationError(f"{where}: expected a duration such as 30s, 5m or 1h, got {text}")
    if isinstance(text, (int, float)):
        if text < 0:
            raise ConfigurationError(f"{where}: a duration cannot be negative, got {text}")
        return float(text)
    raw = str(text).strip().lower()
    if re.fullmatch(r"\d+(?:\.\d+)?", raw):
        return float(raw)
    pos, total = 0, 0.0
    for match in _PART.finditer(raw):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if not raw or pos != len(raw):
        raise ConfigurationError(
            f"{where}: {text!r} is not a duration; write e.g. 30s, 5m, 1h or 1m30s"
        )
    return total


def promql_duration(seconds: float) -> str:
    """A PromQL range such as `45s` (at least one second, rounded up)."""
    whole = max(1, int(-(-seconds // 1)))
    return f"{whole}s"


def format_duration(seconds: float | None) -> str:
    """Human text for reports: `850 ms`, `42.0 s`, `5m 10s`."""
    if seconds is None:
        return "–"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes}m {rest}s" if rest else f"{minutes}m"
