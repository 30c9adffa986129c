"""Candidate vs champion on the same rows: every comparison a paired non-inferiority test.

Each check asks whether the candidate is worse than the champion by its tolerance or more,
and answers pass, fail or inconclusive (`ml_actions.validation.non_inferiority.judge`):

- `auc_vs_champion`: the paired AUC difference, DeLong's interval (or the bootstrap's);
- `recall_at_champion_alert_rate` / `precision_at_champion_alert_rate`: both models raising
  the champion's number of alerts (the same review workload), McNemar's pairing of the frauds
  each catches, Tango's score interval (`paired_proportions`). At equal alert counts precision
  and recall differ only by the factor frauds / alerts, so both read the same discordant
  frauds; the tolerance is `comparison.alert_rate_max_regression` on each scale;
- `newly_blocked`: legitimate transactions the candidate newly blocks, net of those it newly
  lets through (McNemar on legitimate rows), against `flips.max_newly_blocked_rate`;
- `newly_missed`: frauds the champion catches and the candidate misses, net of the frauds it
  newly catches (McNemar on frauds), against `flips.max_newly_missed_rate`.

Each passes a loss of its tolerance or more with probability at most (1 - confidence) / 2,
and fails an equally good candidate with probability at most 1 - power when judged (see
`non_inferiority`). The count caps (`flips.max_newly_blocked`, `max_newly_missed`) are policy,
not statistics: they cap the gross number of changed decisions on this test set.
`comparison.metrics` keeps MLflow's `MetricThreshold` semantics on point estimates.
"""

from __future__ import annotations

import math
from typing import Any

from ml_actions.config.gates import LOWER_IS_BETTER
from ml_actions.validation.non_inferiority import Judgement, judge
from ml_actions.validation.paired_proportions import PairedProportions
from ml_actions.validation.results import CheckResult, EvaluationResult


def champion_checks(evaluation: EvaluationResult, config: Any) -> list[CheckResult]:
    cmp = evaluation.comparison
    checks = [auc_check(cmp["auc"], config)]
    checks += flip_checks(cmp["flips"], evaluation, config)
    checks += alert_rate_checks(cmp["alert_rate"], config)
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

    def result(verdict: Judgement) -> CheckResult:
        return CheckResult("auc_vs_champion", verdict.status, delta, -tol,
                           f"{evidence}: {verdict.why}", auc["positives"], interval,
                           {**details, "resolve": verdict.resolve})

    positives = auc["positives"]
    if positives < cmp.min_positives or math.isnan(auc["se"]):
        return result(Judgement(
            "inconclusive", f"only {positives} frauds (need {cmp.min_positives}); minimum "
            f"detectable effect {_fmt(mde)}",
            f"at least {cmp.min_positives} frauds in the test set (it has {positives})"))
    if not cmp.require_ci_lower_bound:
        return result(Judgement("pass", "within tolerance") if delta >= -tol else Judgement(
            "fail", "regression beyond tolerance", "improve the candidate, or widen "
            "comparison.max_regression if such a loss is acceptable"))
    return result(judge((lo, hi), tol, mde, positives, "frauds", "comparison.max_regression"))


def paired_check(pairs: PairedProportions, tolerance: float, config: Any,
                 unit: str, tolerance_key: str, scale: float = 1.0) -> tuple[
                     Judgement, float, tuple[float, float], float]:
    """Judge candidate - champion success rates (times `scale`) against -`tolerance`.

    Returns the judgement, the difference, its interval and its MDE, all on `scale`.
    """
    cmp = config.comparison
    lo, hi = pairs.interval(cmp.confidence)
    mde = pairs.minimum_detectable_effect(cmp.confidence, cmp.power) * scale
    interval = (lo * scale, hi * scale)
    return (judge(interval, tolerance, mde, pairs.n, unit, tolerance_key),
            pairs.difference * scale, interval, mde)


