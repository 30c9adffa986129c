"""Per-segment rules: an absolute AUC floor, and non-inferiority against the champion.

A segment (`slices.columns`, `slices.buckets`) is judged when it has `slices.min_size` rows and
`slices.min_positives` frauds; smaller ones are reported, not judged. A judged segment's paired
AUC difference (DeLong, on the segment's rows) must *show* it loses less than
`slices.max_regression`: its one-sided lower bound at level `slices.alpha` must clear the
tolerance, exactly like the overall `auc_vs_champion` check (`non_inferiority.judge`), not
merely fail to be significantly worse. So a segment truly worse by the tolerance passes with
probability at most `slices.alpha`, and the verdict, which needs every judged segment to pass,
passes such a model with at most that probability too (an intersection-union test: no
multiplicity correction is needed for the false pass, Berger 1982). The price is paid on the
other side: each judged segment can fail an equally good candidate with probability up to
1 - power, and a segment too small to resolve the tolerance is `inconclusive` (with its
minimum detectable effect), so size `min_positives` so that judged segments are resolvable.
"""

from __future__ import annotations

import math
from typing import Any

from ml_actions.normal_quantiles import z_one_sided, z_power
from ml_actions.validation.non_inferiority import judge
from ml_actions.validation.results import CheckResult, EvaluationResult


def slice_checks(evaluation: EvaluationResult, config: Any) -> list[CheckResult]:
    sc = config.slices
    out = []
    small = [f"{s.column}={s.segment}" for s in evaluation.slices if not s.judged]
    if small:
        out.append(CheckResult(
            "slices_not_judged", "skip", None, float(sc.min_size),
            f"{len(small)} segment(s) below {sc.min_size} rows or {sc.min_positives} frauds are "
            f"reported, not judged: {', '.join(small[:20])}", details={"segments": small}))
    z = z_one_sided(sc.alpha)
    for s in (s for s in evaluation.slices if s.judged):
        label = f"{s.column}={s.segment}"
        auc = s.metrics.get("auc_roc")
        if sc.min_auc is not None and auc is not None:
            ok = auc >= sc.min_auc
            out.append(CheckResult(
                f"slice_auc[{label}]", "pass" if ok else "fail", auc, sc.min_auc,
                f"segment {label}: auc_roc {auc:.4f} vs min {sc.min_auc}", s.size,
                details={"positives": s.positives, "resolve": None if ok else
                         f"auc_roc >= {sc.min_auc} on this segment (slices.min_auc)"}))
        if s.comparison and "se" in s.comparison:
            delta, se = s.comparison["delta_auc"], s.comparison["se"]
            bounds = (math.nan, math.nan) if math.isnan(se) else (delta - z * se, delta + z * se)
            mde = (z + z_power(config.comparison.power)) * se
            verdict = judge(bounds, sc.max_regression, mde, s.positives, "frauds in the segment",
                            "slices.max_regression")
            out.append(CheckResult(
                f"slice_vs_champion[{label}]", verdict.status, delta, -sc.max_regression,
                f"segment {label}: AUC difference {delta:+.4f}, one-sided {1 - sc.alpha:.0%} "
                f"lower bound {bounds[0]:+.4f} (DeLong), tolerance -{sc.max_regression}: "
                f"{verdict.why}", s.size, None if math.isnan(se) else bounds,
                {"p": s.comparison.get("p_regression"), "mde": mde, "se": se,
                 "positives": s.positives, "resolve": verdict.resolve}))
    return out
