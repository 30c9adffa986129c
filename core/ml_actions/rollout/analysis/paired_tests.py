"""Always-valid tests on paired evidence: the shadow and the primary scored the same requests.

Why paired: an unpaired canary compares two disjoint groups of customers, so the customers'
own variability is in every difference and small regressions need many requests. In the
shadow phase both models score every mirrored request, so only the requests where they
disagree carry evidence (McNemar's insight): a candidate that flips 2 % of decisions shows up
as 2 % discordant pairs against a near-zero background, not as a 2-point move of a noisy flag
rate.

- `flip_rate`: the share of pairs flipped in one direction (or either), judged like a rate of
  rare bad events: fail with the exact Bernoulli-mixture test (`sequential.rate_above`, valid
  at every look, error <= `alpha`) that the flip rate is above `tolerance`, counts divided by
  the design effect the routing groups show (customer-sticky traffic); pass once the
  always-valid bound at level `1 - power` rules out `min_effect`, or the planned sample (where
  a `min_effect` flip rate fails with probability `power`) is reached.
- `mean_difference`: the mean of d = shadow score - primary score (bounded in [-1, 1]) from
  per-group sums of d and d^2, judged with the normal-mixture confidence sequence
  (`sequential.confidence_sequence`, two-sided, error <= `alpha` at every look) on a
  cluster-robust variance floored by the second moment with one pseudo-pair at |d| = 1 (so a
  handful of identical scores is never treated as certainty).

Both return `difference_test.Judgement`, so the shadow checks read like the canary's.
`tests/rollout/test_shadow_checks.py` measures the error rates by simulation.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from ml_actions.rollout.analysis.difference_test import (
    Judgement,
    design_effect,
    exact_planned_sample,
)
from ml_actions.rollout.analysis.grouped_rates import grouped_rate
from ml_actions.rollout.analysis.sequential import (
    confidence_sequence,
    information_for_power,
    planned_information,
    rate_above,
)

ASSUMED_DIFF_SPREAD = 0.01  # E[d^2] when planning before any pair was seen


def flip_rate(flips: Mapping[str, float], pairs: Mapping[str, float], tolerance: float,
              min_effect: float, alpha: float, power: float, min_events: int) -> Judgement:
    """Is the share of flipped pairs surely above `tolerance`, or surely below `min_effect`?"""
    rate = grouped_rate(flips, pairs)
    n = int(round(rate.trials))
    deff = design_effect(rate)
    planned = exact_planned_sample(0.0, tolerance, min_effect, alpha, power)
    plan = None if planned is None else math.ceil(planned * deff)
    if rate.value is None:
        return Judgement("inconclusive", None, 0, plan, "no pairs yet")
    centre = planned_information(min_effect - tolerance, alpha, power)
    interval = confidence_sequence(rate.value, rate.variance, 1 - power, centre)
    if rate.events >= min_events and rate_above(rate.events / deff, rate.trials / deff,
                                                tolerance, alpha):
        return Judgement("fail", interval, n, plan,
                         f"surely above the tolerance {tolerance:.4g} (exact sequential test)")
    if interval.upper < min_effect:
        return Judgement("pass", interval, n, plan, f"a flip rate of {min_effect:.4g} is "
                                                    "ruled out")
    if plan is not None and n >= plan:
        return Judgement("pass", interval, n, plan,
                         f"planned sample of {plan} reached without a flip-rate excess")
    return Judgement("inconclusive", interval, n, plan, f"{n} pairs so far, {plan} needed")


def diff_variance(diff_sum: Mapping[str, float], diff_squares: Mapping[str, float],
                  pairs: Mapping[str, float]) -> tuple[float | None, float]:
    """The mean of d and its variance: the larger of the cluster-robust (routing groups as
    clusters) and the pseudo-pair second-moment estimates."""
    n = float(sum(pairs.values()))
    if n <= 0:
        return None, math.inf
    mean = float(sum(diff_sum.values())) / n
    second = (float(sum(diff_squares.values())) + 1.0) / (n + 1.0)
    floor = second / n
    groups = [g for g, count in pairs.items() if count > 0]
    robust = 0.0
    if len(groups) > 1:
        k = len(groups)
        spread = sum((diff_sum.get(g, 0.0) - mean * pairs[g]) ** 2 for g in groups)
        robust = k / (k - 1) * spread / n ** 2
    return mean, max(robust, floor)


def mean_difference(diff_sum: Mapping[str, float], diff_squares: Mapping[str, float],
                    pairs: Mapping[str, float], tolerance: float, min_effect: float,
                    alpha: float, power: float, min_pairs: int) -> Judgement:
    """Is |mean d| surely above `tolerance`, or is |mean d| >= `min_effect` ruled out?"""
    n_float = float(sum(pairs.values()))
    n = int(round(n_float))
    mean, variance = diff_variance(diff_sum, diff_squares, pairs)
    margin = min_effect - tolerance
    centre = planned_information(max(margin, 1e-6), alpha, power)
    per_pair = max(variance * n_float if n_float > 0 else ASSUMED_DIFF_SPREAD, 1e-6)
    info = information_for_power(margin, alpha, power, centre)
    plan = None if math.isinf(info) else max(min_pairs, math.ceil(info * per_pair))
    if mean is None:
        return Judgement("inconclusive", None, 0, plan, "no pairs yet")
    interval = confidence_sequence(mean, variance, 1 - power, centre)
    if n < min_pairs:
        return Judgement("inconclusive", interval, n, plan,
                         f"{n} pairs so far, judged from min_pairs {min_pairs}")
    strict = confidence_sequence(mean, variance, alpha, centre)
    if strict.lower > tolerance or strict.upper < -tolerance:
        side = "above" if strict.lower > tolerance else "below"
        sign = "+" if side == "above" else "-"
        return Judgement("fail", interval, n, plan,
                         f"the mean difference is surely {side} {sign}{tolerance:g}")
    if -min_effect < interval.lower and interval.upper < min_effect:
        return Judgement("pass", interval, n, plan,
                         f"a mean difference of +-{min_effect:g} is ruled out")
    if plan is not None and n >= plan:
        return Judgement("pass", interval, n, plan,
                         f"planned sample of {plan} reached without a shift")
    need = f"{plan} needed" if plan is not None else "min_effect not above the tolerance"
    return Judgement("inconclusive", interval, n, plan, f"{n} pairs so far, {need}")


def flag_ratio(shadow_flags: Mapping[str, float], primary_flags: Mapping[str, float],
               discordant: float, min_ratio: float, max_ratio: float, min_effect: float,
               alpha: float, power: float, min_events: int) -> Judgement:
    """Does the candidate flag, on the same rows, surely fewer than `min_ratio` or more than
    `max_ratio` times what the primary flags? Passes once a relative change of `min_effect`
    either way is ruled out.

    Why a ratio on pairs: a model that stops flagging fraud moves a 1 % flag rate by half a
    point, which disjoint customer groups (the canary) cannot tell from their own mix, while
    on the same rows only the discordant pairs vary. The estimate is rho = S / P (shadow and
    primary flags); its variance is the ratio estimator's over routing groups as clusters,
    K / (K - 1) * sum_g (S_g - rho P_g)^2 / P^2, floored by McNemar's (discordant + 1) / P^2;
    the interval is the normal-mixture confidence sequence (time-uniform, asymptotic in the
    number of flags), two-sided at `alpha` for the fail and at `1 - power` for the pass.
    """
    s_total, p_total = float(sum(shadow_flags.values())), float(sum(primary_flags.values()))
    n = int(round(p_total))
    if p_total < max(1, min_events):
        return Judgement("inconclusive", None, n, None,
                         f"{n} primary flags so far, judged from {min_events}")
    rho = s_total / p_total
    groups = [g for g in set(shadow_flags) | set(primary_flags)
              if shadow_flags.get(g, 0.0) or primary_flags.get(g, 0.0)]
    robust = 0.0
    if len(groups) > 1:
        k = len(groups)
        spread = sum((shadow_flags.get(g, 0.0) - rho * primary_flags.get(g, 0.0)) ** 2
                     for g in groups)
        robust = k / (k - 1) * spread / p_total ** 2
    variance = max(robust, (discordant + 1.0) / p_total ** 2)
    margin = max(min_effect - max(1 - min_ratio, max_ratio - 1), 1e-3)
    centre = planned_information(margin, alpha, power)
    strict = confidence_sequence(rho, variance, alpha, centre)
    interval = confidence_sequence(rho, variance, 1 - power, centre)
    if discordant >= min_events and (strict.upper < min_ratio or strict.lower > max_ratio):
        side = f"below x{min_ratio:g}" if strict.upper < min_ratio else f"above x{max_ratio:g}"
        return Judgement("fail", interval, n, None, f"surely {side} the primary's flags")
    if 1 - min_effect < interval.lower and interval.upper < 1 + min_effect:
        return Judgement("pass", interval, n, None,
                         f"a change of x{1 - min_effect:g} or x{1 + min_effect:g} is ruled out")
    return Judgement("inconclusive", interval, n, None, f"{n} primary flags so far")
