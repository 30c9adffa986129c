"""Paired statistics of candidate vs champion on the same rows: DeLong, flips, power.

Why paired: both models score the same transactions, so their AUCs are strongly correlated;
an unpaired interval would be far too wide and let noise block good models. DeLong's
covariance needs each row's placement under both models (the share of the other class it
outranks); the ranked frame (`ml_actions.validation.exact_metrics.ranked_frame`) carries both
models' rank counts on
the row itself, so the covariance, like everything else, is one Spark aggregation.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from ml_actions.normal_quantiles import normal_cdf, z_power, z_two_sided
from ml_actions.validation.exact_metrics import OVERALL, SEGMENT, col

__all__ = ["FLIPS", "PairedAuc", "at_alert_count", "paired_auc", "paired_statistics",
           "placements", "wilson_interval", "with_replicates", "z_two_sided"]


@dataclass
class PairedAuc:
    """AUC difference (candidate - champion) with its standard error.

    DeLong by default; with `replicates` (the bootstrap's per-replicate differences, see
    `ml_actions.validation.auc_bootstrap`) the interval is their percentile interval, `se` their
    standard
    deviation, and the p-value their share on the other side of the tolerance.
    """

    delta: float
    se: float
    positives: int
    negatives: int
    replicates: list[float] | None = None

    @property
    def method(self) -> str:
        return "bootstrap" if self.replicates is not None else "delong"

    def interval(self, confidence: float) -> tuple[float, float]:
        if self.replicates is not None:
            if not self.replicates:
                return (math.nan, math.nan)
            tail = (1 - confidence) / 2
            return (_quantile(self.replicates, tail), _quantile(self.replicates, 1 - tail))
        z = z_two_sided(confidence)
        return (self.delta - z * self.se, self.delta + z * self.se)

    def p_regression(self, tolerance: float) -> float:
        """One-sided p of H0 "candidate loses less than `tolerance`" (small: it loses more)."""
        if self.replicates:
            kept = sum(1 for d in self.replicates if d >= -tolerance)
            return (kept + 1) / (len(self.replicates) + 1)
        if not self.se or math.isnan(self.se):
            return 0.0 if self.delta < -tolerance else 1.0
        return normal_cdf((self.delta + tolerance) / self.se)

    def minimum_detectable_effect(self, confidence: float, power: float) -> float:
        """The smallest AUC difference this sample detects with `power` (two-sided test)."""
        return (z_two_sided(confidence) + z_power(power)) * self.se


def with_replicates(auc: PairedAuc, deltas: list[float]) -> PairedAuc:
    """`auc` judged by bootstrap replicates instead of DeLong's normal approximation."""
    se = statistics.stdev(deltas) if len(deltas) > 1 else math.nan
    return PairedAuc(auc.delta, se, auc.positives, auc.negatives, sorted(deltas))


