"""Exact binary-classification metrics as Spark aggregations, for any number of models and slices.

Why not `BinaryClassificationEvaluator`: it bins scores to 1000 points, so its AUC is an
approximation, and each metric is another pass. Here every model and every segment is reduced
to one *curve table* (one row per distinct score: positives, negatives, and cumulative counts
from the top, computed with window sums), and every metric is an exact function of it:

- AUC-ROC counts (positive, negative) pairs, ties counted half, exactly as the trapezoid rule
  over all distinct thresholds does (scikit-learn's `roc_auc_score`);
- AUC-PR is average precision, sum over distinct scores of delta-recall x precision
  (scikit-learn's `average_precision_score`);
- threshold metrics use `score >= threshold` as "alert";
- DeLong's placement sums (for variances of AUC) come from the same table.

Rows of the input ("long" frame) carry `model`, `slice`, `segment`, `label` (0/1), `score`
(P(fraud) in [0, 1]) and `amount`; the overall result is the segment `("__all__", "all")`.
Nothing here collects more than one row per (model, slice, segment), except the thinned curve
points, whose count is bounded by a grid.
"""

from __future__ import annotations

import math
from typing import Any

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from core.errors import ConfigurationError

KEYS = ("model", "slice", "segment")
OVERALL = ("__all__", "all")
FPR_FOR_RECALL = 0.01  # recall_at_1pct_fpr


def sliced_frame(wide: DataFrame, label_col: str, score_cols: list[str],
                 amount_col: str | None = None,
                 segments: list[tuple[str, Column]] | None = None) -> DataFrame:
    """One row per (row, slice): label, amount and the score columns, with slice and segment.

    `segments` are (slice name, segment expression) pairs in addition to the overall segment;
    without them no row is duplicated.
    """
    amount = F.col(amount_col).cast("double") if amount_col else F.lit(0.0)
    cols = [F.col(label_col).cast("int").alias("label"),
            F.coalesce(amount, F.lit(0.0)).alias("amount"),
            *[F.col(c).cast("double").alias(c) for c in score_cols]]
    if not segments:
        return wide.select(F.lit(OVERALL[0]).alias("slice"), F.lit(OVERALL[1]).alias("segment"),
                           *cols)
    structs = [F.struct(F.lit(OVERALL[0]).alias("slice"), F.lit(OVERALL[1]).alias("segment"))]
    structs += [F.struct(F.lit(name).alias("slice"),
                         F.coalesce(expr.cast("string"), F.lit("null")).alias("segment"))
                for name, expr in segments]
    return (wide.select(*cols, F.explode(F.array(*structs)).alias("__seg"))
            .select("__seg.slice", "__seg.segment", "label", "amount", *score_cols))


def long_frame(wide: DataFrame, label_col: str, scores: dict[str, str],
               amount_col: str | None = None,
               segments: list[tuple[str, Column]] | None = None) -> DataFrame:
    """One row per (row, model, slice): the shape every aggregation below groups by.

    `scores` maps a model name to its score column.
    """
    sliced = sliced_frame(wide, label_col, list(dict.fromkeys(scores.values())), amount_col,
                          segments)
    models = [F.struct(F.lit(m).alias("model"), F.col(c).alias("score"))
              for m, c in scores.items()]
    return (sliced.select("slice", "segment", "label", "amount",
                          F.explode(F.array(*models)).alias("__mdl"))
            .select(F.col("__mdl.model").alias("model"), "slice", "segment", "label",
                    F.col("__mdl.score").alias("score"), "amount"))


def segments_of(df: DataFrame, slices: Any) -> list[tuple[str, Column]]:
    """(slice name, segment expression) for the configured slice columns and bucketed columns."""
    out: list[tuple[str, Column]] = []
    for name in list(slices.columns) + list(slices.buckets):
        if name not in df.columns:
            raise ConfigurationError(f"slices: column {name!r} is not in the test data; columns "
                                     f"are: {', '.join(df.columns)}")
    for name in slices.columns:
        out.append((name, F.col(f"`{name}`").cast("string")))
    for name, edges in slices.buckets.items():
        col = F.col(f"`{name}`").cast("double")
        expr = F.when(col < edges[0], F.lit(f"<{edges[0]:g}"))
        for lo, hi in zip(edges, edges[1:], strict=False):
            expr = expr.when(col < hi, F.lit(f"[{lo:g}, {hi:g})"))
        out.append((name, expr.when(col >= edges[-1], F.lit(f">={edges[-1]:g}"))))
    return out


