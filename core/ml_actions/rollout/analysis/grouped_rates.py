"""Rates whose variance respects customer-sticky routing.

Why: the gateway routes by customer, so one customer's requests all land on one slot and are
not independent (a customer whose card is being tested produces many errors, or many fraud
flags, at once). A binomial variance that treats every request as independent is too small:
tests built on it fail healthy canaries. Instead the gateway counts requests per routing group
(a second hash of the routing key, `serving_contract.ROUTING_GROUPS` groups), every group holds
a random share of the customers, and the variance of a rate is estimated from how much the
groups differ (the linearised ratio estimator over groups as clusters):

    Var(p) = K / (K - 1) * sum_g (e_g - p n_g)^2 / N^2

It is floored by the binomial variance with half a pseudo-event, so a rate of 0 errors in a
handful of requests is never judged as certain.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Rate:
    """Events over trials, with a cluster-robust variance of the ratio."""

    events: float
    trials: float
    variance: float
    groups: int = 0  # routing groups with trials: the variance's degrees of freedom + 1

    @property
    def value(self) -> float | None:
        return self.events / self.trials if self.trials > 0 else None


def grouped_rate(events: Mapping[str, float], trials: Mapping[str, float]) -> Rate:
    """The rate of `events` per trial over all groups, with its variance."""
    total_events = float(sum(events.values()))
    total = float(sum(trials.values()))
    if total <= 0:
        return Rate(total_events, 0.0, math.inf)
    p = total_events / total
    groups = [g for g, n in trials.items() if n > 0]
    robust = 0.0
    if len(groups) > 1:
        k = len(groups)
        spread = sum((events.get(g, 0.0) - p * trials[g]) ** 2 for g in groups)
        robust = k / (k - 1) * spread / total ** 2
    smoothed = (total_events + 0.5) / (total + 1.0)
    floor = smoothed * (1.0 - smoothed) / total
    return Rate(total_events, total, max(robust, floor), len(groups))


def difference(canary: Rate, stable: Rate) -> tuple[float | None, float]:
    """Canary minus stable, and its variance (disjoint customers: the variances add)."""
    if canary.value is None or stable.value is None:
        return None, math.inf
    return canary.value - stable.value, canary.variance + stable.variance


def share_of_total(part: Mapping[str, float], other: Mapping[str, float]) -> Rate:
    """`part`'s share of `part + other` per group, as a rate (the sample-ratio statistic)."""
    totals = {g: part.get(g, 0.0) + other.get(g, 0.0) for g in set(part) | set(other)}
    return grouped_rate(part, totals)
