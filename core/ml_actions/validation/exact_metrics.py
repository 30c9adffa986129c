"""Exact binary-classification metrics as Spark aggregations, for any number of models and slices.

Why not `BinaryClassificationEvaluator`: it bins scores to 1000 points, so its AUC is an
approximation, and each metric is another pass. Here the test rows are *ranked* once per model
(`ranked_frame`): one window over each (slice, segment), ordered by the model's score from the
top, gives every row the cumulative counts at its score (`tp`, `fp`: positives and negatives
scoring at least as high) and the counts tied with it (`pos`, `neg`). Every metric is then an
exact per-row sum over that frame:

- AUC-ROC counts (positive, negative) pairs, ties counted half, exactly as the trapezoid rule
  over all distinct thresholds does (scikit-learn's `roc_auc_score`);
- AUC-PR is average precision, the mean over positives of the precision at their score
  (scikit-learn's `average_precision_score`);
- threshold metrics use `score >= threshold` as "alert";
- DeLong's placements (for AUC variances and the paired covariance) are per-row values of the
  same counts, so candidate and champion pair up on the row itself, without a join.

The frame is wide: one row per (test row, slice) with `slice`, `segment`, `label` (0/1),
`amount`, the segment totals `P`, `N`, `amt_P`, and per model `<model>__score`, `__tp`, `__fp`,
`__pos`, `__neg` (see `col`). The overall result is the segment `("__all__", "all")`. Nothing
here collects more than one row per (slice, segment), except the thinned curve points, whose
count is bounded by a grid.
"""

from __future__ import annotations

import math
from typing import Any

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from ml_actions.errors import ConfigurationError

SEGMENT = ("slice", "segment")
OVERALL = ("__all__", "all")
FPR_FOR_RECALL = 0.01  # recall_at_1pct_fpr
RANKED = ("score", "tp", "fp", "pos", "neg")


def col(model: str, name: str) -> Column:
    """A per-model column of the ranked frame, e.g. `col("candidate", "tp")`."""
    return F.col(f"`{model}__{name}`")


def sliced_frame(wide: DataFrame, label_col: str, score_cols: list[str],
                 amount_col: str | None = None,
                 segments: list[tuple[str, Column]] | None = None,
                 keep: list[str] | None = None) -> DataFrame:
    """One row per (row, slice): label, amount, the score columns and `keep`, and the segment.

    `segments` are (slice name, segment expression) pairs in addition to the overall segment;
    without them no row is duplicated.
    """
    amount = F.col(amount_col).cast("double") if amount_col else F.lit(0.0)
    carried = list(dict.fromkeys([*score_cols, *(keep or [])]))
    cols = [F.col(label_col).cast("int").alias("label"),
            F.coalesce(amount, F.lit(0.0)).alias("amount"),
            *[F.col(c).cast("double").alias(c) if c in score_cols else F.col(c)
              for c in carried]]
    if not segments:
        return wide.select(F.lit(OVERALL[0]).alias("slice"), F.lit(OVERALL[1]).alias("segment"),
                           *cols)
    structs = [F.struct(F.lit(OVERALL[0]).alias("slice"), F.lit(OVERALL[1]).alias("segment"))]
    structs += [F.struct(F.lit(name).alias("slice"),
                         F.coalesce(expr.cast("string"), F.lit("null")).alias("segment"))
                for name, expr in segments]
    return (wide.select(*cols, F.explode(F.array(*structs)).alias("__seg"))
            .select("__seg.slice", "__seg.segment", "label", "amount", *carried))


def ranked_frame(wide: DataFrame, label_col: str, scores: dict[str, str],
                 amount_col: str | None = None,
                 segments: list[tuple[str, Column]] | None = None) -> DataFrame:
    """Every (row, slice) with its segment totals and, per model, its rank counts.

    `scores` maps a model name to its score column. One window per model over each segment,
    both frames (cumulative, tied) sharing one sort; totals come from a small aggregation
    broadcast back, since an unbounded window would buffer the whole segment.
    """
    sliced = sliced_frame(wide, label_col, list(dict.fromkeys(scores.values())), amount_col,
                          segments)
    totals = sliced.groupBy(*SEGMENT).agg(
        F.sum("label").cast("long").alias("P"),
        (F.count(F.lit(1)) - F.sum("label")).cast("long").alias("N"),
        F.sum(F.col("label") * F.col("amount")).alias("amt_P"))
    ranked = sliced.join(F.broadcast(totals), list(SEGMENT))
    negative = F.lit(1) - F.col("label")
    for model, score in scores.items():
        order = Window.partitionBy(*SEGMENT).orderBy(F.desc(score))
        above = order.rangeBetween(Window.unboundedPreceding, Window.currentRow)
        tied = order.rangeBetween(Window.currentRow, Window.currentRow)
        ranked = ranked.select(
            "*", F.col(score).alias(f"{model}__score"),
            F.sum("label").over(above).cast("long").alias(f"{model}__tp"),
            F.sum(negative).over(above).cast("long").alias(f"{model}__fp"),
            F.sum("label").over(tied).cast("long").alias(f"{model}__pos"),
            F.sum(negative).over(tied).cast("long").alias(f"{model}__neg"))
    keep = [*SEGMENT, "label", "amount", "P", "N", "amt_P",
            *[f"{m}__{n}" for m in scores for n in RANKED]]
    return ranked.select(*keep)


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
        column = F.col(f"`{name}`").cast("double")
        expr = F.when(column < edges[0], F.lit(f"<{edges[0]:g}"))
        for lo, hi in zip(edges, edges[1:], strict=False):
            expr = expr.when(column < hi, F.lit(f"[{lo:g}, {hi:g})"))
        out.append((name, expr.when(column >= edges[-1], F.lit(f">={edges[-1]:g}"))))
    return out


