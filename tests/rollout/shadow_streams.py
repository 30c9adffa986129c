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


class ShadowStream:
    """Cumulative shadow and primary counters since the phase began, one look at a time.

    Each `advance` draws the new requests and adds them to running per-group totals (as the
    gateway's counters grow), so a look costs the same at the first second and the tenth
    minute."""

    def __init__(self, scenario: ShadowScenario, rng: np.random.Generator,
                 customers: int = 2000):
        self.s, self.rng = scenario, rng
        volume = rng.pareto(1.5, customers) + 1.0
        self.weight = volume / volume.sum()
        self.group = rng.integers(0, ROUTING_GROUPS, customers)
        propensity = np.exp(rng.normal(0.0, scenario.heterogeneity, customers))
        self.propensity = propensity / np.sum(propensity * self.weight)  # mean 1 per request
        g, b = ROUTING_GROUPS, len(BOUNDS)
        self.totals: dict[str, np.ndarray] = {
            **{f"pair:{p}:{q}": np.zeros(g) for p in PAIRS for q in PAIRS},
            "diff_sum": np.zeros(g), "diff_squares": np.zeros(g), "requests": np.zeros(g),
            "perr": np.zeros(g), "plat": np.zeros((g, b)), "lat": np.zeros(b),
            "outcomes": np.zeros(3)}  # scored, error, dropped
        self.elapsed = 0.0

    def advance(self, seconds: float) -> None:
        s, rng, t = self.s, self.rng, self.totals
        per_customer = rng.poisson(s.rate * seconds * self.weight)
        who = np.repeat(np.arange(len(per_customer)), per_customer)
        n = len(who)
        flip = self.propensity[who]
        fraud = rng.random(n) < s.fraud_share
        u = rng.random(n)
        to_fraud = ~fraud & (u < np.clip(s.to_fraud * flip / (1 - s.fraud_share), 0, 1))
        to_legit = fraud & (u < np.clip(s.to_legit * flip / s.fraud_share, 0, 1))
        d = np.clip(rng.normal(s.diff_mean, s.diff_sd, n), -1, 1)
        err, perr = rng.random(n) < s.error_rate, rng.random(n) < s.primary_error_rate
        drop = rng.random(n) < s.dropped
        lat = rng.lognormal(np.log(s.latency), 0.3, n)
        plat = rng.lognormal(np.log(0.015), 0.3, n)
        self.elapsed += seconds
        group = self.group[who]
        kept = ~drop
        scored = kept & ~err
        shadow_fraud = (fraud | to_fraud) & ~to_legit
        for p, pv in (("fraud", True), ("legit", False)):
            for q, qv in (("fraud", True), ("legit", False)):
                t[f"pair:{p}:{q}"] += _counts(scored & (fraud == pv) & (shadow_fraud == qv),
                                              group)
        t["diff_sum"] += _sums(np.where(scored, d, 0.0), group)
        t["diff_squares"] += _sums(np.where(scored, d ** 2, 0.0), group)
        t["outcomes"] += [scored.sum(), (kept & err).sum(), drop.sum()]
        t["lat"] += np.bincount(_bucket(lat[kept]), minlength=len(BOUNDS))
        t["requests"] += _counts(np.ones(n, bool), group)
        t["perr"] += _counts(perr, group)
        t["plat"] += np.bincount(group * len(BOUNDS) + _bucket(plat),
                                 minlength=ROUTING_GROUPS * len(BOUNDS)
                                 ).reshape(ROUTING_GROUPS, len(BOUNDS))

    def look(self, version: str = "2") -> tuple[ShadowSample, SlotSample]:
        t = self.totals
        shadow = ShadowSample(version, 0.0, self.elapsed)
        for p in PAIRS:
            for q in PAIRS:
                shadow.pairs[(p, q)] = _groups(t[f"pair:{p}:{q}"])
        shadow.diff_sum, shadow.diff_squares = _groups(t["diff_sum"]), _groups(t["diff_squares"])
        scored, error, dropped = (float(v) for v in t["outcomes"])
        shadow.outcomes = {"scored": scored, "error": error, "rejected": 0.0,
                           "dropped": dropped}
        shadow.duration = GroupedHistogram(list(BOUNDS), {
            "": [float(c) for c in np.cumsum(t["lat"])]})
        primary = SlotSample("stable", "1", 0.0, self.elapsed,
                             requests=_groups(t["requests"]), model_errors=_groups(t["perr"]),
                             latency=GroupedHistogram(list(BOUNDS), {
                                 str(g): [float(c) for c in np.cumsum(row)]
                                 for g, row in enumerate(t["plat"]) if row.sum() > 0}))
        return shadow, primary


PAIRS = ("fraud", "legit")


def _bucket(values: np.ndarray) -> np.ndarray:
    return np.searchsorted(np.array(BOUNDS), values)  # the bucket whose bound is >= value


def _counts(mask: np.ndarray, group: np.ndarray) -> np.ndarray:
    return np.bincount(group[mask], minlength=ROUTING_GROUPS).astype(float)


def _sums(values: np.ndarray, group: np.ndarray) -> np.ndarray:
    return np.bincount(group, weights=values, minlength=ROUTING_GROUPS)


def _groups(values: np.ndarray) -> dict[str, float]:
    return {str(g): float(v) for g, v in enumerate(values)}


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
