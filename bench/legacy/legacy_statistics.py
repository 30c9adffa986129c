"""[legacy, for bench/canary_stats.py] The statistics behind a canary verdict: tests,
effect sizes and power-based sample sizes.

A canary sees a few percent of traffic, so a fixed "at least 500 requests" either decides a
blatant failure far too late or passes a subtle one on noise. Instead every check asks: is the
observed difference significant at `alpha`, and is the sample big enough to have `power` for
*this* effect (to fail) or for the smallest effect we care about (to pass)? A canary failing
30 % of its requests is then judged after a handful of requests, a healthy one only after
enough traffic to have caught a `min_effect` regression.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from scipy import special, stats

from ml_actions.normal_quantiles import z_one_sided, z_power

EPSILON = 1e-6


@dataclass
class TestOutcome:
    """A statistic, its p-value and the sample size needed for the configured power."""

    statistic: str
    value: float
    p_value: float
    required_n: int


def one_proportion_n(p0: float, p1: float, alpha: float, power: float) -> int:
    """Sample size for a one-sided test that a proportion exceeds `p0` when it really is `p1`."""
    p0 = min(max(p0, EPSILON), 1 - EPSILON)
    p1 = min(max(p1, EPSILON), 1 - EPSILON)
    if p1 <= p0:
        return 10**9
    top = z_one_sided(alpha) * math.sqrt(p0 * (1 - p0)) + z_power(power) * math.sqrt(p1 * (1 - p1))
    return max(1, math.ceil((top / (p1 - p0)) ** 2))


def exceedance_test(failures: int, n: int, allowed: float, alpha: float, power: float,
                    min_effect: float) -> tuple[TestOutcome, int]:
    """One-sided binomial test that the failure share exceeds `allowed`.

    Returns the outcome (required_n for the *observed* share) and the sample size a pass needs
    (power to detect `allowed + min_effect`).
    """
    observed = failures / n if n else 0.0
    p_value = float(stats.binomtest(failures, n, allowed, alternative="greater").pvalue) \
        if n else 1.0
    fail_n = one_proportion_n(allowed, observed, alpha, power) if observed > allowed else 10**9
    pass_n = one_proportion_n(allowed, min(allowed + min_effect, 1 - EPSILON), alpha, power)
    return TestOutcome("binomial", observed, p_value, fail_n), pass_n


def two_proportion_n(p_canary: float, p_stable: float, ratio: float, alpha: float,
                     power: float) -> int:
    """Canary sample size for a two-sided two-proportion test; stable has `ratio` x as many."""
    p1 = min(max(p_canary, EPSILON), 1 - EPSILON)
    p2 = min(max(p_stable, EPSILON), 1 - EPSILON)
    if abs(p1 - p2) < EPSILON:
        return 10**9
    k = max(ratio, EPSILON)
    pbar = (p1 + p2 * k) / (1 + k)
    top = (z_one_sided(alpha / 2) * math.sqrt(pbar * (1 - pbar) * (1 + 1 / k))
           + z_power(power) * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2) / k))
    return max(1, math.ceil((top / (p1 - p2)) ** 2))


def two_proportion_test(x_canary: int, n_canary: int, x_stable: int, n_stable: int,
                        alpha: float, power: float) -> TestOutcome:
    """Pooled two-proportion z statistic with an exact (Fisher) two-sided p-value; required_n
    for the observed difference."""
    if n_canary == 0 or n_stable == 0:
        return TestOutcome("z", 0.0, 1.0, 10**9)
    p1, p2 = x_canary / n_canary, x_stable / n_stable
    pooled = (x_canary + x_stable) / (n_canary + n_stable)
    se = math.sqrt(max(pooled * (1 - pooled), EPSILON) * (1 / n_canary + 1 / n_stable))
    z = (p1 - p2) / se
    p_value = fisher_p_value(x_canary, n_canary, x_stable, n_stable)
    return TestOutcome("z", z, p_value,
                       two_proportion_n(p1, p2, n_stable / n_canary, alpha, power))


def _shares(counts: Sequence[float]) -> list[float]:
    total = float(sum(counts))
    return [c / total for c in counts] if total > 0 else [0.0] * len(counts)


def psi(canary: Sequence[float], stable: Sequence[float]) -> float:
    """Population stability index between two bucket-count vectors (smoothed empty buckets)."""
    c = [max(s, 1e-4) for s in _shares(canary)]
    s = [max(v, 1e-4) for v in _shares(stable)]
    return float(sum((ci - si) * math.log(ci / si) for ci, si in zip(c, s, strict=True)))


def cohens_w(canary: Sequence[float], stable: Sequence[float]) -> float:
    """Effect size of a distribution shift, the input of a chi-square power calculation."""
    c, s = _shares(canary), _shares(stable)
    return math.sqrt(sum((ci - si) ** 2 / si for ci, si in zip(c, s, strict=True) if si > 0))


@lru_cache(maxsize=100_000)  # the bench's only changes: a cache, scipy.special's fast forms
def chi_square_n(w: float, df: int, alpha: float, power: float) -> int:
    """Smallest n at which a chi-square test with `df` has `power` against effect size `w`."""
    if w <= EPSILON or df < 1:
        return 10**9
    critical = special.chdtri(df, alpha)  # stats.chi2.ppf(1 - alpha, df)

    def power_at(n: int) -> float:  # stats.ncx2.sf(critical, df, n * w * w)
        return 1.0 - special.chndtr(critical, df, n * w * w)

    lo, hi = 1, 2
    while power_at(hi) < power:
        lo, hi = hi, hi * 2
        if hi > 10**9:
            return 10**9
    while lo < hi:
        mid = (lo + hi) // 2
        if power_at(mid) >= power:
            hi = mid
        else:
            lo = mid + 1
    return lo


def merge_sparse_buckets(canary: Sequence[float], stable: Sequence[float],
                         min_expected: float = 5.0) -> tuple[list[float], list[float]]:
    """Join adjacent buckets until each expects >= `min_expected` canary observations.

    The chi-square approximation needs that (Cochran's rule); with a handful of canary scores
    everything merges into one bucket and no test is possible, which is the honest answer.
    """
    n = float(sum(canary))
    shares = _shares(stable)
    merged_c: list[float] = []
    merged_s: list[float] = []
    acc_c = acc_s = acc_share = 0.0
    for c, s, share in zip(canary, stable, shares, strict=True):
        acc_c, acc_s, acc_share = acc_c + c, acc_s + s, acc_share + share
        if n * acc_share >= min_expected:
            merged_c.append(acc_c)
            merged_s.append(acc_s)
            acc_c = acc_s = acc_share = 0.0
    if acc_c or acc_s:
        if merged_c:
            merged_c[-1] += acc_c
            merged_s[-1] += acc_s
        else:
            merged_c, merged_s = [acc_c], [acc_s]
    return merged_c, merged_s


def chi_square_homogeneity(canary: Sequence[float], stable: Sequence[float], alpha: float,
                           power: float) -> TestOutcome:
    """Chi-square test that canary and stable share one distribution over the same buckets.

    Sparse buckets are merged first; required_n is the canary size needed to detect the
    observed shift (Cohen's w) with `power` on the merged buckets.
    """
    c, s = merge_sparse_buckets(canary, stable)
    if len(c) < 2 or sum(c) == 0 or sum(s) == 0:
        return TestOutcome("chi2", 0.0, 1.0, 10**9)
    chi2, df = _homogeneity_statistic(c, s)  # stats.chi2_contingency(correction=False)
    w = cohens_w(c, s)
    return TestOutcome("chi2", chi2, float(special.chdtrc(df, chi2)),
                       chi_square_n(w, df, alpha, power))


def _homogeneity_statistic(c: Sequence[float], s: Sequence[float]) -> tuple[float, int]:
    """Pearson's statistic of the 2 x k table and its degrees of freedom, as
    `stats.chi2_contingency` computes them (the bench's fast form: no scipy.stats wrapper)."""
    rows = (float(sum(c)), float(sum(s)))
    total = rows[0] + rows[1]
    chi2 = 0.0
    for a, b in zip(c, s, strict=True):
        column = a + b
        for observed, row in ((a, rows[0]), (b, rows[1])):
            expected = row * column / total
            chi2 += (observed - expected) ** 2 / expected if expected else 0.0
    return chi2, len(c) - 1


def fisher_p_value(x_canary: int, n_canary: int, x_stable: int, n_stable: int) -> float:
    """Exact two-sided p-value of a 2x2 table: valid for the few requests a canary starts with."""
    table = [[x_canary, n_canary - x_canary], [x_stable, n_stable - x_stable]]
    return float(stats.fisher_exact(table).pvalue)


def sample_ratio_test(canary: int, total: int, weight_percent: float) -> TestOutcome:
    """Chi-square goodness of fit of the canary's share of requests to the configured weight."""
    expected = weight_percent / 100.0
    if total == 0 or expected <= 0 or expected >= 1:
        return TestOutcome("chi2", 0.0, 1.0, 0)
    # stats.chisquare on (canary, rest) against the weight, in its fast form
    chi2 = ((canary - total * expected) ** 2 / (total * expected)
            + (total - canary - total * (1 - expected)) ** 2 / (total * (1 - expected)))
    return TestOutcome("chi2", chi2, float(special.chdtrc(1, chi2)), 0)


def bucket_quantile(q: float, bounds: Sequence[float], cumulative: Sequence[float]) -> float | None:
    """Prometheus' `histogram_quantile` on cumulative bucket counts (the last bound is +Inf)."""
    if not cumulative or cumulative[-1] <= 0:
        return None
    rank = q * cumulative[-1]
    prev_bound, prev_count = 0.0, 0.0
    for bound, count in zip(bounds, cumulative, strict=True):
        if count >= rank:
            if math.isinf(bound):
                return prev_bound
            if count == prev_count:
                return bound
            return prev_bound + (bound - prev_bound) * (rank - prev_count) / (count - prev_count)
        prev_bound, prev_count = bound, count
    return prev_bound


def count_above(level: float, bounds: Sequence[float], cumulative: Sequence[float]) -> int:
    """Observations certainly above `level`: beyond the first bucket bound >= level."""
    if not cumulative:
        return 0
    total = cumulative[-1]
    for bound, count in zip(bounds, cumulative, strict=True):
        if bound >= level:
            return int(round(total - count))
    return 0