def _overall(ranked: DataFrame) -> DataFrame:
    return ranked.where(F.col("slice") == OVERALL[0])


def choose_threshold(ranked: DataFrame, model: str, strategy: str, fixed: float,
                     target_precision: float | None = None,
                     target_fpr: float | None = None) -> tuple[float, str | None]:
    """The decision threshold of one model: configured, or the lowest that meets a target.

    Returns (threshold, note); the note explains when no threshold meets the target (then
    the threshold is above every score: no alerts).
    """
    if strategy == "fixed":
        return float(fixed), None
    tp, fp = col(model, "tp"), col(model, "fp")
    if strategy == "target_precision":
        ok = (tp / (tp + fp)) >= F.lit(float(target_precision))
        what = f"precision >= {target_precision}"
    elif strategy == "target_fpr":
        ok = (fp / F.col("N")) <= F.lit(float(target_fpr))
        what = f"false positive rate <= {target_fpr}"
    else:
        raise ValueError(f"unknown threshold strategy {strategy!r}")
    score = col(model, "score")
    found = _overall(ranked).agg(F.min(F.when(ok, score)).alias("t"),
                                 F.max(score).alias("top")).first()
    if found["t"] is not None:
        return float(found["t"]), None
    top = float(found["top"]) if found["top"] is not None else 1.0
    return math.nextafter(top, math.inf), f"no threshold reaches {what}: nothing is alerted"


def _sums(model: str, threshold: float) -> list[Column]:
    """Per-row sums of one model whose totals give every metric (see `_finish`)."""
    label, score = F.col("label"), col(model, "score")
    tp, fp, pos, neg = (col(model, n) for n in ("tp", "fp", "pos", "neg"))
    positive = label == 1
    alert = score >= F.lit(float(threshold))
    x = fp - F.lit(0.5) * neg  # negatives ranked above this row (ties count half)
    y = tp - F.lit(0.5) * pos  # positives ranked above this row
    named = {
        "bad2": F.sum(F.when(positive, F.lit(2) * fp - neg)),
        "ap_num": F.sum(F.when(positive, tp / (tp + fp))),
        "brier_sum": F.sum((score - label) ** 2),
        "tp_1pct": F.max(F.when(F.try_divide(fp, F.col("N")) <= FPR_FOR_RECALL, tp)),
        "tp_t": F.count(F.when(positive & alert, 1)),
        "fp_t": F.count(F.when(~positive & alert, 1)),
        "amt_caught": F.sum(F.when(positive & alert, F.col("amount")).otherwise(0.0)),
        "s10a": F.sum(F.when(positive, x)), "s10b": F.sum(F.when(positive, x * x)),
        "s01b": F.sum(F.when(~positive, y * y)),
    }
    return [value.alias(f"{model}__{name}") for name, value in named.items()]


def summarize(ranked: DataFrame, thresholds: dict[str, float], review_cost: float = 0.0,
              false_positive_cost: float = 0.0) -> dict[tuple[str, str, str], dict[str, Any]]:
    """Every metric of every (model, slice, segment) in one aggregation over the ranked frame.

    `thresholds` maps each model of the frame to its decision threshold.
    """
    rows = ranked.groupBy(*SEGMENT).agg(
        F.first("P").alias("P"), F.first("N").alias("N"), F.first("amt_P").alias("amt_P"),
        *[s for model, t in thresholds.items() for s in _sums(model, t)]).collect()
    out = {}
    for row in rows:
        values = row.asDict()
        for model, threshold in thresholds.items():
            own = {k.split("__", 1)[1]: v for k, v in values.items() if k.startswith(f"{model}__")}
            own.update(P=values["P"], N=values["N"], amt_P=values["amt_P"])
            out[(model, row["slice"], row["segment"])] = _finish(
                own, threshold, review_cost, false_positive_cost)
    return out


def _finish(r: dict[str, Any], threshold: float, review_cost: float,
            fp_cost: float) -> dict[str, Any]:
    P, N = int(r["P"]), int(r["N"])  # noqa: N806 - the usual names of the class totals
    tp, fp = int(r["tp_t"]), int(r["fp_t"])
    fn, tn = P - tp, N - fp
    both = P > 0 and N > 0
    auc = (2 * P * N - int(r["bad2"] or 0)) / (2 * P * N) if both else math.nan
    metrics = {
        "auc_roc": auc,
        "auc_pr": (r["ap_num"] or 0.0) / P if P else math.nan,
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
        "auc_variance": delong_variance(auc, P, N, r["s10a"] or 0.0, r["s10b"] or 0.0,
                                        r["s01b"] or 0.0),
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


def curve_points(ranked: DataFrame, model: str, points: int = 100
                 ) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    """Thinned overall ROC (fpr, tpr) and PR (recall, precision) points for plots.

    A grid of `points` x `points` cells keeps the last curve point of each cell, so the number
    of rows collected is bounded whatever the number of distinct scores.
    """
    tp, fp = col(model, "tp"), col(model, "fp")
    rows = _overall(ranked).select(
        (fp / F.col("N")).alias("fpr"), (tp / F.col("P")).alias("tpr"),
        (tp / (tp + fp)).alias("precision"))
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
    ranked = ranked_frame(df, label_col, {"model": score_col}, amount_col)
    result = summarize(ranked, {"model": threshold}, costs.get("review_cost", 0.0),
                       costs.get("false_positive_cost", 0.0))[("model", *OVERALL)]
    flat = dict(result["metrics"])
    flat.update(result["confusion"])
    flat["auc_variance"] = result["auc_variance"]
    if amount_col:
        flat.update(result["money"])
    return flat