def curve_table(long_df: DataFrame) -> DataFrame:
    """One row per (model, slice, segment, distinct score), with counts from the top down."""
    grouped = long_df.groupBy(*KEYS, "score").agg(
        F.sum("label").cast("long").alias("pos"),
        (F.count(F.lit(1)) - F.sum("label")).cast("long").alias("neg"),
        F.sum(F.when(F.col("label") == 1, F.col("amount")).otherwise(0.0)).alias("amt_pos"),
    )
    down = (Window.partitionBy(*KEYS).orderBy(F.desc("score"))
            .rowsBetween(Window.unboundedPreceding, Window.currentRow))
    # same partitioning and order as `down`: one Window operator, no second sort
    whole = (Window.partitionBy(*KEYS).orderBy(F.desc("score"))
             .rowsBetween(Window.unboundedPreceding, Window.unboundedFollowing))
    return grouped.select(
        *KEYS, "score", "pos", "neg", "amt_pos",
        F.sum("pos").over(down).alias("tp"), F.sum("neg").over(down).alias("fp"),
        F.sum("amt_pos").over(down).alias("amt_tp"),
        F.sum("pos").over(whole).alias("P"), F.sum("neg").over(whole).alias("N"),
        F.sum("amt_pos").over(whole).alias("amt_P"),
    )


def _by_model(values: dict[str, float], default: float = 2.0) -> Column:
    expr = F.lit(default)
    for model, value in values.items():
        expr = F.when(F.col("model") == model, F.lit(float(value))).otherwise(expr)
    return expr


def choose_threshold(curve: DataFrame, model: str, strategy: str, fixed: float,
                     target_precision: float | None = None,
                     target_fpr: float | None = None) -> tuple[float, str | None]:
    """The decision threshold of one model: configured, or the lowest that meets a target.

    Returns (threshold, note); the note explains when no threshold meets the target (then
    the threshold is above every score: no alerts).
    """
    if strategy == "fixed":
        return float(fixed), None
    rows = curve.where((F.col("model") == model) & (F.col("slice") == OVERALL[0]))
    if strategy == "target_precision":
        ok = (F.col("tp") / (F.col("tp") + F.col("fp"))) >= F.lit(float(target_precision))
        what = f"precision >= {target_precision}"
    elif strategy == "target_fpr":
        ok = (F.col("fp") / F.col("N")) <= F.lit(float(target_fpr))
        what = f"false positive rate <= {target_fpr}"
    else:
        raise ValueError(f"unknown threshold strategy {strategy!r}")
    found = rows.agg(F.min(F.when(ok, F.col("score"))).alias("t"),
                     F.max("score").alias("top")).first()
    if found["t"] is not None:
        return float(found["t"]), None
    top = float(found["top"]) if found["top"] is not None else 1.0
    return math.nextafter(top, math.inf), f"no threshold reaches {what}: nothing is alerted"


def summarize(curve: DataFrame, thresholds: dict[str, float], review_cost: float = 0.0,
              false_positive_cost: float = 0.0) -> dict[tuple[str, str, str], dict[str, Any]]:
    """Every metric of every (model, slice, segment) in one aggregation over the curve table."""
    at = F.col("score") >= _by_model(thresholds)
    x = F.col("fp") - F.lit(0.5) * F.col("neg")  # negatives ranked above a positive
    y = F.col("tp") - F.lit(0.5) * F.col("pos")  # positives ranked above a negative
    rows = curve.groupBy(*KEYS).agg(
        F.first("P").alias("P"), F.first("N").alias("N"), F.first("amt_P").alias("amt_P"),
        F.sum(F.col("pos") * (F.lit(2) * F.col("fp") - F.col("neg"))).alias("bad2"),
        F.sum(F.when(F.col("pos") > 0, F.col("pos") * F.col("tp") / (F.col("tp") + F.col("fp")))
              ).alias("ap_num"),
        F.sum(F.col("pos") * (F.col("score") - 1) ** 2 + F.col("neg") * F.col("score") ** 2)
        .alias("brier_sum"),
        F.max(F.when(F.try_divide("fp", "N") <= FPR_FOR_RECALL, F.col("tp"))).alias("tp_1pct"),
        F.sum(F.when(at, F.col("pos")).otherwise(0)).alias("tp_t"),
        F.sum(F.when(at, F.col("neg")).otherwise(0)).alias("fp_t"),
        F.sum(F.when(at, F.col("amt_pos")).otherwise(0.0)).alias("amt_caught"),
        F.sum(F.col("pos") * x).alias("s10a"), F.sum(F.col("pos") * x * x).alias("s10b"),
        F.sum(F.col("neg") * y * y).alias("s01b"),
    ).collect()
    out = {}
    for row in rows:
        out[(row["model"], row["slice"], row["segment"])] = _finish(
            row.asDict(), thresholds[row["model"]], review_cost, false_positive_cost)
    return out


