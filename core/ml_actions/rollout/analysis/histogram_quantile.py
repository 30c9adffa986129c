"""Quantiles of a Prometheus histogram, computed as Prometheus' `histogram_quantile` does."""

from __future__ import annotations

import math
from collections.abc import Sequence


def bucket_quantile(q: float, bounds: Sequence[float], cumulative: Sequence[float]) -> float | None:
    """The `q` quantile from cumulative bucket counts (the last bound is +Inf), interpolated
    linearly inside its bucket; None without observations."""
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


def bound_at_or_above(level: float, bounds: Sequence[float]) -> float:
    """The first finite bucket bound >= `level` (what a count above `level` can resolve)."""
    return next((b for b in bounds if b >= level and not math.isinf(b)), level)


def bound_at_or_below(level: float, bounds: Sequence[float]) -> float:
    """The last finite bucket bound <= `level` (else the first): counting above it, stable's
    own share is at least 1 - q, so a slower canary shows as a clear excess, not a rounding."""
    below = [b for b in bounds if b <= level and not math.isinf(b)]
    return below[-1] if below else bound_at_or_above(level, bounds)
