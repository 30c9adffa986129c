"""The verdict: every configured rule applied to an `EvaluationResult`, with its evidence.

Each rule yields a `CheckResult` carrying the actual value, the threshold it was held to, the
sample size and, where statistical, the interval, so a model-risk reviewer can replay the
decision. Statuses: pass, fail, warn, skip (not applicable, e.g. no champion yet) and
inconclusive (too little data to decide: never a silent pass; `comparison.inconclusive`
says whether it blocks). A break-glass override turns a failed verdict into a pass, keeping
the failed checks and recording who overrode and why.
"""

from __future__ import annotations

import math
from typing import Any

from ml_actions.config.gates import LOWER_IS_BETTER
from ml_actions.errors import InputError
from ml_actions.normal_quantiles import z_two_sided
from ml_actions.validation.results import CheckResult, EvaluationResult, GateDecision

NO_CHAMPION = "no champion yet (first deployment): nothing to compare against"
COMPARISON_CHECKS = ("auc_vs_champion", "newly_blocked", "newly_missed",
                     "precision_at_champion_alert_rate", "recall_at_champion_alert_rate")


def decide(evaluation: EvaluationResult, config: Any, override_reason: str | None = None,
           actor: str | None = None, extra_checks: list[CheckResult] | None = None
           ) -> GateDecision:
    """Apply thresholds, champion comparisons and slice rules, and add `extra_checks` (judged
    elsewhere, e.g. serving_parity); then the override, if any."""
    checks = threshold_checks(evaluation, config)
    if evaluation.candidate.threshold_note:
        checks.append(CheckResult("decision_threshold", "warn",
                                  evaluation.candidate.decision_threshold, None,
                                  evaluation.candidate.threshold_note, evaluation.n_rows))
    if evaluation.champion is None:
        names = list(COMPARISON_CHECKS) + [f"{m}_vs_champion" for m in config.comparison.metrics]
        checks += [CheckResult(n, "skip", None, None, NO_CHAMPION) for n in names]
    else:
        checks += champion_checks(evaluation, config)
    checks += slice_checks(evaluation, config)
    checks += list(extra_checks or [])
    blocking = {"fail"} | ({"inconclusive"} if config.comparison.inconclusive == "fail" else set())
    failed = [c.name for c in checks if c.status in blocking]
    decision = GateDecision(passed=not failed, checks=checks, actor=actor)
    if override_reason is not None:
        if not override_reason.strip():
            raise InputError("--override-reason is empty; say why the gate is overridden")
        if failed:
            decision.passed, decision.overridden = True, True
            decision.override_reason = override_reason.strip()
            decision.overridden_checks = failed
            checks.append(CheckResult(
                "break_glass_override", "warn", None, None,
                f"gate overridden by {actor or 'unknown actor'}: {override_reason.strip()} "
                f"(failed checks: {', '.join(failed)})", details={"actor": actor}))
    return decision


def threshold_checks(evaluation: EvaluationResult, config: Any) -> list[CheckResult]:
    cand = evaluation.candidate
    sizes = {"recall": evaluation.n_positives, "recall_at_1pct_fpr": evaluation.n_positives,
             "precision": cand.confusion["tp"] + cand.confusion["fp"],
             "false_positive_rate": evaluation.n_rows - evaluation.n_positives}
    out = []
    for metric, bound in config.thresholds.items():
        actual = cand.metrics[metric]
        for kind, limit in (("min", bound.min), ("max", bound.max)):
            if limit is None:
                continue
            ok = actual >= limit if kind == "min" else actual <= limit
            sign = ">=" if kind == "min" else "<="
            out.append(CheckResult(
                metric if kind == "min" else f"{metric}_max", "pass" if ok else "fail", actual,
                limit, f"{metric} {actual:.4f} {'meets' if ok else 'violates'} {sign} {limit}",
                sizes.get(metric, evaluation.n_rows), cand.intervals.get(metric)))
    return out


