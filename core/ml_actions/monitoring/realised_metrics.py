"""What each model version actually did on matured labels: per version and per day.

AUC-ROC is exact (the ranked frame of `validation.exact_metrics`, one window per segment);
recall, precision, frauds caught and missed use the decision the gateway *served* (its
threshold at the time), not a threshold recomputed here, because that decision is what the
business lived with. Amount-weighted recall needs the log's `amount` column.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from ml_actions.validation.exact_metrics import ranked_frame, summarize

VERSION_SLICE, DAY_SLICE = "version", "version_day"
SEPARATOR = "|"


@dataclass
class RealisedMetrics:
    """One version (or one version on one day) on its matured rows."""

    rows: int
    frauds: int
    auc_roc: float | None
    recall: float | None
    precision: float | None
    frauds_caught: int
    frauds_missed: int
    false_alerts: int
    fraud_amount: float | None = None
    fraud_amount_caught: float | None = None
    amount_recall: float | None = None


@dataclass
class RealisedTable:
    by_version: dict[str, RealisedMetrics] = field(default_factory=dict)
    by_day: dict[str, dict[str, RealisedMetrics]] = field(default_factory=dict)  # day -> version


def realised_metrics(matured: DataFrame, has_amount: bool) -> RealisedTable:
    """Per version (the version that answered) and per (version, day): two aggregations."""
    version = F.col("model_version")
    day_key = F.concat_ws(SEPARATOR, version, F.col("day"))
    frame = matured.select("label", "score", "decision", "model_version", "day",
                           (F.col("amount") if has_amount else F.lit(None).cast("double"))
                           .alias("amount"))
    ranked = ranked_frame(frame, "label", {"served": "score"},
                          segments=[(VERSION_SLICE, version), (DAY_SLICE, day_key)])
    aucs = {(s, seg): v["metrics"]["auc_roc"]
            for (_, s, seg), v in summarize(ranked, {"served": 0.5}).items()}
    fraud, alert = F.col("label") == 1, F.col("decision") == 1
    counts = frame.groupBy("model_version", "day").agg(
        F.count(F.lit(1)).alias("rows"), F.count(F.when(fraud, 1)).alias("frauds"),
        F.count(F.when(fraud & alert, 1)).alias("caught"),
        F.count(F.when(~fraud & alert, 1)).alias("false_alerts"),
        F.sum(F.when(fraud, F.col("amount"))).alias("amount"),
        F.sum(F.when(fraud & alert, F.col("amount"))).alias("amount_caught")).collect()
    table = RealisedTable()
    totals: dict[str, dict[str, float]] = {}
    for row in counts:
        v, day = str(row["model_version"]), str(row["day"])
        values = {k: row[k] for k in ("rows", "frauds", "caught", "false_alerts", "amount",
                                      "amount_caught")}
        table.by_day.setdefault(day, {})[v] = _metrics(
            values, aucs.get((DAY_SLICE, f"{v}{SEPARATOR}{day}")), has_amount)
        total = totals.setdefault(v, dict.fromkeys(values, 0.0))
        for key, value in values.items():
            total[key] += value or 0.0
    for v, total in totals.items():
        table.by_version[v] = _metrics(total, aucs.get((VERSION_SLICE, v)), has_amount)
    table.by_day = dict(sorted(table.by_day.items()))
    return table


def _metrics(v: dict[str, float], auc: float | None, has_amount: bool) -> RealisedMetrics:
    rows, frauds, caught, false_alerts = (int(v[k] or 0) for k in
                                          ("rows", "frauds", "caught", "false_alerts"))
    amount = float(v["amount"] or 0.0) if has_amount else None
    amount_caught = float(v["amount_caught"] or 0.0) if has_amount else None
    return RealisedMetrics(
        rows=rows, frauds=frauds,
        auc_roc=None if auc is None or math.isnan(auc) else float(auc),
        recall=caught / frauds if frauds else None,
        precision=caught / (caught + false_alerts) if caught + false_alerts else None,
        frauds_caught=caught, frauds_missed=frauds - caught, false_alerts=false_alerts,
        fraud_amount=amount, fraud_amount_caught=amount_caught,
        amount_recall=(amount_caught / amount) if has_amount and amount else None)
