"""Credentials never leave the process: `user:password@` is stripped from every URL we write.

Tracking and Prometheus URLs are often given with basic-auth credentials in them. They reach
messages, reports, MLflow tags, PR comments and deployment statuses, so every one of those
sinks passes its text through `redact` (the runner for the log and job summary, the report
writers, the registry's tag writer, the GitHub client).
"""

from __future__ import annotations

import re
from typing import Any

_CREDENTIALS = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<auth>[^/\s@:]*(:[^/\s@]*)?)@")


def redact(text: str) -> str:
    """`text` with the credentials of every URL in it replaced by `***`."""
    return _CREDENTIALS.sub(lambda m: f"{m.group('scheme')}***@", text)


def redact_value(value: Any) -> Any:
    """`redact` applied through JSON-like values (dicts, lists, strings)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: redact_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_value(v) for v in value]
    return value
