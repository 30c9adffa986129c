"""Canary analysis: one look at all the evidence since a step began, every check with its proof.

A look reads both slots from Prometheus and runs the built-in checks (`builtin_checks`) and the
user's (`custom_checks`). Rates are judged on everything each slot served since the scrape
before the weight changed (`rates_since`: the same two models served then, so earlier requests
are evidence too and a blatant failure is seen on the first scrape); the sample ratio only on
requests since the first scrape that saw the new weight (`since`), since the split itself
changed. At 100 % the stable side is stable's evidence from the previous step (`baseline`):
stable serves nothing any more.

The error budget: `analysis.alpha` bounds the probability that a canary as good as stable is
rolled back by the built-in checks over the whole rollout. It is split evenly over the
rollout's stages (steps and bake) and the comparisons each look makes; every comparison is an
always-valid test, so looking every `analysis.interval` spends nothing more.
"""

from __future__ import annotations

import time

from ml_actions.config.rollout import AnalysisConfig
from ml_actions.rollout.analysis import builtin_checks as builtin
from ml_actions.rollout.analysis.custom_checks import CustomChecks
from ml_actions.rollout.analysis.evidence import AnalysisCheck, Evaluation, combine
from ml_actions.rollout.analysis.prometheus_reader import PrometheusReader, QueryError, SlotSample
from ml_actions.timestamps import iso_from_epoch

__all__ = ["AnalysisCheck", "CanaryAnalysis", "Evaluation", "combine"]


def comparisons_per_look(config: AnalysisConfig) -> int:
    """How many always-valid comparisons one look makes (each gets its share of alpha)."""
    checks = config.checks
    return max(1, 2 * checks.success_rate.enabled + 2 * checks.latency.enabled
               + len(checks.score_shift.quantiles) * checks.score_shift.enabled
               + 2 * checks.decision_rate.enabled)


class CanaryAnalysis:
    """Reads both slots from Prometheus and judges the canary against the configured bounds."""

    def __init__(self, reader: PrometheusReader, config: AnalysisConfig, stages: int = 1):
        self.reader = reader
        self.config = config
        self.custom = CustomChecks(reader, config.custom_checks)
        self.plan_stages(stages)

    def plan_stages(self, stages: int) -> None:
        """Split `alpha` over the rollout's stages and each look's comparisons (not over looks:
        the tests are valid at every look)."""
        self.stages = max(1, stages)
        self.alpha = self.config.alpha / (self.stages * comparisons_per_look(self.config))
        self.plan = builtin.TestPlan(self.alpha, self.config.power, self.config.min_events)

    def start_step(self) -> None:
        """A new step judges new evidence: the custom checks' failing looks start over."""
        self.custom.start_step()

    def evaluate(self, canary_version: str, stable_version: str | None, weight: float,
                 since: float, at: float | None = None,
                 baseline: tuple[float, float] | None = None,
                 rates_since: float | None = None) -> Evaluation:
        """One look at `at` (now); query errors give `error`.

        `baseline`: the (start, end) of stable's last evidence, used once stable serves nothing.
        """
        at = time.time() if at is None else at
        start = since if rates_since is None else min(rates_since, since)
        try:
            canary = self.reader.slot_sample("canary", canary_version, start, at)
            if baseline is None:
                stable = self.reader.slot_sample("stable", stable_version, start, at)
            else:
                stable = self.reader.slot_sample("stable", stable_version, *baseline)
            split = None
            if baseline is None and start < since and self.config.checks.sample_ratio.enabled:
                split = (self.reader.request_counts("canary", canary_version, since, at),
                         self.reader.request_counts("stable", stable_version, since, at))
            checks = self.builtin_checks(canary, stable, weight, baseline is not None, split)
            checks += self.custom.evaluate(canary_version, stable_version, since, at)
        except QueryError as err:
            return Evaluation(iso_from_epoch(at), weight, at - since, "error", [],
                              error=f"query error: {err}")
        return Evaluation(iso_from_epoch(at), weight, at - since, combine(checks), checks,
                          canary_requests=canary.n_requests, stable_requests=stable.n_requests)

    def builtin_checks(self, canary: SlotSample, stable: SlotSample, weight: float,
                       baseline: bool, split: tuple[dict, dict] | None = None
                       ) -> list[AnalysisCheck]:
        enabled, plan = self.config.checks, self.plan
        checks = []
        if enabled.sample_ratio.enabled:
            canary_n, stable_n = split or (canary.requests, stable.requests)
            checks.append(builtin.sample_ratio(canary_n, stable_n, weight, baseline,
                                               enabled.sample_ratio,
                                               canary.queries.get("requests", "")))
        if enabled.success_rate.enabled:
            checks.append(builtin.success_rate(canary, stable, enabled.success_rate, plan))
        if enabled.latency.enabled:
            checks.append(builtin.latency_tail(canary, stable, enabled.latency, plan,
                                               concurrent=not baseline))
        if enabled.score_shift.enabled:
            checks.append(builtin.score_shift(canary, stable, enabled.score_shift, plan))
        if enabled.decision_rate.enabled:
            checks.append(builtin.decision_rate(canary, stable, enabled.decision_rate, plan))
        return checks
