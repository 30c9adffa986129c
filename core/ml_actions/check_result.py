"""One judged check with its evidence: what every gate, data check and report row is made of.

validate-data and validate-model judge different things but report them alike, so a reviewer
reads one shape everywhere: name, status, the value against its threshold, the sample.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

STATUSES = ("pass", "fail", "warn", "skip", "inconclusive")
STATUS_MARKS = {"pass": "✅", "fail": "❌", "warn": "⚠️", "skip": "⏭️", "inconclusive": "❔"}


@dataclass
class CheckResult:
    """One judged check, with the evidence a model-risk reviewer needs."""

    name: str
    status: str  # one of STATUSES
    actual: float | None
    threshold: float | None
    message: str
    sample_size: int | None = None
    interval: tuple[float, float] | None = None  # confidence interval, where statistical
    details: dict[str, Any] = field(default_factory=dict)
