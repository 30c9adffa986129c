"""The ROC curves of the PR comment: a mermaid `xychart-beta` on a log-scaled FPR grid.

GitHub renders mermaid inside a comment, so the reviewer sees the curves without opening the
MLflow run. The x axis of `xychart-beta` is categorical, so the log scale is a grid of
false-positive rates in 1-2-5 steps, each curve interpolated on it.
"""

from __future__ import annotations

import math
from typing import Any


def roc_chart(report: dict[str, Any], points: int) -> dict[str, Any] | None:
    """The ROC curves on a log-scaled false-positive-rate grid, as mermaid `xychart-beta` series.

    A fraud model operates at a false-positive rate of a fraction of a percent; on a linear
    0..1 axis in 0.1 steps that whole region is the first point. The grid runs in 1-2-5 steps
    from the first value above 1 / legitimate rows (below it the curve cannot move) up to 1,
    and the operating points (each model's decision threshold) are given beside the chart.
    """
    import numpy as np

    negatives = report["test_data"]["rows"] - report["test_data"]["positives"]
    grid = log_ticks(1.0 / max(negatives, 1), points)
    series = []
    for who in ("candidate", "champion"):
        curve = (report["curves"].get(who) or {}).get("roc") or []
        if len(curve) < 2:
            continue
        pts = sorted((float(f), float(t)) for f, t in curve)
        fpr, tpr = zip(*pts, strict=True)
        values = np.interp(grid, fpr, np.maximum.accumulate(tpr))
        series.append({"who": who, "values": [round(float(v), 3) for v in values]})
    if not series:
        return None
    operating = []
    for who, scores in (("candidate", report), ("champion", report["champion"])):
        confusion = (scores or {}).get("confusion") or {}
        legit, frauds = confusion.get("fp", 0) + confusion.get("tn", 0), \
            confusion.get("tp", 0) + confusion.get("fn", 0)
        if legit and frauds:
            operating.append({"who": who, "fpr": percent(confusion["fp"] / legit),
                              "tpr": confusion["tp"] / frauds})
    return {"x": [percent(x) for x in grid], "series": series, "operating": operating}


def log_ticks(floor: float, limit: int) -> list[float]:
    """1-2-5 steps from the first one at or above `floor` up to 1, at most `limit` of them
    (the lowest dropped first: the operating region is rarely below 1e-4)."""
    ticks = []
    decade = 10.0 ** math.floor(math.log10(floor))
    while decade <= 1.0:
        ticks += [m * decade for m in (1, 2, 5) if floor * (1 - 1e-9) <= m * decade <= 1.0]
        decade *= 10.0
    return ticks[-limit:] if len(ticks) > limit else ticks


def percent(fraction: float) -> str:
    """0.0008 -> "0.08%": up to three significant digits (an exponent below 0.001 %)."""
    value = fraction * 100
    return f"{value:.3g}%" if value >= 0.001 else f"{value:.1e}%"
