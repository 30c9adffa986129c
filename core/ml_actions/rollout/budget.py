"""The rollback budget: the worst case from a canary going bad to 100 % stable, at real traffic.

A canary is only as safe as the slowest path to rolling it back, and the slowest part is
usually evidence, not machinery: at 5 % of 20 requests/s the canary sees one request a second,
and no test can tell a 2-point error regression from noise on twenty of them. So the budget
counts, at the first step's weight and the service's request rate (configured as
`analysis.expected_request_rate`, or measured from Prometheus before any traffic moves):

    detection   the time to the sample at which a `min_effect` regression of the error rate,
                and of the latency tail, fails with probability `power` (sequential tests,
                at the per-comparison alpha the analysis uses)
  + interval    one look may just have passed
  + scrape      the evidence must be in Prometheus
  + flip        moving the traffic back

or, when Prometheus cannot be asked, the time the canary keeps its traffic unjudged before the
fail-safe rollback: one look interval, the reader's retries within one more, and with
`analysis.on_query_error: hold` the `hold_timeout` (plus the flip); or, when the runner itself
dies, the lease (`canary.lease`) after which the gateway drops the canary by itself, plus the
flip. The budget holds the largest of the three paths. (An outage shorter than the hold does
not add to detection: the gateway's counters keep counting, and the first look that gets an
answer judges all of it.)

A schedule whose sum exceeds `canary.rollback_budget` is refused before anything changes,
naming the knob that would fix it. Distribution checks (scores, decisions) are not in the
budget: they watch, and block a step only when the step can reach their planned sample.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ml_actions.config.durations import format_duration
from ml_actions.config.rollout import AnalysisConfig, CanaryConfig
from ml_actions.errors import ConfigurationError
from ml_actions.rollout.analysis.difference_test import Bounds, planned_sample
from ml_actions.rollout.analysis.grouped_rates import Rate

ASSUMED_ERROR_RATE = 0.001  # stable's error rate when planning, before any evidence


@dataclass
class Budget:
    request_rate: float  # requests/s of the whole service
    first_weight: float
    detection: float  # seconds to the planned sample of the slowest gating check
    slowest_check: str
    planned_sample: int
    interval: float
    scrape_interval: float
    flip: float
    lease: float
    worst_case: float
    budget: float
    retry: float = 0.0  # how long the reader retries a failing query (one look interval)
    hold: float = 0.0  # analysis.hold_timeout with on_query_error: hold, else 0

    @property
    def unjudged(self) -> float:
        """Prometheus down: seconds until the fail-safe rollback decision."""
        return self.interval + self.retry + self.hold

    @property
    def ok(self) -> bool:
        return self.worst_case <= self.budget


def _plan(base: float, bounds: Bounds, alpha: float, power: float) -> int:
    stable = Rate(base * 1e6, 1e6, base * (1 - base) / 1e6)
    return planned_sample(Rate(0.0, 0.0, math.inf), stable, bounds, alpha, power,
                          exact=True) or 10**12


def rollback_budget(canary: CanaryConfig, analysis: AnalysisConfig, request_rate: float,
                    alpha: float) -> Budget:
    checks = analysis.checks
    needs: dict[str, int] = {}
    if checks.success_rate.enabled:
        cfg = checks.success_rate
        needs["success_rate"] = _plan(ASSUMED_ERROR_RATE, Bounds(cfg.max_drop, cfg.min_effect),
                                      alpha, analysis.power)
    if checks.latency.enabled:
        cfg = checks.latency
        needs["latency"] = _plan(1 - cfg.quantile, Bounds(cfg.tolerance, cfg.min_effect),
                                 alpha, analysis.power)
    slowest = max(needs, key=lambda k: needs[k]) if needs else "none"
    n = needs.get(slowest, 0)
    canary_rate = request_rate * canary.steps[0] / 100.0
    detection = n / canary_rate if canary_rate > 0 else math.inf
    interval = analysis.seconds("interval")
    scrape = analysis.seconds("scrape_interval")
    lease = canary.lease_seconds
    retry = analysis.query_retry_seconds
    hold = analysis.seconds("hold_timeout") if analysis.on_query_error == "hold" else 0.0
    worst = max(detection + interval + scrape, interval + retry + hold,
                lease) + canary.flip_seconds
    return Budget(request_rate, canary.steps[0], detection, slowest, n, interval, scrape,
                  canary.flip_seconds, lease, worst, canary.budget_seconds, retry, hold)


def check_budget(canary: CanaryConfig, analysis: AnalysisConfig, request_rate: float,
                 alpha: float) -> Budget:
    """The budget, or ConfigurationError naming the largest term and how to fix it."""
    b = rollback_budget(canary, analysis, request_rate, alpha)
    renewal = b.interval + b.retry + analysis.query_timeout
    if b.ok and b.lease <= renewal:
        raise ConfigurationError(
            f"canary.lease ({canary.lease}) must outlast one look with its query retries "
            f"(analysis.interval twice + analysis.query_timeout = {format_duration(renewal)}), "
            "or a live rollout loses its canary; lengthen canary.lease or shorten "
            "analysis.interval")
    if b.ok:
        return b
    if b.unjudged > max(b.lease, b.detection + b.interval + b.scrape_interval):
        hold = f" and analysis.hold_timeout {format_duration(b.hold)}" if b.hold else ""
        knob = ("shorten analysis.hold_timeout (or set analysis.on_query_error: rollback)"
                if b.hold >= b.interval + b.retry else "lower analysis.interval")
        raise ConfigurationError(
            f"rollback budget exceeded: while Prometheus cannot be asked the canary keeps its "
            f"traffic for one look and its query retries "
            f"({format_duration(b.interval + b.retry)}){hold}, plus the flip "
            f"{format_duration(b.flip)}: {format_duration(b.worst_case)}, over "
            f"canary.rollback_budget {format_duration(b.budget)}: {knob}, or raise "
            "canary.rollback_budget")
    if b.lease > b.detection + b.interval + b.scrape_interval:
        raise ConfigurationError(
            f"rollback budget exceeded: a dead runner's canary keeps its traffic for "
            f"canary.lease {format_duration(b.lease)} plus the flip {format_duration(b.flip)}, "
            f"over canary.rollback_budget {format_duration(b.budget)}: shorten canary.lease "
            "(it must still outlast one look), or raise canary.rollback_budget")
    if b.detection >= max(b.interval, b.scrape_interval, b.flip):
        knob = (f"raise canary.steps[0] (now {b.first_weight:g}%) or "
                f"analysis.checks.{b.slowest_check}.min_effect, or canary.rollback_budget")
    else:
        terms = {"analysis.interval": b.interval, "analysis.scrape_interval": b.scrape_interval,
                 "canary.flip_seconds": b.flip}
        knob = f"lower {max(terms, key=lambda k: terms[k])}, or raise canary.rollback_budget"
    raise ConfigurationError(
        f"rollback budget exceeded: at {b.request_rate:.3g} requests/s and a first step of "
        f"{b.first_weight:g}%, the canary needs {format_duration(b.detection)} to reach the "
        f"{b.planned_sample} requests at which a min_effect regression of {b.slowest_check} "
        f"is caught with the configured power; with the look interval "
        f"{format_duration(b.interval)}, scrape {format_duration(b.scrape_interval)} and flip "
        f"{format_duration(b.flip)} the worst case is {format_duration(b.worst_case)}, over "
        f"canary.rollback_budget {format_duration(b.budget)}: {knob}"
    )
