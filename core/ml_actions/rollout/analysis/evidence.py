"""What one look at the canary found: each check's verdict with the numbers behind it.

Flagger's and Argo's users most often complain that a failed analysis does not say which value
failed against which bound. Every check here carries its value, stable's value, the confidence
interval of the difference, the bound it was judged against, the sample and the sample it
needs, and the query it came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field

VERDICT_ORDER = ("error", "halt", "fail", "inconclusive", "pass")


@dataclass
class AnalysisCheck:
    """One check's verdict with everything needed to audit it."""

    name: str
    verdict: str  # pass | fail | inconclusive | halt | skip
    value: float | None  # the canary's own value (a rate, a share)
    threshold: float | None  # the bound the difference is judged against
    comparison: str  # how the difference is judged against threshold: "<=", ">=", "in"
    sample_size: int | None
    required_sample_size: int | None
    statistic: str | None = None  # what `statistic_value` is, e.g. "canary - stable"
    statistic_value: float | None = None
    p_value: float | None = None
    stable_value: float | None = None
    query: str = ""
    message: str = ""
    lower: float | None = None  # the always-valid interval of the statistic
    upper: float | None = None
    gating: bool = True  # False: may fail the rollout, but its lack of data never blocks a step


@dataclass
class Evaluation:
    """All checks of one look and the verdict they add up to."""

    at: str
    weight: float
    window_seconds: float  # the evidence judged: seconds since the step's data began
    verdict: str  # pass | fail | inconclusive | halt | error
    checks: list[AnalysisCheck] = field(default_factory=list)
    error: str | None = None
    canary_requests: int = 0
    stable_requests: int = 0

    def failing(self) -> list[AnalysisCheck]:
        return [c for c in self.checks if c.verdict in ("fail", "halt")]

    def judged(self) -> list[AnalysisCheck]:
        return [c for c in self.checks if c.verdict == "pass"]


def combine(checks: list[AnalysisCheck]) -> str:
    """The worst verdict; no judged check at all is inconclusive, never a pass."""
    verdicts = {c.verdict for c in checks}
    for verdict in VERDICT_ORDER:
        if verdict in verdicts:
            return verdict
    return "inconclusive"
