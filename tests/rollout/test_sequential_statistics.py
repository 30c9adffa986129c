"""The sequential tests against independent computations, and their time-uniform guarantees
checked by simulation: looking at every step must not inflate the error rate."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, special

from ml_actions.rollout.analysis.grouped_rates import difference, grouped_rate
from ml_actions.rollout.analysis.sequential import (
    confidence_sequence,
    halfwidth,
    information_for_power,
    mixing_grid,
    mixture,
    rate_above,
)


@pytest.mark.parametrize("information", [10.0, 1e3, 1e5])
def test_one_component_boundary_is_robbins_closed_form(information):
    """With one mixing variance r, M >= 1/alpha has the closed form of Robbins' normal
    mixture (Howard et al. 2021, eq. (14)): |S| >= sqrt((1 + rI)/r * (2 log(1/alpha) +
    log(1 + rI)))."""
    alpha, r = 0.01, 1 / 1e3
    closed = math.sqrt((1 + r * information) / r
                       * (2 * math.log(1 / alpha) + math.log(1 + r * information)))
    ours = halfwidth(information, alpha, (r,)) * information
    assert ours == pytest.approx(closed, rel=0.011)  # information rounded down by < 1 %
    assert ours >= closed * (1 - 1e-9) or ours == pytest.approx(closed, rel=0.011)
    assert mixture(closed, information, (r,)) == pytest.approx(1 / alpha, rel=1e-9)


def test_confidence_sequence_covers_at_every_look_at_once():
    """Gaussian increments, a look after every one of 400 observations, 4000 paths: the share
    of paths the sequence ever misses stays below alpha; a fixed 95 % interval repeated at
    every look misses most paths (so this check can fail)."""
    rng = np.random.default_rng(3)
    alpha, paths, looks = 0.05, 4000, 400
    sums = np.cumsum(rng.normal(0.0, 1.0, (paths, looks)), axis=1)
    n = np.arange(1, looks + 1)
    grid = mixing_grid(100.0)
    h = np.array([halfwidth(float(k), alpha, grid) for k in n])
    missed = (np.abs(sums / n) > h).any(axis=1).mean()
    naive = (np.abs(sums / n) > 1.96 / np.sqrt(n)).any(axis=1).mean()
    bound = alpha + 3 * math.sqrt(alpha * (1 - alpha) / paths)
    assert missed <= bound, missed
    assert naive > 0.3, naive
    interval = confidence_sequence(0.02, 1e-4, alpha, 1e4)
    assert interval.lower < 0.02 < interval.upper and interval.information == pytest.approx(1e4)


def _log_mixture(k: float, n: float, p0: float) -> float:
    tail = integrate.quad(lambda q: q ** k * (1 - q) ** (n - k), p0, 1)[0] / (1 - p0)
    return math.log(tail) - k * math.log(p0) - (n - k) * math.log1p(-p0)


@pytest.mark.parametrize("k, n, p0", [(4, 12, 0.006), (9, 300, 0.01), (30, 1000, 0.02)])
def test_exact_rate_test_is_the_integrated_likelihood_ratio(k, n, p0):
    value = _log_mixture(k, n, p0)
    for alpha in (0.1, 1e-3, 1e-6):
        assert rate_above(k, n, p0, alpha) == (value >= math.log(1 / alpha))


def test_exact_rate_test_holds_its_level_when_looked_at_after_every_request():
    """Bernoulli(p0) requests, tested after each of 3000, 1000 paths: ever rejecting
    "rate <= p0" happens in fewer than alpha of the paths."""
    rng = np.random.default_rng(5)
    alpha, p0, paths, n = 0.05, 0.01, 1000, 3000
    k = np.cumsum(rng.random((paths, n)) < p0, axis=1)
    trials = np.arange(1, n + 1)
    tail = special.betainc(k + 1, trials - k + 1, p0)
    log_m = (special.betaln(k + 1, trials - k + 1) + np.log1p(-np.minimum(tail, 1 - 1e-300))
             - math.log1p(-p0) - k * math.log(p0) - (trials - k) * math.log1p(-p0))
    rejected = ((log_m >= math.log(1 / alpha)) & (k > p0 * trials)).any(axis=1).mean()
    assert rejected <= alpha + 3 * math.sqrt(alpha / paths), rejected
    assert rate_above(20, 100, 0.01, 0.001)  # 20 % against 1 %: decided at once


def test_information_for_power_is_monotone_in_the_margin():
    grid_info = 1e4
    small = information_for_power(0.01, 0.001, 0.8, grid_info)
    large = information_for_power(0.05, 0.001, 0.8, grid_info)
    assert large < small < math.inf
    assert information_for_power(0.0, 0.001, 0.8, grid_info) == math.inf
    h = halfwidth(large, 0.001, mixing_grid(grid_info))
    assert h + 0.8416 / math.sqrt(large) <= 0.05 * 1.001


def test_grouped_variance_sees_customer_clustering():
    even = grouped_rate({str(g): 10 for g in range(16)}, {str(g): 1000 for g in range(16)})
    clustered = grouped_rate({"0": 160}, {str(g): 1000 for g in range(16)})
    assert even.value == clustered.value == 0.01
    binomial = 0.01 * 0.99 / 16000
    assert even.variance == pytest.approx(binomial, rel=0.1)  # the floor
    assert clustered.variance > 10 * binomial
    estimate, variance = difference(clustered, even)
    assert estimate == pytest.approx(0.0) and variance == clustered.variance + even.variance
    assert grouped_rate({}, {}).value is None


def test_binomial_quantile_is_scipys_ppf():
    from scipy import stats

    from ml_actions.rollout.analysis.difference_test import binomial_quantile

    rng = np.random.default_rng(7)
    for _ in range(3000):
        n, p = int(rng.integers(1, 10**6)), float(10 ** rng.uniform(-5, -0.3))
        q = float(rng.uniform(0.01, 0.5))
        assert binomial_quantile(q, n, p) == stats.binom.ppf(q, n, p), (q, n, p)
    assert binomial_quantile(0.01, 10, 0.001) == 0.0  # below P(X = 0): the quantile is 0


def test_a_canary_whose_rate_one_customer_dominates_is_not_surely_worse():
    """A 5 % canary holding one heavy customer: stable's design effect (many customers) would
    call its moved share certain; the canary's own grouped variance says it is one customer."""
    from ml_actions.rollout.analysis.difference_test import surely_beyond, surely_inflated_by

    groups = [str(g) for g in range(16)]
    stable = grouped_rate({g: 500 for g in groups}, {g: 1000 for g in groups})
    canary = grouped_rate({"0": 400, **{g: 10 for g in groups[1:]}},
                          {"0": 500, **{g: 20 for g in groups[1:]}})
    assert canary.value > stable.value + 0.15
    assert surely_inflated_by(canary) > 5
    assert not surely_beyond(canary, stable, 0.05, 0.001)
    # what stable's design effect alone concluded (the false rollbacks at 500 requests/s)
    assert rate_above(canary.events, canary.trials, stable.value + 0.05 + 0.02, 0.001)


def test_the_canarys_design_effect_counts_only_where_it_is_surely_there():
    """Unclustered counts (the errors of a broken canary are per request) are inflated by
    chance in about 10 % of looks at most; customer-clustered counts nearly always."""
    from ml_actions.rollout.analysis.difference_test import surely_inflated_by

    rng = np.random.default_rng(11)
    groups = [str(g) for g in range(16)]

    def inflated(rates: np.ndarray) -> float:
        trials = rng.integers(5, 60, 16)
        events = rng.binomial(trials, rates)
        rate = grouped_rate(dict(zip(groups, events.tolist(), strict=True)),
                            dict(zip(groups, trials.tolist(), strict=True)))
        return surely_inflated_by(rate)

    iid = [inflated(np.full(16, 0.3)) for _ in range(2000)]
    clustered = [inflated(rng.beta(0.6, 1.4, 16)) for _ in range(500)]
    assert np.mean([v > 1 for v in iid]) < 0.12
    assert np.mean([v > 1 for v in clustered]) > 0.9
    assert surely_inflated_by(grouped_rate({"0": 3}, {"0": 9, "1": 3})) == 1.0  # 2 groups
