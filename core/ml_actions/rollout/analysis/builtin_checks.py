"""The built-in canary checks: errors, the latency tail, the score distribution, the decision
rate, and the sample ratio, each judged on all the evidence since the step began.

Each reduces to the difference of two rates with a cluster-robust variance (`grouped_rates`)
judged by an always-valid test (`difference_test`); the sample ratio is a guard that halts
the analysis when routing itself is broken.
"""

from __future__ import annotations

from dataclasses import dataclass

from ml_actions.config.rollout import (
    DecisionRateCheck,
    LatencyCheck,
    SampleRatioCheck,
    ScoreShiftCheck,
    SuccessRateCheck,
)
from ml_actions.rollout.analysis.difference_test import Bounds, Judgement, judge
from ml_actions.rollout.analysis.evidence import AnalysisCheck
from ml_actions.rollout.analysis.grouped_rates import Rate, grouped_rate, share_of_total
from ml_actions.rollout.analysis.histogram_quantile import (
    bound_at_or_above,
    bound_at_or_below,
    bucket_quantile,
)
from ml_actions.rollout.analysis.prometheus_reader import SlotSample
from ml_actions.rollout.analysis.sequential import confidence_sequence, planned_information

ORDER = {"fail": 0, "inconclusive": 1, "pass": 2}


@dataclass(frozen=True)
class TestPlan:
    """What every comparison of one look shares: its alpha, the power, the event floor."""

    alpha: float
    power: float
    min_events: int


def constant(value: float) -> Rate:
    """A fixed bound as a rate with no variance, to judge a rate against an absolute limit."""
    return Rate(value * 1e12, 1e12, 0.0)


def _against_stable_and_limit(c: Rate, s: Rate, own: Rate, limit: float, tolerance: float,
                              min_effect: float, plan: TestPlan) -> tuple[Judgement, Judgement]:
    """A bad-event rate judged against stable's (with `tolerance`) and, for the fail side
    only, the canary's own rate of worse events against an absolute `limit`."""
    relative = judge(c, s, Bounds(tolerance, min_effect), plan.alpha, plan.power,
                     plan.min_events, c.events, exact=True)
    absolute = judge(own, constant(limit), Bounds(0.0, min_effect), plan.alpha, plan.power,
                     plan.min_events, own.events, exact=True)
    return relative, absolute


def _fill(check: AnalysisCheck, result: Judgement, statistic: str) -> AnalysisCheck:
    check.verdict = result.verdict
    check.sample_size, check.required_sample_size = result.sample_size, result.planned_sample
    check.statistic = statistic
    if result.interval is not None:
        check.statistic_value = result.interval.estimate
        check.lower, check.upper = result.interval.lower, result.interval.upper
    return check


def _evidence(result: Judgement, label: str) -> str:
    if result.interval is None:
        return f"{label}: {result.reason}"
    i = result.interval
    how = " (exact sequential test)" if result.verdict == "fail" else ""
    return (f"{label} {i.estimate:+.4f} (always-valid interval {i.lower:+.4f} to "
            f"{i.upper:+.4f}); {result.reason}{how}")


def success_rate(canary: SlotSample, stable: SlotSample, cfg: SuccessRateCheck,
                 plan: TestPlan) -> AnalysisCheck:
    c = grouped_rate(canary.model_errors, canary.requests)
    s = grouped_rate(stable.model_errors, stable.requests)
    relative, absolute = _against_stable_and_limit(c, s, c, 1 - cfg.min, cfg.max_drop,
                                                   cfg.min_effect, plan)
    check = AnalysisCheck("success_rate", "inconclusive",
                          None if c.value is None else 1 - c.value, cfg.max_drop, "<=",
                          None, None, stable_value=None if s.value is None else 1 - s.value,
                          query=canary.queries.get("requests", ""))
    _fill(check, relative, "error rate, canary - stable")
    check.message = (f"{canary.n_errors} of {canary.n_requests} canary requests failed "
                     f"(5xx or input refused); " + _evidence(relative, "difference"))
    if absolute.verdict == "fail" and relative.verdict != "fail":
        check.verdict = "fail"
        check.message += (f"; and the canary's own error rate is surely above "
                          f"{1 - cfg.min:.4g} (success_rate.min {cfg.min:g})")
    return check


