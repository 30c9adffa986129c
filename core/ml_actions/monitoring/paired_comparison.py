"""The champion against its shadowed predecessor on the *same* matured transactions.

After a promotion the previous champion keeps shadow-scoring (`monitor.guard_period`), so
every logged request carries both answers. Paired, the noise shared by both models cancels:
DeLong's covariance for the AUC difference, McNemar's discordant frauds (caught by one model
only) for the recall difference at the served thresholds. Two entry points compute the same
`PairedEvidence`: Spark on the joined log (the monitor), and numpy on arrays (the simulations
that check the false-rollback rate run thousands of weeks without a JVM); a test checks they
agree on one data set.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from ml_actions.validation.exact_metrics import OVERALL, ranked_frame, summarize
from ml_actions.validation.paired_proportions import PairedProportions
from ml_actions.validation.paired_statistics import PairedAuc, paired_statistics


@dataclass
class PairedEvidence:
    """Champion ("new") minus predecessor ("old") on `rows` paired matured transactions."""

    rows: int
    frauds: int
    auc: PairedAuc  # delta = AUC(new) - AUC(old), DeLong's paired standard error
    recall: PairedProportions  # only_candidate: frauds only the new model caught
    new_auc: float | None = None
    old_auc: float | None = None
    days: int = 0  # distinct transaction days the paired rows span
    new_caught: int = 0
    old_caught: int = 0

    @property
    def new_recall(self) -> float | None:
        return self.new_caught / self.frauds if self.frauds else None

    @property
    def old_recall(self) -> float | None:
        return self.old_caught / self.frauds if self.frauds else None


def empty_evidence() -> PairedEvidence:
    return PairedEvidence(0, 0, PairedAuc(math.nan, math.nan, 0, 0), PairedProportions(0, 0, 0))


def paired_from_log(matured: DataFrame, champion: str, predecessor: str) -> PairedEvidence:
    """Spark: the matured rows the champion answered while `predecessor` shadow-scored."""
    paired = matured.where((F.col("model_version") == champion)
                           & (F.col("shadow_version") == predecessor)
                           & F.col("shadow_score").isNotNull()
                           & F.col("shadow_decision").isNotNull())
    fraud = F.col("label") == 1
    new_alert, old_alert = F.col("decision") == 1, F.col("shadow_decision") == 1
    row = paired.agg(
        F.count(F.lit(1)).alias("rows"), F.count(F.when(fraud, 1)).alias("frauds"),
        F.count(F.when(fraud & new_alert & ~old_alert, 1)).alias("only_new"),
        F.count(F.when(fraud & ~new_alert & old_alert, 1)).alias("only_old"),
        F.count(F.when(fraud & new_alert, 1)).alias("new_caught"),
        F.count(F.when(fraud & old_alert, 1)).alias("old_caught"),
        F.countDistinct("day").alias("days")).first()
    rows, frauds = int(row["rows"]), int(row["frauds"])
    if not rows:
        return empty_evidence()
    recall = PairedProportions(int(row["only_new"]), int(row["only_old"]), frauds)
    ranked = ranked_frame(paired.select("label", "score", "shadow_score"), "label",
                          {"candidate": "score", "champion": "shadow_score"})
    thresholds = {"candidate": 0.5, "champion": 0.5}  # AUC only: thresholds are not used
    summary = summarize(ranked, thresholds)
    auc = paired_statistics(ranked, summary, thresholds)[OVERALL]["paired_auc"]
    new_auc = summary[("candidate", *OVERALL)]["metrics"]["auc_roc"]
    old_auc = summary[("champion", *OVERALL)]["metrics"]["auc_roc"]
    return PairedEvidence(rows, frauds, auc, recall, _finite(new_auc), _finite(old_auc),
                          int(row["days"]), int(row["new_caught"]), int(row["old_caught"]))


def paired_from_arrays(labels: np.ndarray, new_scores: np.ndarray, old_scores: np.ndarray,
                       new_decisions: np.ndarray, old_decisions: np.ndarray,
                       days: int = 0) -> PairedEvidence:
    """numpy: the same evidence from arrays (DeLong with midranks, ties counted half)."""
    labels = np.asarray(labels).astype(bool)
    new_dec = np.asarray(new_decisions).astype(bool)
    old_dec = np.asarray(old_decisions).astype(bool)
    frauds = int(labels.sum())
    recall = PairedProportions(int((labels & new_dec & ~old_dec).sum()),
                               int((labels & ~new_dec & old_dec).sum()), frauds)
    auc, new_auc, old_auc = delong_paired(labels, np.asarray(new_scores, float),
                                          np.asarray(old_scores, float))
    return PairedEvidence(len(labels), frauds, auc, recall, new_auc, old_auc, days,
                          int((labels & new_dec).sum()), int((labels & old_dec).sum()))


def delong_paired(labels: np.ndarray, a: np.ndarray, b: np.ndarray
                  ) -> tuple[PairedAuc, float | None, float | None]:
    """DeLong (1988): AUC(a) - AUC(b) and its standard error from the placement covariances;
    also both AUCs (None without both classes)."""
    positives, negatives = int(labels.sum()), int((~labels).sum())
    if positives < 1 or negatives < 1:
        return PairedAuc(math.nan, math.nan, positives, negatives), None, None
    v10a, v01a = _placements(labels, a)
    v10b, v01b = _placements(labels, b)
    auc_a, auc_b = float(v10a.mean()), float(v10b.mean())
    delta = auc_a - auc_b
    if positives < 2 or negatives < 2:
        return PairedAuc(delta, math.nan, positives, negatives), auc_a, auc_b
    s10 = np.cov(np.vstack([v10a, v10b]))
    s01 = np.cov(np.vstack([v01a, v01b]))
    var = ((s10[0, 0] + s10[1, 1] - 2 * s10[0, 1]) / positives
           + (s01[0, 0] + s01[1, 1] - 2 * s01[0, 1]) / negatives)
    return PairedAuc(delta, math.sqrt(max(float(var), 0.0)), positives, negatives), auc_a, auc_b


def _placements(labels: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """V10: each positive's share of negatives scoring below it; V01: each negative's share of
    positives scoring above it (ties count half)."""
    pos, neg = np.sort(scores[labels]), np.sort(scores[~labels])
    sp, sn = scores[labels], scores[~labels]
    v10 = (np.searchsorted(neg, sp, "left") + np.searchsorted(neg, sp, "right")) / (2 * len(neg))
    above = len(pos) - (np.searchsorted(pos, sn, "left") + np.searchsorted(pos, sn, "right")) / 2
    return v10, above / len(pos)


def _finite(value: float) -> float | None:
    return None if value is None or math.isnan(value) else float(value)
