"""The verdict: every configured rule applied to an `EvaluationResult`, with its evidence.

Each rule yields a `CheckResult` carrying the actual value, the threshold it was held to, the
sample size and, where statistical, the interval, so a model-risk reviewer can replay the
decision. Statuses: pass, fail, warn, skip (not applicable, e.g. no champion yet) and
inconclusive (too little data to decide: never a silent pass). Absolute thresholds live here;
the comparisons with the champion in `champion_checks`, the segments in `slice_checks`.

Every verdict lists what decided it: the *blocking* checks are those that failed and, under
`comparison.inconclusive: fail`, those that stayed inconclusive; under `warn` an inconclusive
check is a warning instead. Each blocking check carries `details["resolve"]`, what would
change it (more labelled frauds, a wider tolerance, a better model). A break-glass override
turns a failed verdict into a pass, keeping the blocking checks and recording who overrode
and why.
"""

from __future__ import annotations

from typing import Any

from ml_actions.errors import InputError
from ml_actions.validation.champion_checks import champion_checks
from ml_actions.validation.results import CheckResult, EvaluationResult, GateDecision
from ml_actions.validation.slice_checks import slice_checks

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
    decision = GateDecision(passed=not failed, checks=checks, actor=actor, blocking=failed)
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
                f"(blocking checks: {', '.join(failed)})", details={"actor": actor}))
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
            key = f"thresholds.{metric}" + (".max" if kind == "max" else "")
            out.append(CheckResult(
                metric if kind == "min" else f"{metric}_max", "pass" if ok else "fail", actual,
                limit, f"{metric} {actual:.4f} {'meets' if ok else 'violates'} {sign} {limit}",
                sizes.get(metric, evaluation.n_rows), cand.intervals.get(metric),
                {} if ok else {"resolve": f"a candidate with {metric} {sign} {limit} ({key})"}))
    return out