def champion_checks(evaluation: EvaluationResult, config: Any) -> list[CheckResult]:
    cmp = evaluation.comparison
    checks = [auc_check(cmp["auc"], config)]
    checks += flip_checks(cmp["flips"], evaluation, config)
    rate = cmp["alert_rate"]
    for metric in ("precision", "recall"):
        actual, champ = rate[f"candidate_{metric}"], rate[f"champion_{metric}"]
        limit = champ - config.comparison.alert_rate_max_regression
        ok = actual >= limit
        checks.append(CheckResult(
            f"{metric}_at_champion_alert_rate", "pass" if ok else "fail", actual, limit,
            f"at the champion's alert rate ({rate['champion_alerts']} alerts, "
            f"{rate['champion_alert_rate']:.4%}) candidate {metric} {actual:.4f} vs champion "
            f"{champ:.4f} (tolerance {config.comparison.alert_rate_max_regression})",
            rate["champion_alerts"] if metric == "precision" else evaluation.n_positives,
            details={"champion": champ, "candidate_alerts": rate["candidate_alerts"]}))
    for metric, rule in config.comparison.metrics.items():
        checks.append(metric_comparison_check(metric, rule, evaluation))
    return checks


def auc_check(auc: dict[str, Any], config: Any) -> CheckResult:
    """Paired AUC difference vs -max_regression, judged on its interval when configured."""
    cmp = config.comparison
    tol, delta, (lo, hi), mde = cmp.max_regression, auc["delta"], auc["interval"], auc["mde"]
    interval = None if math.isnan(lo) else (lo, hi)
    method = ("DeLong" if auc["method"] == "delong"
              else f"bootstrap, {auc.get('replicates', '?')} replicates")
    evidence = (f"AUC difference {delta:+.4f}" + (f", {cmp.confidence:.0%} CI [{lo:+.4f}, "
                f"{hi:+.4f}] ({method})" if interval else "") + f", tolerance -{tol}")
    details = {"mde": mde, "se": auc["se"], "p_regression": auc["p_regression"],
               "negatives": auc["negatives"], "method": auc["method"]}

    def result(status: str, why: str) -> CheckResult:
        return CheckResult("auc_vs_champion", status, delta, -tol, f"{evidence}: {why}",
                           auc["positives"], interval, details)

    if auc["positives"] < cmp.min_positives or math.isnan(auc["se"]):
        return result("inconclusive", f"only {auc['positives']} frauds (need "
                      f"{cmp.min_positives}); minimum detectable effect {_fmt(mde)}")
    if not cmp.require_ci_lower_bound:
        return (result("pass", "within tolerance") if delta >= -tol
                else result("fail", "regression beyond tolerance"))
    if lo >= -tol:
        return result("pass", "the interval's lower bound clears the tolerance")
    if hi < -tol:
        return result("fail", "significantly worse than the champion beyond the tolerance")
    if mde > tol:
        return result("inconclusive", f"the test set cannot resolve a regression of {tol}: "
                      f"minimum detectable effect {_fmt(mde)}; add more labelled frauds")
    return result("fail", "the interval's lower bound is below the tolerance")


def flip_checks(flips: dict[str, int], evaluation: EvaluationResult, config: Any
                ) -> list[CheckResult]:
    limits = config.comparison.flips
    out = []
    for name, count, base, rate_limit, count_limit, what in (
            ("newly_blocked", flips["newly_blocked"], evaluation.n_rows,
             limits.max_newly_blocked_rate, limits.max_newly_blocked, "transactions"),
            ("newly_missed", flips["newly_missed"], evaluation.n_positives,
             limits.max_newly_missed_rate, limits.max_newly_missed, "frauds")):
        rate = count / base if base else 0.0
        details = {"count": count, "rate": rate, "max_rate": rate_limit, "max_count": count_limit,
                   **flips}
        text = f"{count} {what} ({rate:.4%} of {base}) {name.replace('_', ' ')}"
        if rate_limit is None and count_limit is None:
            out.append(CheckResult(name, "skip", rate, None, f"{text}; no limit configured",
                                   base, details=details))
            continue
        ok = ((rate_limit is None or rate <= rate_limit)
              and (count_limit is None or count <= count_limit))
        limit_text = " and ".join(t for t in (
            f"rate <= {rate_limit:.4%}" if rate_limit is not None else "",
            f"count <= {count_limit}" if count_limit is not None else "") if t)
        out.append(CheckResult(name, "pass" if ok else "fail", rate, rate_limit,
                               f"{text}; limit {limit_text}", base, details=details))
    return out


