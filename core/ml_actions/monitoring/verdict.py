"""The monitor's verdict: degraded, healthy or inconclusive, with its error rate stated.

For each metric (AUC-ROC, recall at the served thresholds) the difference champion minus
predecessor gets a two-sided interval at confidence 1 - 2 * level, where
level = monitor.alpha / (2 * monitor.runs_per_guard_period):

- **degraded** when for some metric the whole interval lies below -tolerance: the champion is
  surely worse by more than the tolerance. If its true loss is at most the tolerance on both
  metrics, one run says so with probability at most 2 * level (one-sided tail per metric), and
  the `runs_per_guard_period` runs of a guard period together with probability at most
  `monitor.alpha` (Bonferroni: conservative whatever the correlation between runs, which share
  most of their labels). That is the false-rollback guarantee;
  `tests/monitoring/test_false_rollback_rate.py` checks it by simulation.
- **healthy** when for both metrics the interval's lower bound clears -tolerance: a loss that
  large is ruled out at the same level.
- **inconclusive** otherwise, with the minimum detectable effect (at `monitor.power`) and the
  frauds, and days of label arrival, that would resolve it (the MDE shrinks as 1/sqrt(frauds)).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field

from ml_actions.config.monitor import MonitorConfig
from ml_actions.monitoring.paired_comparison import PairedEvidence

VERDICTS = ("healthy", "degraded", "inconclusive")


@dataclass
class MetricJudgement:
    metric: str  # auc_roc | recall
    delta: float | None  # champion - predecessor
    interval: tuple[float, float] | None
    tolerance: float
    status: str  # healthy | degraded | inconclusive
    minimum_detectable_effect: float | None
    frauds_needed: int | None = None  # to resolve an inconclusive comparison


@dataclass
class Verdict:
    verdict: str
    reason: str
    level: float  # one-sided level of each test in this run
    confidence: float  # of the two-sided intervals
    checks: list[MetricJudgement] = field(default_factory=list)
    frauds: int = 0
    frauds_per_day: float | None = None
    frauds_needed: int | None = None
    days_to_enough_labels: float | None = None
    enough_labels_expected_at: str | None = None


def decide(evidence: PairedEvidence, config: MonitorConfig,
           now: dt.datetime | None = None) -> Verdict:
    """Judge both metrics and combine: any degraded -> degraded; all healthy -> healthy."""
    level = config.per_test_alpha()
    confidence = 1.0 - 2.0 * level
    checks = [
        _judge("auc_roc", evidence.auc.delta, evidence.auc.interval(confidence),
               evidence.auc.minimum_detectable_effect(confidence, config.power),
               config.max_auc_drop, evidence.frauds, confidence),
        _judge("recall", evidence.recall.difference, evidence.recall.interval(confidence),
               evidence.recall.minimum_detectable_effect(confidence, config.power),
               config.max_recall_drop, evidence.frauds, confidence),
    ]
    statuses = {c.status for c in checks}
    verdict = Verdict("inconclusive", "", level, confidence, checks, evidence.frauds)
    if "degraded" in statuses:
        worse = [c.metric for c in checks if c.status == "degraded"]
        verdict.verdict = "degraded"
        verdict.reason = (f"the champion is worse than its predecessor by more than the "
                          f"tolerance on {', '.join(worse)} ({evidence.frauds} matured paired "
                          f"frauds, each test at one-sided level {level:.4g})")
        return verdict
    if statuses == {"healthy"}:
        verdict.verdict = "healthy"
        verdict.reason = ("a loss beyond the tolerances is ruled out on AUC-ROC and recall "
                          f"({evidence.frauds} matured paired frauds)")
        return verdict
    needed = [c.frauds_needed for c in checks if c.status == "inconclusive"]
    verdict.frauds_needed = None if None in needed or not needed else max(needed)
    if evidence.frauds and evidence.days:
        verdict.frauds_per_day = evidence.frauds / evidence.days
    if verdict.frauds_needed is not None and verdict.frauds_per_day:
        days = max(verdict.frauds_needed - evidence.frauds, 0) / verdict.frauds_per_day
        verdict.days_to_enough_labels = days
        if now is not None:
            verdict.enough_labels_expected_at = (now + dt.timedelta(days=days)).isoformat()
    verdict.reason = _inconclusive_reason(evidence, verdict)
    return verdict


def _judge(metric: str, delta: float, interval: tuple[float, float], mde: float,
           tolerance: float, frauds: int, confidence: float) -> MetricJudgement:
    lo, hi = interval
    if math.isnan(lo) or math.isnan(hi):
        return MetricJudgement(metric, _num(delta), None, tolerance, "inconclusive", None)
    status = ("degraded" if hi < -tolerance else "healthy" if lo >= -tolerance
              else "inconclusive")
    judged = MetricJudgement(metric, _num(delta), (lo, hi), tolerance, status, _num(mde))
    if status == "inconclusive":
        judged.frauds_needed = _frauds_needed(delta, interval, mde, tolerance, frauds)
    return judged


def _frauds_needed(delta: float, interval: tuple[float, float], mde: float, tolerance: float,
                   frauds: int) -> int | None:
    """Frauds at which the comparison resolves, the interval shrinking as 1/sqrt(frauds):
    enough to detect a tolerance-sized loss (MDE <= tolerance) and, if the estimate holds, to
    move the interval off -tolerance."""
    if frauds <= 0 or tolerance <= 0 or math.isnan(mde):
        return None
    by_mde = frauds * (mde / tolerance) ** 2
    half_width = (interval[1] - interval[0]) / 2
    distance = abs(delta + tolerance)
    by_estimate = frauds * (half_width / distance) ** 2 if distance > 1e-12 else math.inf
    needed = max(by_mde, min(by_estimate, 100 * by_mde))
    return int(math.ceil(needed))


def _inconclusive_reason(evidence: PairedEvidence, verdict: Verdict) -> str:
    if not evidence.rows:
        return ("no matured paired rows yet: no matured label on a transaction the champion "
                "answered while its predecessor shadow-scored")
    mdes = ", ".join(f"{c.metric} {c.minimum_detectable_effect:.4f}" for c in verdict.checks
                     if c.minimum_detectable_effect is not None)
    text = (f"{evidence.frauds} matured paired frauds cannot yet separate the models at the "
            f"tolerances (minimum detectable effect: {mdes or 'not estimable'})")
    if verdict.frauds_needed is not None:
        text += f"; about {verdict.frauds_needed} frauds would resolve it"
        if verdict.days_to_enough_labels is not None:
            text += f", expected in {verdict.days_to_enough_labels:.1f} days of matured labels"
    return text


def _num(value: float) -> float | None:
    return None if value is None or math.isnan(value) else float(value)
