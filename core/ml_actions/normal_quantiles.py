"""Quantiles of the standard normal, the one place every z in ml-actions comes from.

The offline gates (DeLong intervals, Wilson intervals, minimum detectable effects) and the
canary's sample-size planning all need the same three numbers; one module keeps them from
drifting apart (scipy's `norm.ppf` and `statistics.NormalDist` agree to ~1e-12 anyway).
"""

from __future__ import annotations

from statistics import NormalDist

_NORMAL = NormalDist()


def z_one_sided(alpha: float) -> float:
    """The z with P(Z > z) = alpha."""
    return _NORMAL.inv_cdf(1 - alpha)


def z_two_sided(confidence: float) -> float:
    """The z with P(|Z| < z) = confidence."""
    return _NORMAL.inv_cdf(1 - (1 - confidence) / 2)


def z_power(power: float) -> float:
    """The z with P(Z < z) = power: the second term of a sample-size formula."""
    return _NORMAL.inv_cdf(power)


def normal_cdf(x: float) -> float:
    return _NORMAL.cdf(x)
