"""One sequential comparison: is the canary worse than stable beyond a tolerance, or surely not?

Every built-in check reduces to the difference of two rates (errors, slow requests, flags,
scores above a quantile) and asks the same three questions of its confidence sequence
(`sequential.py`):

- fail: the interval lies beyond the tolerance on the bad side (and at least `min_events` bad
  observations back it), so the canary is worse than stable beyond what we accept;
- pass: the interval excludes a regression of `min_effect`, or the planned sample (the one at
  which a `min_effect` regression fails with probability `power`) was reached without a fail;
- otherwise inconclusive: more evidence is needed, and `planned_sample` says how much.

Error rates, with `alpha` per test: a canary as good as stable fails with probability at most
`alpha` (time-uniformly: however often it is looked at). A canary `min_effect` worse passes
with probability at most `1 - power` per check and stage: the interval that rules it out is
the always-valid one at level `1 - power` (the same error the planned-sample route has), so a
healthy canary is not held for evidence the rollback side never needed.

For rates of rare events (`exact=True`: errors, slow requests, fraud flags) the fail side is
the exact Bernoulli mixture test (`sequential.rate_above`) against stable's always-valid bound
plus (or minus) the tolerance, alpha split in two, with counts divided by a design effect: the
larger of stable's and the canary's as far as the canary's is surely there. A small canary holds
few customers, so one heavy customer can dominate its rates (healthy 5 % canaries at 500
requests/s moved their share of scores above stable's median by 25 points, which stable's
design effect alone judged certain); but the canary's own estimate, over a handful of requests
in a few routing groups, is noisy, and taken at face value it would slow the detection of a
plainly broken canary. So it counts at its 90 % lower confidence bound (the grouped variance
as chi-square on groups - 1 degrees of freedom). A two-sided check spends `alpha` on each
side.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

from scipy import special

from ml_actions.rollout.analysis.grouped_rates import Rate, difference
from ml_actions.rollout.analysis.sequential import (
    Interval,
    confidence_sequence,
    information_for_power,
    planned_information,
    rate_above,
)


@dataclass(frozen=True)
class Bounds:
    """What the difference (canary - stable) may be: `tolerance_*` before failing, and the
    regression `min_effect_*` a pass must rule out; `*_down` only for two-sided checks."""

    tolerance_up: float
    min_effect_up: float
    tolerance_down: float | None = None
    min_effect_down: float | None = None


@dataclass(frozen=True)
class Judgement:
    verdict: str  # pass | fail | inconclusive
    interval: Interval | None
    sample_size: int
    planned_sample: int | None
    reason: str


@lru_cache(maxsize=20_000)
def exact_planned_sample(base: float, tolerance: float, min_effect: float, alpha: float,
                         power: float) -> int | None:
    """Trials at which the exact test fails a rate of `base + min_effect` against
    `base + tolerance` with probability `power` (at the `1 - power` quantile of the count)."""
    p0, p1 = min(base + tolerance, 1.0), min(base + min_effect, 1.0)
    if p1 <= p0:
        return None

    def enough(n: int) -> bool:
        return rate_above(binomial_quantile(1 - power, n, p1), float(n), p0, alpha)

    lo, hi = 1, 2
    while not enough(hi):
        lo, hi = hi, hi * 2
        if hi > 10**9:
            return None
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if enough(mid) else (mid, hi)
    return hi


def binomial_quantile(q: float, n: int, p: float) -> float:
    """`scipy.stats.binom.ppf(q, n, p)` (the smallest k with P(X <= k) >= q), through the
    continuous inverse of the incomplete beta: ten times faster, which the simulator needs."""
    k = float(special.bdtrik(q, n, p))
    return 0.0 if math.isnan(k) else float(max(0, math.ceil(k - 1e-9)))


def planned_sample(canary: Rate, stable: Rate, bounds: Bounds, alpha: float,
                   power: float, exact: bool = False) -> int | None:
    """Canary trials at which a `min_effect` regression fails with probability `power`."""
    base = stable.value if stable.value is not None else 0.0
    if exact:
        # rounded to two digits so that looks share cached plans (a tolerance proportional to
        # stable's rate moves at every look): the tolerance up and the effect down, so a
        # rounded plan is never smaller than the exact one
        rounded = float(f"{base:.2g}")
        n = exact_planned_sample(rounded, _two_digits(bounds.tolerance_up, up=True),
                                 _two_digits(bounds.min_effect_up, up=False), alpha / 2, power)
        return None if n is None else math.ceil(n * design_effect(stable))
    margin = bounds.min_effect_up - bounds.tolerance_up
    alternative = min(max(base + bounds.min_effect_up, 1e-6), 1 - 1e-6)
    ratio = canary.trials / stable.trials if stable.trials and canary.trials else 0.0
    per_trial = alternative * (1 - alternative) + base * (1 - base) * ratio
    binomial = per_trial / canary.trials if canary.trials else 0.0
    inflation = max(1.0, (canary.variance + stable.variance) / binomial) if binomial else 1.0
    if margin <= 0:
        return None
    margin = 10 ** (math.floor(math.log10(margin) * 200) / 200)  # down to a 1 % step: cached
    info = information_for_power(margin, alpha, power, planned_information(margin, alpha, power))
    if math.isinf(info):
        return None
    return max(1, math.ceil(info * per_trial * inflation))


def surely_inflated_by(rate: Rate, confidence: float = 0.9) -> float:
    """The rate's design effect at its lower confidence bound (at least 1): the inflation the
    groups surely show, not the part their few degrees of freedom could show by chance."""
    if rate.groups < 3:
        return 1.0
    df = rate.groups - 1
    return max(1.0, design_effect(rate) * df / float(special.chdtri(df, 1 - confidence)))


def _two_digits(value: float, up: bool) -> float:
    """`value` rounded to two significant digits, up or down (a cache key that errs safe)."""
    if value <= 0:
        return value
    scale = 10.0 ** (math.floor(math.log10(value)) - 1)
    return (math.ceil(value / scale - 1e-9) if up else math.floor(value / scale + 1e-9)) * scale


def design_effect(rate: Rate) -> float:
    """How much grouping inflates a rate's variance over the binomial one (at least 1)."""
    p = rate.value
    if p is None or not 0 < p < 1 or rate.variance <= 0 or math.isinf(rate.variance):
        return 1.0
    return max(1.0, rate.variance / (p * (1 - p) / rate.trials))