def latency_tail(canary: SlotSample, stable: SlotSample, cfg: LatencyCheck,
                 plan: TestPlan, concurrent: bool = True) -> AnalysisCheck:
    """The canary's tail against stable's quantile, and against `max_seconds`.

    Only concurrent evidence is compared with stable: at 100 % (and in the bake) stable's is a
    recorded baseline from an earlier step, and latency, unlike errors, moves with the load on
    the machines between then and now (the canary now takes all the traffic), so there the
    canary is judged against the absolute `max_seconds` alone."""
    q = cfg.quantile
    name = f"latency_p{q * 100:g}"
    stable_q = bucket_quantile(q, stable.latency.bounds, stable.latency.total())
    canary_q = bucket_quantile(q, canary.latency.bounds, canary.latency.total())
    check = AnalysisCheck(name, "inconclusive", canary_q, cfg.tolerance, "<=", None, None,
                          stable_value=stable_q, query=canary.queries.get("latency", ""))
    if stable_q is None or not canary.latency.groups:
        check.message = "no latency observations on one side yet"
        return check
    level = bound_at_or_below(stable_q, stable.latency.bounds)
    c = grouped_rate(canary.latency.above(level), canary.latency.totals())
    s = grouped_rate(stable.latency.above(level), stable.latency.totals())
    limit = bound_at_or_above(cfg.max_seconds, canary.latency.bounds)
    own = grouped_rate(canary.latency.above(limit), canary.latency.totals())
    relative, absolute = _against_stable_and_limit(c, s, own, 1 - q, cfg.tolerance,
                                                   cfg.min_effect, plan)
    if not concurrent:
        _fill(check, absolute, f"share slower than max_seconds {cfg.max_seconds:g} s")
        check.value, check.threshold = own.value, 1 - q
        check.message = (f"{int(own.events)} of {int(own.trials)} canary requests slower than "
                         f"max_seconds {limit:g} s (stable serves nothing now: its recorded "
                         "latency would measure the machines' load, not the model); "
                         + _evidence(absolute, "share"))
        return check
    _fill(check, relative, f"share slower than {level:g} s (stable's p{q * 100:g}), "
                           "canary - stable")
    check.message = (f"{int(c.events)} of {int(c.trials)} canary requests slower than "
                     f"{level:g} s, stable's p{q * 100:g}; " + _evidence(relative, "difference"))
    if absolute.verdict == "fail" and relative.verdict != "fail":
        check.verdict = "fail"
        check.message += (f"; and more than {1 - q:.2%} of canary requests are surely slower "
                          f"than max_seconds {cfg.max_seconds:g} s")
    return check


def score_shift(canary: SlotSample, stable: SlotSample, cfg: ScoreShiftCheck,
                plan: TestPlan) -> AnalysisCheck:
    check = AnalysisCheck("score_shift", "inconclusive", None, cfg.tolerance, "in", None, None,
                          query=canary.queries.get("scores", ""), gating=False)
    stable_total = stable.scores.total()
    if not stable_total or not canary.scores.groups or stable_total[-1] <= 0:
        check.message = "no scores on one side yet"
        return check
    bounds = Bounds(cfg.tolerance, cfg.min_effect, cfg.tolerance, cfg.min_effect)
    worst: tuple[Judgement, float, Rate, Rate] | None = None
    parts = []
    for q in cfg.quantiles:
        level = bound_at_or_above(bucket_quantile(q, stable.scores.bounds, stable_total) or 0,
                                  stable.scores.bounds)
        c = grouped_rate(canary.scores.above(level), canary.scores.totals())
        s = grouped_rate(stable.scores.above(level), stable.scores.totals())
        result = judge(c, s, bounds, plan.alpha, plan.power, plan.min_events, c.trials,
                       exact=True)
        parts.append(f"above {level:g}: canary {c.value or 0:.2%}, stable {s.value or 0:.2%}")
        move = abs((c.value or 0) - (s.value or 0))
        if worst is None or (ORDER[result.verdict], -move) < (ORDER[worst[0].verdict],
                                                               -abs((worst[2].value or 0)
                                                                    - (worst[3].value or 0))):
            worst = (result, level, c, s)
    result, level, c, s = worst
    _fill(check, result, f"share of scores above {level:g}, canary - stable")
    check.value, check.stable_value = c.value, s.value
    check.message = "; ".join(parts) + "; " + _evidence(result, "largest move")
    return check