def _quantile(ordered: list[float], q: float) -> float:
    """Linear-interpolation quantile of sorted values (numpy's default)."""
    pos = q * (len(ordered) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


FLIPS = ("newly_blocked", "newly_unblocked", "newly_missed", "newly_caught",
         "newly_blocked_legit", "newly_unblocked_legit")


def placements(model: str) -> tuple[Column, Column]:
    """V10 (a positive's share of negatives below it) and V01 (a negative's share of positives
    above it) of each row under `model`, ties counting half."""
    v10 = 1 - F.try_divide(col(model, "fp") - 0.5 * col(model, "neg"), F.col("N"))
    v01 = F.try_divide(col(model, "tp") - 0.5 * col(model, "pos"), F.col("P"))
    return v10, v01


def paired_statistics(ranked: DataFrame, summary: dict[tuple, dict],
                      thresholds: dict[str, float]) -> dict[tuple[str, str], dict[str, Any]]:
    """Per (slice, segment): DeLong's paired AUC difference and decision flips, one pass.

    `ranked` is `ml_actions.validation.exact_metrics.ranked_frame` with models "candidate" and
    "champion";
    `summary` the output of `ml_actions.validation.exact_metrics.summarize` for both.
    """
    a10, a01 = placements("candidate")
    b10, b01 = placements("champion")
    pos, neg = F.col("label") == 1, F.col("label") == 0
    cand_alert = col("candidate", "score") >= F.lit(thresholds["candidate"])
    champ_alert = col("champion", "score") >= F.lit(thresholds["champion"])
    rows = ranked.groupBy(*SEGMENT).agg(
        F.sum(F.when(pos, a10 * b10)).alias("s10ab"),
        F.sum(F.when(neg, a01 * b01)).alias("s01ab"),
        F.count(F.when(cand_alert & ~champ_alert, 1)).alias("newly_blocked"),
        F.count(F.when(~cand_alert & champ_alert, 1)).alias("newly_unblocked"),
        F.count(F.when(pos & champ_alert & ~cand_alert, 1)).alias("newly_missed"),
        F.count(F.when(pos & cand_alert & ~champ_alert, 1)).alias("newly_caught"),
        F.count(F.when(neg & cand_alert & ~champ_alert, 1)).alias("newly_blocked_legit"),
        F.count(F.when(neg & ~cand_alert & champ_alert, 1)).alias("newly_unblocked_legit"),
    ).collect()
    out = {}
    for row in rows:
        key = (row["slice"], row["segment"])
        cand, champ = summary[("candidate", *key)], summary[("champion", *key)]
        out[key] = {
            "paired_auc": paired_auc(cand, champ, row["s10ab"] or 0.0, row["s01ab"] or 0.0),
            "flips": {k: int(row[k]) for k in FLIPS},
        }
    return out


def paired_auc(cand: dict[str, Any], champ: dict[str, Any], s10ab: float,
               s01ab: float) -> PairedAuc:
    """DeLong: var(A - B) = var(A) + var(B) - 2 cov(A, B), cov from the placement products."""
    P, N = cand["positives"], cand["size"] - cand["positives"]  # noqa: N806
    auc_a, auc_b = cand["metrics"]["auc_roc"], champ["metrics"]["auc_roc"]
    delta = auc_a - auc_b
    if P < 2 or N < 2:
        return PairedAuc(delta, math.nan, P, N)
    cov = ((s10ab - P * auc_a * auc_b) / (P - 1)) / P + ((s01ab - N * auc_a * auc_b) / (N - 1)) / N
    var = cand["auc_variance"] + champ["auc_variance"] - 2 * cov
    return PairedAuc(delta, math.sqrt(max(var, 0.0)), P, N)


def at_alert_count(ranked: DataFrame, model: str, alerts: int,
                   other_threshold: float | None = None, other: str = "champion"
                   ) -> dict[str, float]:
    """Precision and recall of `model` when it raises at most `alerts` alerts (overall).

    Used to compare the candidate at the champion's alert rate: same review workload. With
    `other_threshold` (the champion's decision threshold) it also counts the frauds caught by
    only one of the two (`only_model`, `only_other`): the discordant pairs of McNemar's test.
    """
    tp, fp = col(model, "tp"), col(model, "fp")
    overall = ranked.where(F.col("slice") == OVERALL[0])
    row = overall.agg(
        F.max_by(F.struct(tp.alias("tp"), fp.alias("fp")),
                 F.when(tp + fp <= alerts, tp + fp)).alias("best"),
        F.first("P").alias("P")).first()
    best_tp, best_fp = (row["best"]["tp"], row["best"]["fp"]) if row["best"] is not None else (0, 0)
    positives = int(row["P"] or 0)
    found: dict[str, float] = {
        "alerts": int(best_tp + best_fp), "positives": positives,
        "precision": best_tp / (best_tp + best_fp) if best_tp + best_fp else 0.0,
        "recall": best_tp / positives if positives else 0.0}
    if other_threshold is not None:
        # a row is among the model's top alerts when its cumulative count fits the budget
        mine = (tp + fp <= F.lit(best_tp + best_fp)) & F.lit(best_tp + best_fp > 0)
        theirs = col(other, "score") >= F.lit(other_threshold)
        fraud = F.col("label") == 1
        counts = overall.agg(F.count(F.when(fraud & mine & ~theirs, 1)).alias("only_model"),
                             F.count(F.when(fraud & ~mine & theirs, 1)).alias("only_other")
                             ).first()
        found.update(only_model=int(counts["only_model"]), only_other=int(counts["only_other"]))
    return found


def wilson_interval(successes: int, trials: int, confidence: float) -> tuple[float, float] | None:
    """Wilson score interval of a proportion (precision, recall): sound for small counts."""
    if trials <= 0:
        return None
    z = z_two_sided(confidence)
    p = successes / trials
    denom = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denom
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))