def surely_beyond(canary: Rate, stable: Rate, tolerance: float, alpha: float,
                  above: bool = True) -> bool:
    """Exact test that the canary's rate is beyond stable's always-valid bound by more than
    `tolerance`: above its upper bound (`above`), or below its lower bound. Below is the same
    test on the complementary events (a missing flag is a bad event)."""
    p = stable.value or 0.0
    if stable.variance > 0 and not math.isinf(stable.variance):
        alpha /= 2
        interval = confidence_sequence(p, stable.variance, alpha, stable.trials)
        edge = interval.upper if above else interval.lower
    else:
        edge = p
    bound = edge + tolerance if above else 1.0 - (edge - tolerance)
    if bound >= 1.0:
        return False
    bad = canary.events if above else canary.trials - canary.events
    deff = max(design_effect(stable), surely_inflated_by(canary))
    return rate_above(bad / deff, canary.trials / deff, bound, alpha)


def judge(canary: Rate, stable: Rate, bounds: Bounds, alpha: float, power: float,
          min_events: int, bad_events: float, exact: bool = False) -> Judgement:
    """The verdict of one comparison at this look (see the module docstring)."""
    estimate, variance = difference(canary, stable)
    n = int(round(canary.trials))
    plan = planned_sample(canary, stable, bounds, alpha, power, exact)
    if estimate is None:
        return Judgement("inconclusive", None, n, plan, "no traffic on one side yet")
    margin = bounds.min_effect_up - bounds.tolerance_up
    centre = planned_information(margin, alpha, power)
    # the pass side rules out min_effect at 1 - power, the planned sample's own error rate;
    # the fail side spends the (much smaller) rollback alpha
    interval = confidence_sequence(estimate, variance, 1 - power, centre)
    two_sided = bounds.tolerance_down is not None
    if exact:
        worse_up = surely_beyond(canary, stable, bounds.tolerance_up, alpha)
        worse_down = two_sided and surely_beyond(canary, stable, bounds.tolerance_down, alpha,
                                                 above=False)
    else:
        strict = confidence_sequence(estimate, variance, alpha, centre)
        worse_up = strict.lower > bounds.tolerance_up
        worse_down = two_sided and strict.upper < -bounds.tolerance_down
    if (worse_up or worse_down) and bad_events >= min_events:
        side = "above" if worse_up else "below"
        limit = bounds.tolerance_up if worse_up else -bounds.tolerance_down
        return Judgement("fail", interval, n, plan,
                         f"surely {side} stable by more than the tolerance {limit:+.4g}")
    ruled_out = interval.upper < bounds.min_effect_up and (
        not two_sided or interval.lower > -(bounds.min_effect_down or 0.0))
    if ruled_out:
        return Judgement("pass", interval, n, plan, "a regression of min_effect is ruled out")
    if plan is not None and n >= plan:
        return Judgement("pass", interval, n, plan,
                         f"planned sample of {plan} reached without a regression")
    need = f"{plan} needed" if plan is not None else "min_effect not above the tolerance"
    return Judgement("inconclusive", interval, n, plan, f"{n} so far, {need}")