def metric_comparison_check(metric: str, rule: Any, evaluation: EvaluationResult) -> CheckResult:
    """MLflow MetricThreshold semantics plus TFMA-style bounded regression for one metric."""
    cand = evaluation.candidate.metrics[metric]
    champ = evaluation.champion.metrics[metric]
    greater = rule.greater_is_better
    if greater is None:
        greater = metric not in LOWER_IS_BETTER
    sign = 1.0 if greater else -1.0
    required = []
    if rule.min_absolute_change is not None:
        required.append(("min_absolute_change", champ + sign * rule.min_absolute_change))
    if rule.min_relative_change is not None:
        required.append(("min_relative_change", champ + sign * rule.min_relative_change *
                         abs(champ)))
    if rule.max_regression is not None:
        required.append(("max_regression", champ - sign * rule.max_regression))
    name = f"{metric}_vs_champion"
    if not required:
        return CheckResult(name, "skip", cand, None, f"{metric}: no rule configured",
                           evaluation.n_rows, details={"champion": champ})
    pick = max if greater else min
    binding, limit = pick(required, key=lambda item: item[1])
    ok = cand >= limit if greater else cand <= limit
    sign_text = ">=" if greater else "<="
    return CheckResult(name, "pass" if ok else "fail", cand, limit,
                       f"{metric} {cand:.4f} vs champion {champ:.4f}: needs {sign_text} "
                       f"{limit:.4f} ({binding})", evaluation.n_rows,
                       details={"champion": champ, "delta": cand - champ, "rule": binding})


def slice_checks(evaluation: EvaluationResult, config: Any) -> list[CheckResult]:
    sc = config.slices
    out = []
    small = [f"{s.column}={s.segment}" for s in evaluation.slices if not s.judged]
    if small:
        out.append(CheckResult(
            "slices_not_judged", "skip", None, float(sc.min_size),
            f"{len(small)} segment(s) below {sc.min_size} rows or {sc.min_positives} frauds are "
            f"reported, not judged: {', '.join(small[:20])}", details={"segments": small}))
    z = z_two_sided(1 - sc.alpha)
    for s in (s for s in evaluation.slices if s.judged):
        label = f"{s.column}={s.segment}"
        auc = s.metrics.get("auc_roc")
        if sc.min_auc is not None and auc is not None:
            ok = auc >= sc.min_auc
            out.append(CheckResult(f"slice_auc[{label}]", "pass" if ok else "fail", auc,
                                   sc.min_auc, f"segment {label}: auc_roc {auc:.4f} vs min "
                                   f"{sc.min_auc}", s.size, details={"positives": s.positives}))
        if s.comparison and "p_holm" in s.comparison:
            delta, se = s.comparison["delta_auc"], s.comparison["se"]
            p_holm = s.comparison["p_holm"]
            interval = None if math.isnan(se) else (delta - z * se, delta + z * se)
            worse = p_holm < sc.alpha
            out.append(CheckResult(
                f"slice_vs_champion[{label}]", "fail" if worse else "pass", delta,
                -sc.max_regression,
                f"segment {label}: AUC difference {delta:+.4f}, Holm-adjusted DeLong "
                f"p={p_holm:.4g} for a regression beyond {sc.max_regression} (alpha {sc.alpha})",
                s.size, interval, {"p": s.comparison["p_regression"], "p_holm": p_holm,
                                   "positives": s.positives}))
    return out


def _fmt(value: float) -> str:
    return "not estimable" if math.isnan(value) else f"{value:.4f}"
