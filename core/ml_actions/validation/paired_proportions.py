"""Two models' yes/no outcomes on the same rows: McNemar's pairing, Tango's score interval.

Why paired: candidate and champion judge the same transactions, so what differs between their
recall (or false-positive rate) is carried only by the *discordant* rows, the ones one model
gets right and the other wrong (McNemar, 1947). Comparing two point estimates, or two
independent intervals, ignores that pairing: it is both too noisy on large test sets and
silent about how noisy it is on small ones.

For n pairs with n10 rows where only the candidate succeeds and n01 where only the champion
does, the difference of success rates is theta = (n10 - n01) / n. Its interval is Tango's
(1998, Statistics in Medicine 17:891) asymptotic score interval: the set of theta0 whose score
statistic

    Z(theta0) = (n10 - n01 - n theta0) / sqrt(n (2 p01~ + theta0 (1 - theta0)))

(p01~ the maximum-likelihood p01 under theta = theta0, closed form) lies within +-z. Unlike
the Wald interval it stays inside [-1, 1], has a width when no row is discordant, and keeps
close to its nominal coverage with a handful of discordant rows, which is what a few hundred
frauds give. At theta0 = 0 it is McNemar's test.

What the gate does with the interval (non-inferiority, see `non_inferiority.judge`): a loss of
`tolerance` or more passes with probability at most (1 - confidence) / 2, and a candidate as
good as the champion is judged failed, when the test set is large enough to be judged at all,
with probability at most 1 - power. `tests/evaluation/test_paired_proportions.py` checks both by
simulation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ml_actions.normal_quantiles import z_power, z_two_sided


@dataclass(frozen=True)
class PairedProportions:
    """Success counts of candidate and champion on the same `n` rows, by their discordance.

    `only_candidate` (n10): rows where only the candidate succeeds (e.g. a fraud it newly
    catches); `only_champion` (n01): rows where only the champion does (a fraud newly missed).
    """

    only_candidate: int
    only_champion: int
    n: int

    @property
    def difference(self) -> float:
        """Candidate minus champion success rate: (n10 - n01) / n."""
        return (self.only_candidate - self.only_champion) / self.n if self.n else math.nan

    def score(self, theta0: float) -> float:
        """Tango's score statistic for H0: difference = theta0 (decreasing in theta0)."""
        n, n10, n01 = self.n, self.only_candidate, self.only_champion
        a = 2.0 * n
        b = -n10 - n01 + (2.0 * n - n10 + n01) * theta0
        c = -n01 * theta0 * (1.0 - theta0)
        p01 = (math.sqrt(max(b * b - 4.0 * a * c, 0.0)) - b) / (2.0 * a)
        variance = n * (2.0 * p01 + theta0 * (1.0 - theta0))
        if variance <= 0.0:
            return 0.0 if n10 - n01 - n * theta0 == 0 else math.copysign(
                math.inf, n10 - n01 - n * theta0)
        return (n10 - n01 - n * theta0) / math.sqrt(variance)

    def interval(self, confidence: float) -> tuple[float, float]:
        """Tango's two-sided score interval at `confidence` (nan, nan without rows)."""
        if self.n <= 0:
            return (math.nan, math.nan)
        z = z_two_sided(confidence)
        estimate = self.difference
        lower = -1.0 if estimate <= -1.0 else self._root(lambda t: self.score(t) - z, -1.0,
                                                          estimate)
        upper = 1.0 if estimate >= 1.0 else self._root(lambda t: self.score(t) + z, estimate,
                                                        1.0)
        return (lower, upper)

    def minimum_detectable_effect(self, confidence: float, power: float) -> float:
        """The smallest difference this sample detects with `power`: (z + z_power) times the
        standard error implied by the interval's half-width (defined with no discordant row)."""
        lower, upper = self.interval(confidence)
        if math.isnan(lower):
            return math.nan
        z = z_two_sided(confidence)
        return (z + z_power(power)) * (upper - lower) / (2.0 * z)

    @staticmethod
    def _root(f, lo: float, hi: float, steps: int = 80) -> float:
        """Bisection on [lo, hi] for a monotone `f` that changes sign (1e-24 wide after 80)."""
        eps = 1e-12
        lo, hi = max(lo, -1.0 + eps), min(hi, 1.0 - eps)
        f_lo = f(lo)
        if f_lo == 0 or (f_lo > 0) == (f(hi) > 0):
            return lo if abs(f_lo) <= abs(f(hi)) else hi
        for _ in range(steps):
            mid = (lo + hi) / 2.0
            if (f(mid) > 0) == (f_lo > 0):
                lo = mid
            else:
                hi = mid
        return (lo + hi) / 2.0
