"""Always-valid confidence sequences for a canary-minus-stable difference.

Why: the rollout looks at the evidence every `analysis.interval`. A fixed-sample test repeated
at every look fails a healthy canary sooner or later (the more looks, the surer), so today's
decisions must stay valid however often, and whenever, we look.

The method (Robbins' normal mixture, as in Howard et al. 2021, "Time-uniform, nonparametric,
nonasymptotic confidence sequences", and the asymptotic version of Waudby-Smith et al. 2023;
Lindon, Sanden & Shirikian, KDD 2022, apply the same idea to deployments):

- Let `D` be the estimated difference (canary - stable) of a rate, `V` its estimated variance
  and `I = 1/V` the information. Under the true difference `delta`, the score
  `S = I (D - delta)` behaves like a Brownian motion in information time.
- For any mixing variance `r`, `M_r = (1 + r I)^(-1/2) exp(r S^2 / (2 (1 + r I)))` is then a
  nonnegative martingale with `M_r = 1` at the start, and so is any average `M` of such
  martingales over a grid of `r`. Ville's inequality gives `P(sup_t M >= 1/alpha) <= alpha`.
- The confidence sequence is every `delta` with `M < 1/alpha`: `D +- h`, where `h` solves
  `M(I h) = 1/alpha`. It covers the true difference at every look at once with probability
  at least `1 - alpha`, however many looks there are and whenever they happen.

We average over a grid of `r` centred on the information at which a check is planned to
decide, so the sequence is tight both early and at the planned sample. Its guarantee is
asymptotic (the Gaussian approximation of the score); small counts are guarded by a variance
floor (a binomial variance with half a pseudo-event). `halfwidth` is computed on information
rounded down to 1 % (a wider interval: the rounding never spends alpha).

For "surely worse than a bound" on rare bad events (errors, slow requests) the Gaussian
approximation is poor, so the fail side also has an exact test: the conjugate mixture of
Bernoulli likelihood ratios (Howard et al. 2021, section 3; a uniform prior truncated to
[p0, 1]), `M = B_[p0,1](k+1, n-k+1) / ((1-p0) p0^k (1-p0)^(n-k))`, a nonnegative
supermartingale under every rate <= p0, so `P(sup M >= 1/alpha) <= alpha` exactly for
independent requests. Sticky customers are accounted for by dividing both counts by the design
effect measured on stable, which serves the same kind of customers in far greater numbers.
`bench/canary_stats.py` measures the resulting error rates by simulation.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from scipy import special

from ml_actions.normal_quantiles import z_one_sided, z_power

GRID_DECADES = (-4, -3, -2, -1, 0, 1)  # mixing variances around the planned information


@dataclass(frozen=True)
class Interval:
    """A confidence sequence at one look: the estimate, its bounds, the information."""

    estimate: float
    lower: float
    upper: float
    information: float
    alpha: float


def mixing_grid(planned_information: float) -> tuple[float, ...]:
    """Mixing variances `r = 1 / I_k` for informations `I_k` around the planned one (its
    centre rounded to a quarter decade, so grids repeat and their bounds can be cached)."""
    centre = 10.0 ** (round(math.log10(max(planned_information, 1.0)) * 4) / 4)
    return tuple(1.0 / (centre * 10.0 ** k) for k in GRID_DECADES)


def mixture(score: float, information: float, grid: Sequence[float]) -> float:
    """The averaged normal-mixture martingale at `score` (see the module docstring)."""
    total = 0.0
    for r in grid:
        spread = 1.0 + r * information
        exponent = min(r * score * score / (2.0 * spread), 700.0)
        total += math.exp(exponent) / math.sqrt(spread)
    return total / len(grid)


def halfwidth(information: float, alpha: float, grid: Sequence[float]) -> float:
    """`h` with `mixture(I h, I) = 1/alpha`: the half-width of the confidence sequence."""
    if information <= 0 or math.isinf(information):
        return math.inf if information <= 0 else 0.0
    step = math.floor(math.log(information) / ROUNDING)
    return _score_bound(step, alpha, tuple(grid)) / math.exp(step * ROUNDING)


ROUNDING = math.log(1.01)  # information is rounded down to a 1 % step (never narrower)


@lru_cache(maxsize=200_000)
def _score_bound(step: int, alpha: float, grid: tuple[float, ...]) -> float:
    """The score `x` with `mixture(x, I) = 1/alpha` at information `exp(step * ROUNDING)`.

    In `u = x^2` the mixture is `mean_j a_j exp(b_j u)`, convex and increasing, so Newton's
    method started to the right of the root (where one component alone reaches the target)
    descends onto it monotonically: every iterate is a valid, slightly wider bound.
    """
    information = math.exp(step * ROUNDING)
    target = 1.0 / alpha
    count = len(grid)
    a = [1.0 / math.sqrt(1.0 + r * information) for r in grid]
    b = [r / (2.0 * (1.0 + r * information)) for r in grid]
    u = min(math.log(count * target / aj) / bj for aj, bj in zip(a, b, strict=True))
    for _ in range(60):
        terms = [aj * math.exp(min(bj * u, 700.0)) for aj, bj in zip(a, b, strict=True)]
        value = sum(terms) / count - target
        slope = sum(t * bj for t, bj in zip(terms, b, strict=True)) / count
        step_u = value / slope
        u -= step_u
        if step_u <= 1e-10 * u:
            break
    return math.sqrt(max(u, 0.0))


def confidence_sequence(estimate: float, variance: float, alpha: float,
                        planned_information: float) -> Interval:
    """The always-valid interval for a difference with estimated `variance` at this look."""
    information = 1.0 / variance if variance > 0 else math.inf
    h = halfwidth(information, alpha, mixing_grid(planned_information))
    return Interval(estimate, estimate - h, estimate + h, information, alpha)


def rate_above(events: float, trials: float, bound: float, alpha: float) -> bool:
    """Exact always-valid test that a Bernoulli rate exceeds `bound` (see the docstring)."""
    if trials <= 0 or events <= bound * trials or bound <= 0:
        return False
    if bound >= 1:
        return False
    k, n = events, trials
    tail = special.betainc(k + 1, n - k + 1, bound)  # mass of the prior's excluded [0, p0)
    if tail >= 1.0:
        return False
    log_mixture = (special.betaln(k + 1, n - k + 1) + math.log1p(-tail) - math.log1p(-bound)
                   - k * math.log(bound) - (n - k) * math.log1p(-bound))
    return log_mixture >= math.log(1.0 / alpha)


def planned_information(effect: float, alpha: float, power: float) -> float:
    """Roughly the information at which an `effect` beyond the bound is detected with `power`.

    A fixed-sample z-test needs `((z_alpha + z_power) / effect)^2`; a confidence sequence pays
    about twice that for being valid at every look. Only the mixing grid is centred on it.
    """
    effect = max(effect, 1e-9)
    return 2.0 * ((z_one_sided(alpha) + z_power(power)) / effect) ** 2


def information_for_power(margin: float, alpha: float, power: float,
                          grid_information: float) -> float:
    """The smallest information at which a true difference `margin` beyond a bound clears it
    with probability `power`: `margin >= h(I) + z_power / sqrt(I)` (from a cached table on a
    1 % grid of informations, rounded up: never fewer than needed)."""
    if margin <= 0:
        return math.inf
    infos, falling = _power_curve(alpha, power, mixing_grid(grid_information))
    index = bisect.bisect_left(falling, -margin)  # first information whose need <= margin
    return infos[index] if index < len(infos) else math.inf


@lru_cache(maxsize=512)
def _power_curve(alpha: float, power: float, grid: tuple[float, ...]
                 ) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Informations from 1 to 1e13 and minus `h(I) + z_power / sqrt(I)` (increasing)."""
    infos = tuple(10.0 ** (k / 100) for k in range(0, 1301))
    z = z_power(power)
    return infos, tuple(-(halfwidth(i, alpha, grid) + z / math.sqrt(i)) for i in infos)