def alert_rate_checks(rate: dict[str, Any], config: Any) -> list[CheckResult]:
    """Recall and precision when both models raise the champion's number of alerts."""
    tol = config.comparison.alert_rate_max_regression
    alerts, positives = rate["champion_alerts"], rate["positives"]
    pairs = PairedProportions(rate["only_candidate"], rate["only_champion"], positives)
    where = (f"at the champion's alert rate ({alerts} alerts, {rate['champion_alert_rate']:.4%}"
             f"; frauds caught by only the candidate {pairs.only_candidate}, by only the "
             f"champion {pairs.only_champion})")
    out = []
    for metric, scale in (("recall", 1.0), ("precision", positives / alerts if alerts else 0)):
        name = f"{metric}_at_champion_alert_rate"
        cand, champ = rate[f"candidate_{metric}"], rate[f"champion_{metric}"]
        details = {"candidate": cand, "champion": champ, "candidate_alerts":
                   rate["candidate_alerts"], "only_candidate": pairs.only_candidate,
                   "only_champion": pairs.only_champion}
        if not alerts or not positives:
            out.append(CheckResult(name, "skip", None, -tol, f"{where}: the champion raises "
                                   "no alert or the test set holds no fraud", alerts,
                                   details=details))
            continue
        verdict, delta, interval, mde = paired_check(
            pairs, tol, config, "frauds", "comparison.alert_rate_max_regression", scale)
        out.append(CheckResult(
            name, verdict.status, delta, -tol,
            f"{where}: candidate {metric} {cand:.4f} vs champion {champ:.4f}, difference "
            f"{delta:+.4f}, {config.comparison.confidence:.0%} CI [{interval[0]:+.4f}, "
            f"{interval[1]:+.4f}] (McNemar pairs, Tango score), tolerance -{tol}: "
            f"{verdict.why}", positives if metric == "recall" else alerts, interval,
            {**details, "mde": mde, "resolve": verdict.resolve}))
    return out


def flip_checks(flips: dict[str, int], evaluation: EvaluationResult, config: Any
                ) -> list[CheckResult]:
    """Net newly blocked legitimate transactions and net newly missed frauds (McNemar)."""
    limits = config.comparison.flips
    legit = evaluation.n_rows - evaluation.n_positives
    out = []
    for name, gross, back, base, rate_limit, count_limit, what, key in (
            ("newly_blocked", flips["newly_blocked_legit"], flips["newly_unblocked_legit"],
             legit, limits.max_newly_blocked_rate, limits.max_newly_blocked,
             "legitimate transactions", "max_newly_blocked"),
            ("newly_missed", flips["newly_missed"], flips["newly_caught"],
             evaluation.n_positives, limits.max_newly_missed_rate, limits.max_newly_missed,
             "frauds", "max_newly_missed")):
        undo = "unblocked" if name == "newly_blocked" else "caught"
        net = (gross - back) / base if base else 0.0
        text = (f"{gross} {what} {name.replace('_', ' ')}, {back} newly {undo}: net "
                f"{net:+.4%} of {base}")
        details = {"count": gross, "net_rate": net, "max_rate": rate_limit,
                   "max_count": count_limit, **flips}
        if rate_limit is None and count_limit is None:
            out.append(CheckResult(name, "skip", net, None, f"{text}; no limit configured",
                                   base, details=details))
            continue
        if count_limit is not None and gross > count_limit:
            out.append(CheckResult(
                name, "fail", net, rate_limit, f"{text}; more than the cap of {count_limit}",
                base, details={**details, "resolve": f"at most {count_limit} {what} "
                               f"{name.replace('_', ' ')} (comparison.flips.{key})"}))
            continue
        if rate_limit is None:
            out.append(CheckResult(name, "pass", net, None, f"{text}; within the cap of "
                                   f"{count_limit}", base, details=details))
            continue
        # success = the candidate does right where the champion did wrong: net loss = -delta
        pairs = PairedProportions(back, gross, base)
        verdict, delta, (lo, hi), mde = paired_check(
            pairs, rate_limit, config, what, f"comparison.flips.{key}_rate")
        out.append(CheckResult(
            name, verdict.status, -delta, rate_limit,
            f"{text}, {config.comparison.confidence:.0%} CI [{-hi:+.4%}, {-lo:+.4%}] (McNemar "
            f"pairs, Tango score); limit {rate_limit:.4%}: {verdict.why}", base, (-hi, -lo),
            {**details, "mde": mde, "resolve": verdict.resolve}))
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
                       details={"champion": champ, "delta": cand - champ, "rule": binding,
                                "resolve": None if ok else f"{metric} {sign_text} {limit:.4f} "
                                f"(comparison.metrics.{metric}.{binding})"})


def _fmt(value: float) -> str:
    return "not estimable" if math.isnan(value) else f"{value:.4f}"
