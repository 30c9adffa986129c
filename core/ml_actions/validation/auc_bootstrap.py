"""Poisson bootstrap of the paired AUC difference, computed in Spark (`comparison.method`).

Why a bootstrap next to DeLong: DeLong's interval is asymptotic; a reviewer may want one that
makes no normality assumption. Why Poisson: resampling n rows with replacement needs a shuffle
per replicate; giving every row an independent Poisson(1) weight per replicate approximates it
for large n (Chamandy et al., 2012, "Estimating uncertainty for massive data streams") and
costs one pass. A weight is a pure function of (row id, replicate, seed), so replicates are
reproducible and need no state, and both models see the same weights: the pairing.

Each replicate's AUC is the weighted pair count of `ml_actions.validation.exact_metrics`: one
window per model over
each segment, ordered by its score, sums the weighted negatives ranked at or above each row
(and those tied with it); a positive's weight times that count is its share of misordered
pairs. All replicates ride in the same windows, so the cost is one sort per model whatever B.
"""

from __future__ import annotations

import math

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from ml_actions.validation.exact_metrics import SEGMENT

ROW_ID = "__row_id"
_MAX_WEIGHT = 12  # P(Poisson(1) > 12) < 1e-10
# P(W <= k) for W ~ Poisson(1), k = 0 .. _MAX_WEIGHT - 1
_CDF = [sum(math.exp(-1) / math.factorial(i) for i in range(k + 1)) for k in range(_MAX_WEIGHT)]
_BITS = 53


def poisson_weight(row_id: Column, replicate: int, seed: int) -> Column:
    """A Poisson(1) draw per row, by inverting the CDF at a uniform hashed from the row id."""
    uniform = (F.xxhash64(row_id, F.lit(replicate), F.lit(seed))
               .bitwiseAND(F.lit((1 << _BITS) - 1)) / float(1 << _BITS))
    weight = F.when(uniform < _CDF[0], F.lit(0))
    for k, cdf in enumerate(_CDF[1:], start=1):
        weight = weight.when(uniform < cdf, F.lit(k))
    return weight.otherwise(F.lit(_MAX_WEIGHT))


def replicate_aucs(sliced: DataFrame, scores: dict[str, str], replicates: int,
                   seed: int) -> dict[tuple[str, str], dict[str, list[float]]]:
    """Per (slice, segment) and model, the weighted AUC of every replicate (NaN when a
    replicate drew no positive or no negative).

    `sliced` is `ml_actions.validation.exact_metrics.sliced_frame` carrying `label`, the score
    columns of `scores`
    (model name -> column) and `ROW_ID`.
    """
    weights = [f"__w{b}" for b in range(replicates)]
    frame = sliced.select(*SEGMENT, "label", *scores.values(),
                          *[poisson_weight(F.col(ROW_ID), b, seed).alias(w)
                            for b, w in enumerate(weights)])
    negative = F.lit(1) - F.col("label")
    for model, score in scores.items():
        order = Window.partitionBy(*SEGMENT).orderBy(F.desc(score))
        above = order.rangeBetween(Window.unboundedPreceding, Window.currentRow)
        tied = order.rangeBetween(Window.currentRow, Window.currentRow)
        frame = frame.select("*", *[
            F.sum(F.col(w) * negative).over(frame_).alias(f"{model}__{kind}{b}")
            for b, w in enumerate(weights) for kind, frame_ in (("above", above), ("tied", tied))])
    positive = F.col("label") == 1
    sums = [F.sum(F.col(w) * F.col("label")).alias(f"P{b}") for b, w in enumerate(weights)]
    sums += [F.sum(F.col(w) * negative).alias(f"N{b}") for b, w in enumerate(weights)]
    sums += [F.sum(F.when(positive, F.col(w) * (F.col(f"{m}__above{b}")
                                               - 0.5 * F.col(f"{m}__tied{b}"))))
             .alias(f"{m}__bad{b}") for m in scores for b, w in enumerate(weights)]
    out: dict[tuple[str, str], dict[str, list[float]]] = {}
    for row in frame.groupBy(*SEGMENT).agg(*sums).collect():
        pairs = [float(row[f"P{b}"]) * float(row[f"N{b}"]) for b in range(replicates)]
        out[(row["slice"], row["segment"])] = {
            m: [1 - float(row[f"{m}__bad{b}"] or 0.0) / pairs[b] if pairs[b] else math.nan
                for b in range(replicates)]
            for m in scores}
    return out


def paired_deltas(aucs: dict[str, list[float]]) -> list[float]:
    """Candidate minus champion AUC per replicate, replicates without both classes dropped."""
    return [a - b for a, b in zip(aucs["candidate"], aucs["champion"], strict=True)
            if not (math.isnan(a) or math.isnan(b))]