def decision_rate(canary: SlotSample, stable: SlotSample, cfg: DecisionRateCheck,
                  plan: TestPlan) -> AnalysisCheck:
    c = grouped_rate(canary.flagged, canary.decisions)
    s = grouped_rate(stable.flagged, stable.decisions)
    check = AnalysisCheck("decision_rate", "inconclusive", c.value, None, "in", None, None,
                          stable_value=s.value, query=canary.queries.get("decisions", ""),
                          gating=False)
    if c.value is None or s.value is None:
        check.message = "no decisions on one side yet"
        return check
    base = max(s.value, 0.5 / s.trials)
    bounds = Bounds((cfg.max_ratio - 1) * base, cfg.min_effect * base,
                    (1 - cfg.min_ratio) * base, cfg.min_effect * base)
    missing = max(c.trials * s.value - c.events, 0.0)
    bad = c.events if c.value >= s.value else missing
    result = judge(c, s, bounds, plan.alpha, plan.power, plan.min_events, bad, exact=True)
    _fill(check, result, "flag rate, canary - stable")
    check.threshold = bounds.tolerance_up if c.value >= s.value else -bounds.tolerance_down
    check.comparison = "<=" if c.value >= s.value else ">="
    check.message = (f"canary flags {c.value:.2%} of {int(c.trials)}, stable {s.value:.2%}; "
                     f"allowed x{cfg.min_ratio:g} to x{cfg.max_ratio:g}; "
                     + _evidence(result, "difference"))
    return check


def sample_ratio(canary: dict[str, float], stable: dict[str, float], weight: float,
                 baseline: bool, cfg: SampleRatioCheck, query: str = "") -> AnalysisCheck:
    """Halts when the canary's share of requests (per routing group) is surely off its weight
    by more than `tolerance` x weight; sticky customers make shares vary, so the variance is
    grouped."""
    share = share_of_total(canary, stable)
    expected = weight / 100.0
    check = AnalysisCheck("sample_ratio", "pass", share.value, expected, "=",
                          int(share.trials), cfg.min_samples, statistic="share - weight",
                          query=query, gating=False)
    if baseline or weight >= 100:
        check.verdict, check.message = "skip", "all traffic is on the canary"
        return check
    if share.trials < cfg.min_samples or share.value is None:
        check.verdict = "inconclusive"
        check.message = f"{int(share.trials)} requests so far, {cfg.min_samples} needed"
        return check
    allowed = cfg.tolerance * expected
    # the test is of "share = weight": its variance is at least the binomial one at the
    # weight (a score test), not at the observed share, which early in a step, with a few
    # sticky customers, can sit near 0 and make a chance imbalance look certain
    variance = max(share.variance, expected * (1 - expected) / share.trials)
    interval = confidence_sequence(share.value - expected, variance, cfg.alpha,
                                   planned_information(max(allowed, 1e-6), cfg.alpha, 0.8))
    check.statistic_value, check.lower, check.upper = (interval.estimate, interval.lower,
                                                       interval.upper)
    if interval.lower > allowed or interval.upper < -allowed:
        check.verdict = "halt"
        check.message = (f"sample-ratio mismatch: the canary got {share.value:.2%} of requests "
                         f"at a {weight:g}% weight, surely off by more than "
                         f"{cfg.tolerance:.0%} of it; the analysis cannot be trusted")
    else:
        check.message = (f"canary share {share.value:.2%} at a {weight:g}% weight "
                         f"(interval {expected + interval.lower:.2%} to "
                         f"{expected + interval.upper:.2%})")
    return check