def _finish(r: dict[str, Any], threshold: float, review_cost: float,
            fp_cost: float) -> dict[str, Any]:
    P, N = int(r["P"]), int(r["N"])  # noqa: N806 - the usual names of the class totals
    tp, fp = int(r["tp_t"]), int(r["fp_t"])
    fn, tn = P - tp, N - fp
    both = P > 0 and N > 0
    auc = (2 * P * N - int(r["bad2"])) / (2 * P * N) if both else math.nan
    metrics = {
        "auc_roc": auc,
        "auc_pr": r["ap_num"] / P if P else math.nan,
        "precision": tp / (tp + fp) if tp + fp else 0.0,
        "recall": tp / P if P else 0.0,
        "f1_score": 2 * tp / (2 * tp + fp + fn) if (2 * tp + fp + fn) else 0.0,
        "accuracy": (tp + tn) / (P + N),
        "false_positive_rate": fp / N if N else 0.0,
        "brier_score": r["brier_sum"] / (P + N),
        "recall_at_1pct_fpr": (r["tp_1pct"] or 0) / P if P else 0.0,
        "alert_rate": (tp + fp) / (P + N),
    }
    caught = float(r["amt_caught"] or 0.0)
    money = {
        "fraud_amount_total": float(r["amt_P"] or 0.0),
        "fraud_amount_caught": caught,
        "fraud_amount_missed": float(r["amt_P"] or 0.0) - caught,
        "review_cost": (tp + fp) * review_cost,
        "false_positive_cost": fp * fp_cost,
        "net_savings": caught - (tp + fp) * review_cost - fp * fp_cost,
    }
    return {
        "metrics": metrics, "confusion": {"tp": tp, "fp": fp, "tn": tn, "fn": fn},
        "threshold": threshold, "money": money, "size": P + N, "positives": P,
        "auc_variance": delong_variance(auc, P, N, r["s10a"], r["s10b"], r["s01b"]),
    }


def delong_variance(auc: float, P: int, N: int, s10a: float, s10b: float,  # noqa: N803
                    s01b: float) -> float:
    """DeLong's variance of one AUC from placement sums (V10 = 1 - x/N, V01 = y/P)."""
    if P < 2 or N < 2 or math.isnan(auc):
        return math.nan
    sum_v10_sq = P - 2 * s10a / N + s10b / N**2
    s10 = max(sum_v10_sq - P * auc**2, 0.0) / (P - 1)
    s01 = max(s01b / P**2 - N * auc**2, 0.0) / (N - 1)
    return s10 / P + s01 / N


def curve_points(curve: DataFrame, model: str, points: int = 100
                 ) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    """Thinned overall ROC (fpr, tpr) and PR (recall, precision) points for plots.

    A grid of `points` x `points` cells keeps the last curve point of each cell, so the number
    of rows collected is bounded whatever the number of distinct scores.
    """
    rows = curve.where((F.col("model") == model) & (F.col("slice") == OVERALL[0])).select(
        (F.col("fp") / F.col("N")).alias("fpr"), (F.col("tp") / F.col("P")).alias("tpr"),
        (F.col("tp") / (F.col("tp") + F.col("fp"))).alias("precision"))
    roc = (rows.groupBy(F.floor(F.col("fpr") * points), F.floor(F.col("tpr") * points))
           .agg(F.lit("roc").alias("kind"), F.max("fpr").alias("x"), F.max("tpr").alias("y")))
    pr = (rows.groupBy(F.floor(F.col("tpr") * points), F.floor(F.col("precision") * points))
          .agg(F.max(F.struct("tpr", "precision")).alias("p"))
          .select(F.lit("pr").alias("kind"), F.col("p.tpr").alias("x"),
                  F.col("p.precision").alias("y")))
    found = roc.select("kind", "x", "y").unionByName(pr).collect()  # one job, both curves
    roc_pts = [(0.0, 0.0)] + sorted((float(r["x"]), float(r["y"])) for r in found
                                    if r["kind"] == "roc")
    pr_pts = sorted((float(r["x"]), float(r["y"])) for r in found if r["kind"] == "pr")
    return _thin(roc_pts, points * 2), _thin(pr_pts, points * 2)


def _thin(pts: list[tuple[float, float]], limit: int) -> list[tuple[float, float]]:
    if len(pts) <= limit:
        return pts
    step = len(pts) / (limit - 1)
    return [pts[min(int(i * step), len(pts) - 1)] for i in range(limit - 1)] + [pts[-1]]


def binary_metrics(df: DataFrame, label_col: str, score_col: str, threshold: float = 0.5,
                   amount_col: str | None = None,
                   costs: dict[str, float] | None = None) -> dict[str, Any]:
    """All metrics of one score column on a (label, score) DataFrame: the standalone entry."""
    costs = costs or {}
    curve = curve_table(long_frame(df, label_col, {"model": score_col}, amount_col))
    result = summarize(curve, {"model": threshold}, costs.get("review_cost", 0.0),
                       costs.get("false_positive_cost", 0.0))[("model", *OVERALL)]
    flat = dict(result["metrics"])
    flat.update(result["confusion"])
    flat["auc_variance"] = result["auc_variance"]
    if amount_col:
        flat.update(result["money"])
    return flat
