"""A fast simulator of the gateway's shadow counters during a shadow phase, for the statistics.

No processes: customers with heavy-tailed request volumes, each in one routing group (as the
gateway's group hash puts them), send requests every look; the primary decides, the shadow
flips a share of decisions in each direction (customer-specific propensities, so flips cluster
the way a feature that broke for one merchant segment makes them cluster), scores differ by
d per row, some shadow requests err or are dropped, and both sides' latencies fill the
gateway's buckets. `ShadowStream.look()` returns the cumulative `ShadowSample` and primary
`SlotSample` exactly as `read_shadow_sample` / `slot_sample` would read them since the phase
began, and `run_phase` decides each look with the rollout's own `step_policy.decide`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ml_actions.config.settings import Config
from ml_actions.rollout.analysis.evidence import Evaluation, combine
from ml_actions.rollout.analysis.prometheus_reader import GroupedHistogram, SlotSample
from ml_actions.rollout.analysis.shadow_checks import ShadowAnalysis
from ml_actions.rollout.analysis.shadow_sample import ShadowSample
from ml_actions.rollout.state import RolloutState
from ml_actions.rollout.step_policy import StepClock, decide
from ml_actions.serving.gateway_metrics import LATENCY_BUCKETS
from ml_actions.serving_contract import ROUTING_GROUPS

BOUNDS = [*LATENCY_BUCKETS, float("inf")]


@dataclass(frozen=True)
class ShadowScenario:
    """How the shadow differs from the primary on the same requests."""

    to_fraud: float = 0.001  # share of all rows flipped legit -> fraud
    to_legit: float = 0.001  # share of all rows flipped fraud -> legit
    diff_mean: float = 0.0  # mean of d = shadow score - primary score
    diff_sd: float = 0.03
    error_rate: float = 0.001  # the shadow's own errors per mirrored request
    primary_error_rate: float = 0.001
    dropped: float = 0.0  # share of mirrored requests dropped (queue full)
    latency: float = 0.01  # median scoring seconds of the shadow (the primary: 0.015)
    fraud_share: float = 0.05
    heterogeneity: float = 0.5  # sd of customers' log flip propensity
    rate: float = 50.0  # requests/s mirrored


def _cumulative(values: np.ndarray, group: np.ndarray) -> GroupedHistogram:
    index = np.searchsorted(np.array(BOUNDS), values)  # bucket with bound >= value
    hist = GroupedHistogram(list(BOUNDS), {})
    for g in np.unique(group):
        counts = np.bincount(index[group == g], minlength=len(BOUNDS))
        hist.groups[str(g)] = [float(c) for c in np.cumsum(counts)]
    return hist


class ShadowStream:
    """Cumulative shadow and primary counters since the phase began, one look at a time."""

    def __init__(self, scenario: ShadowScenario, rng: np.random.Generator,
                 customers: int = 2000):
        self.s, self.rng = scenario, rng
        volume = rng.pareto(1.5, customers) + 1.0
        self.weight = volume / volume.sum()
        self.group = rng.integers(0, ROUTING_GROUPS, customers)
        propensity = np.exp(rng.normal(0.0, scenario.heterogeneity, customers))
        self.propensity = propensity / np.sum(propensity * self.weight)  # mean 1 per request
        self.rows: dict[str, list[np.ndarray]] = {k: [] for k in (
            "group", "fraud", "to_fraud", "to_legit", "d", "err", "perr", "drop", "lat", "plat")}
        self.elapsed = 0.0

    def advance(self, seconds: float) -> None:
        s, rng = self.s, self.rng
        per_customer = rng.poisson(s.rate * seconds * self.weight)
        who = np.repeat(np.arange(len(per_customer)), per_customer)
        n = len(who)
        flip = self.propensity[who]
        fraud = rng.random(n) < s.fraud_share
        u = rng.random(n)
        rows = self.rows
        rows["group"].append(self.group[who])
        rows["fraud"].append(fraud)
        rows["to_fraud"].append(~fraud & (u < np.clip(s.to_fraud * flip / (1 - s.fraud_share),
                                                      0, 1)))
        rows["to_legit"].append(fraud & (u < np.clip(s.to_legit * flip / s.fraud_share, 0, 1)))
        rows["d"].append(np.clip(rng.normal(s.diff_mean, s.diff_sd, n), -1, 1))
        rows["err"].append(rng.random(n) < s.error_rate)
        rows["perr"].append(rng.random(n) < s.primary_error_rate)
        rows["drop"].append(rng.random(n) < s.dropped)
        rows["lat"].append(rng.lognormal(np.log(s.latency), 0.3, n))
        rows["plat"].append(rng.lognormal(np.log(0.015), 0.3, n))
        self.elapsed += seconds

    def look(self, version: str = "2") -> tuple[ShadowSample, SlotSample]:
        r = {k: np.concatenate(v) if v else np.array([]) for k, v in self.rows.items()}
        group = r["group"].astype(int)
        kept = ~r["drop"]
        scored = kept & ~r["err"]
        shadow = ShadowSample(version, 0.0, self.elapsed)
        primary_fraud = r["fraud"]
        shadow_fraud = (primary_fraud | r["to_fraud"]) & ~r["to_legit"]
        for p, pv in (("fraud", True), ("legit", False)):
            for q, qv in (("fraud", True), ("legit", False)):
                mask = scored & (primary_fraud == pv) & (shadow_fraud == qv)
                shadow.pairs[(p, q)] = _by_group(mask, group)
        shadow.diff_sum = _by_group(np.where(scored, r["d"], 0.0), group)
        shadow.diff_squares = _by_group(np.where(scored, r["d"] ** 2, 0.0), group)
        shadow.outcomes = {"scored": float(scored.sum()), "error": float((kept & r["err"]).sum()),
                           "rejected": 0.0, "dropped": float(r["drop"].sum())}
        shadow.duration = _cumulative(r["lat"][kept], np.zeros(int(kept.sum()), dtype=int))
        shadow.duration.groups = {"": shadow.duration.groups.get("0", [0.0] * len(BOUNDS))}
        primary = SlotSample("stable", "1", 0.0, self.elapsed,
                             requests=_by_group(np.ones(len(group)), group),
                             model_errors=_by_group(r["perr"].astype(float), group),
                             latency=_cumulative(r["plat"], group))
        return shadow, primary


def _by_group(values: np.ndarray, group: np.ndarray) -> dict[str, float]:
    sums = np.bincount(group, weights=values.astype(float), minlength=ROUTING_GROUPS)
    return {str(g): float(v) for g, v in enumerate(sums)}


@dataclass
class PhaseOutcome:
    action: str  # rollback | pass | inconclusive | abort
    seconds: float
    failing: tuple[str, ...] = ()


def run_phase(scenario: ShadowScenario, config: Config, rng: np.random.Generator,
              stages: int = 1) -> PhaseOutcome:
    """One shadow phase decided look by look with the rollout's own policy."""
    cfg = config.analysis
    analysis = ShadowAnalysis(None, cfg, stages)
    stream = ShadowStream(scenario, rng)
    interval = cfg.seconds("interval")
    clock = StepClock(0.0, config.canary.shadow_seconds, cfg.seconds("inconclusive_timeout"),
                      data_start=0.0)
    state = RolloutState()
    while True:
        stream.advance(interval)
        shadow, primary = stream.look()
        checks = analysis.checks(shadow, primary)
        evaluation = Evaluation("", 0.0, stream.elapsed, combine(checks), checks,
                                shadow.n_mirrored, primary.n_requests)
        decision = decide(evaluation, state, cfg, clock, stream.elapsed)
        if decision.action != "continue":
            return PhaseOutcome(decision.action, stream.elapsed,
                                tuple(c.name for c in evaluation.failing()))
