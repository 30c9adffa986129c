"""McNemar pairs with Tango's score interval: reference values, and the gate's error rates.

The reference is an independent computation: the restricted maximum likelihood found by a
numerical optimiser (not Tango's closed form) and the variance of n10 - n01 from the
multinomial's definition, inverted by a root finder. The guarantees the gate states (a loss
of the tolerance passes at most (1 - confidence) / 2 of the time; an equally good candidate
fails at most 1 - power of the time) are checked by simulating paired samples and comparing
the observed share with the upper 99.9 % quantile of the binomial at the promised rate.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import optimize, stats

from ml_actions.config.settings import load_config
from ml_actions.validation.champion_checks import paired_check
from ml_actions.validation.paired_proportions import PairedProportions


def reference_score(n10: int, n01: int, n: int, theta0: float) -> float:
    concordant = n - n10 - n01

    def minus_log_likelihood(p01: float) -> float:
        p10, rest = p01 + theta0, 1.0 - 2.0 * p01 - theta0
        return -(n10 * math.log(p10) + n01 * math.log(p01) + concordant * math.log(rest))

    lo, hi = max(0.0, -theta0) + 1e-12, (1.0 - theta0) / 2.0 - 1e-12
    p01 = optimize.minimize_scalar(minus_log_likelihood, bounds=(lo, hi), method="bounded",
                                   options={"xatol": 1e-13}).x
    p10 = p01 + theta0
    variance = n * ((p10 + p01) - (p10 - p01) ** 2)
    return (n10 - n01 - n * theta0) / math.sqrt(variance)


def reference_interval(n10: int, n01: int, n: int, confidence: float) -> tuple[float, float]:
    z = stats.norm.ppf(1 - (1 - confidence) / 2)
    estimate = (n10 - n01) / n
    lower = optimize.brentq(lambda t: reference_score(n10, n01, n, t) - z, -1 + 1e-9,
                            estimate, xtol=1e-12)
    upper = optimize.brentq(lambda t: reference_score(n10, n01, n, t) + z, estimate,
                            1 - 1e-9, xtol=1e-12)
    return lower, upper


@pytest.mark.parametrize("n10,n01,n", [(1, 7, 21), (6, 16, 161), (40, 20, 160), (3, 0, 320),
                                       (12, 19, 320), (70, 64, 59000)])
def test_tango_interval_equals_an_independent_computation(n10, n01, n):
    got = PairedProportions(n10, n01, n).interval(0.95)
    assert got == pytest.approx(reference_interval(n10, n01, n, 0.95), abs=1e-6)


def test_the_score_at_zero_is_mcnemars_statistic():
    for n10, n01 in ((12, 19), (40, 20), (0, 5)):
        pairs = PairedProportions(n10, n01, 320)
        assert pairs.score(0.0) == pytest.approx((n10 - n01) / math.sqrt(n10 + n01))


def test_no_discordant_row_still_has_an_interval_and_an_mde():
    pairs = PairedProportions(0, 0, 320)
    lo, hi = pairs.interval(0.95)
    assert lo < 0 < hi and lo == pytest.approx(-hi)
    assert 0 < pairs.minimum_detectable_effect(0.95, 0.8) < 0.05
    assert math.isnan(PairedProportions(0, 0, 0).interval(0.95)[0])


def simulate(p10: float, p01: float, n: int, tolerance: float, runs: int, seed: int
             ) -> dict[str, int]:
    """Outcomes of the gate's paired check over `runs` samples of `n` pairs."""
    config = load_config(environment="prod")
    rng = np.random.default_rng(seed)
    cells = rng.multinomial(n, [p10, p01, 1 - p10 - p01], size=runs)
    counts = {"pass": 0, "fail": 0, "inconclusive": 0}
    for n10, n01, _ in cells:
        verdict = paired_check(PairedProportions(int(n10), int(n01), n), tolerance, config,
                               "frauds", "tolerance")[0]
        counts[verdict.status] += 1
    return counts


def binomial_ceiling(runs: int, rate: float) -> int:
    """The most outcomes of probability `rate` that `runs` trials show 99.9 % of the time."""
    return int(stats.binom.ppf(0.999, runs, rate))


@pytest.mark.parametrize("p10,p01,n", [(0.03, 0.08, 320), (0.01, 0.06, 1000)])
def test_a_loss_of_the_tolerance_passes_at_most_2_5_percent_of_the_time(p10, p01, n):
    """The candidate misses 5 % more frauds than the champion (theta = -tolerance)."""
    runs = 2000
    counts = simulate(p10, p01, n, tolerance=0.05, runs=runs, seed=11)
    assert counts["pass"] <= binomial_ceiling(runs, 0.025), counts


@pytest.mark.parametrize("p_discordant,n", [(0.05, 320), (0.02, 320)])
def test_an_equally_good_candidate_fails_at_most_1_minus_power_of_the_time(p_discordant, n):
    """theta = 0: failures only where the sample could resolve the tolerance (MDE <= 0.05),
    so at most 1 - power = 20 % of runs; fewer when the MDE is well below the tolerance (with
    ~13 discordant frauds, discreteness keeps it near 2-3 %, not the normal approximation's
    0.6 %)."""
    runs = 2000
    counts = simulate(p_discordant, p_discordant, n, tolerance=0.05, runs=runs, seed=12)
    assert counts["fail"] <= binomial_ceiling(runs, 0.2), counts
    if p_discordant == 0.02:  # MDE about 0.033: an equal model nearly always passes
        assert counts["fail"] <= binomial_ceiling(runs, 0.05) and counts["pass"] > 0.95 * runs
