"""What an evaluation measured and what the gates decided: dataclasses serialised once.

The report renderers, the MLflow logger and the PR comment all read these; none recomputes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ml_actions.check_result import STATUSES, CheckResult
from ml_actions.report_documents import to_jsonable

__all__ = ["STATUSES", "CheckResult", "EvaluationResult", "GateDecision", "ModelScores",
           "SliceResult", "to_jsonable"]

@dataclass
class ModelScores:
    """Every metric of one model version on the test set, at its decision threshold."""

    version: str
    metrics: dict[str, float]  # auc_roc, auc_pr, precision, recall, f1_score, brier_score, ...
    confusion: dict[str, int]  # tp, fp, tn, fn
    decision_threshold: float
    roc_curve: list[tuple[float, float]] = field(default_factory=list)  # (fpr, tpr), thinned
    pr_curve: list[tuple[float, float]] = field(default_factory=list)  # (recall, precision)
    money: dict[str, float] | None = None
    # confidence intervals: auc_roc (DeLong), precision / recall (Wilson)
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)
    threshold_note: str | None = None  # e.g. no threshold reaches the target precision
    flavor: str | None = None  # how it was scored: "spark" or "pyfunc"


@dataclass
class SliceResult:
    column: str
    segment: str
    size: int
    positives: int
    metrics: dict[str, float | None]
    judged: bool  # False when below the minimum segment size: reported, not judged
    champion_metrics: dict[str, float | None] | None = None
    comparison: dict[str, Any] = field(default_factory=dict)  # delta_auc, se, p, flips


@dataclass
class EvaluationResult:
    """Candidate (and champion) scored on the same cached rows."""

    candidate: ModelScores
    champion: ModelScores | None
    n_rows: int
    n_positives: int
    test_data_digest: str
    comparison: dict[str, Any] = field(default_factory=dict)  # paired statistics vs champion
    slices: list[SliceResult] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class GateDecision:
    passed: bool
    checks: list[CheckResult]
    overridden: bool = False
    override_reason: str | None = None
    actor: str | None = None  # who ran the gate (recorded with a break-glass override)
    overridden_checks: list[str] = field(default_factory=list)  # blocking checks waived
    # what decided a failed verdict: checks that failed, and inconclusive ones when the
    # policy (`comparison.inconclusive: fail`) makes them block
    blocking: list[str] = field(default_factory=list)

    def failed(self) -> list[CheckResult]:
        return [c for c in self.checks if c.status == "fail"]

    def blocking_checks(self) -> list[CheckResult]:
        return [c for c in self.checks if c.name in self.blocking]

    def warnings(self) -> list[CheckResult]:
        """Checks that warn: status `warn`, and inconclusive ones the policy lets through."""
        return [c for c in self.checks if c.name != "break_glass_override" and (
            c.status == "warn" or (c.status == "inconclusive" and c.name not in self.blocking))]
