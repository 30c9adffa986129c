"""The rollback budget: the worst case from a canary going bad to 100 % stable, from config.

A canary is only as safe as the slowest path to rolling it back: the analysis must see the
failure (one evaluation interval per tolerated failure), the failure must be in the data
(one query window plus one scrape), and the traffic must flip. A configuration whose sum
exceeds the budget (5 minutes by default) is refused before any traffic moves, with the knob
that contributes most named in the message.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ml_actions.config.durations import format_duration
from ml_actions.config.rollout import AnalysisConfig, CanaryConfig
from ml_actions.errors import ConfigurationError


@dataclass
class Budget:
    interval: float
    failure_limit: int
    query_window: float
    scrape_interval: float
    flip: float
    worst_case: float
    budget: float

    @property
    def ok(self) -> bool:
        return self.worst_case <= self.budget


def rollback_budget(canary: CanaryConfig, analysis: AnalysisConfig) -> Budget:
    limit = min(analysis.failure_limit, analysis.consecutive_failure_limit)
    interval = analysis.seconds("interval")
    window = analysis.seconds("query_window")
    scrape = analysis.seconds("scrape_interval")
    worst = interval * limit + window + scrape + canary.flip_seconds
    return Budget(interval, limit, window, scrape, canary.flip_seconds, worst,
                  canary.budget_seconds)


def check_budget(canary: CanaryConfig, analysis: AnalysisConfig) -> Budget:
    """The budget, or ConfigurationError naming the largest term and how to fix it."""
    b = rollback_budget(canary, analysis)
    if b.ok:
        return b
    terms = {
        "analysis.interval x analysis.failure_limit (or consecutive_failure_limit)":
            b.interval * b.failure_limit,
        "analysis.query_window": b.query_window,
        "analysis.scrape_interval": b.scrape_interval,
        "canary.flip_seconds": b.flip,
    }
    knob = max(terms, key=lambda k: terms[k])
    raise ConfigurationError(
        f"rollback budget exceeded: the worst case to roll back is "
        f"{format_duration(b.worst_case)} (analysis.interval {format_duration(b.interval)} x "
        f"failure limit {b.failure_limit} + query window {format_duration(b.query_window)} + "
        f"scrape interval {format_duration(b.scrape_interval)} + flip "
        f"{format_duration(b.flip)}), over canary.rollback_budget "
        f"{format_duration(b.budget)}; lower {knob}, which contributes most, or raise "
        "canary.rollback_budget"
    )


def planned_looks(config) -> int:
    """How many evaluations a rollout may make, for the multiple-testing correction."""
    canary, analysis = config.canary, config.analysis
    total = (len(canary.steps) * (canary.interval_seconds
                                  + analysis.seconds("inconclusive_timeout"))
             + canary.bake_seconds)
    return max(1, math.ceil(total / analysis.seconds("interval")))
