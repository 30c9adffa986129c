"""Settings of a canary rollout, its Prometheus analysis and the alert relay.

Durations stay strings as written (`30s`, `5m`) so reports quote the user's own words; the
`*_seconds` properties parse them once. Everything a decision depends on (schedule, failure
policy, statistical power, thresholds) is here, never a constant in code.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ml_actions.config.durations import parse_duration

POLICIES_QUERY_ERROR = ("rollback", "hold")


@dataclass
class CanaryConfig:
    """The schedule: traffic steps, how long each is held, the bake at 100 %, the budget."""

    steps: list[float] = field(default_factory=lambda: [5.0, 25.0, 50.0, 100.0])
    interval: str = "5m"  # how long each step is held (at least one passing analysis)
    bake: str = "10m"  # held at 100 % before promoting; a failure still rolls back
    warmup_timeout: str = "5m"  # loading and warming the candidate into the canary slot
    # Worst case from a canary going bad to 100 % stable must fit in this budget.
    rollback_budget: str = "5m"
    flip_seconds: float = field(default=5.0, metadata={"range": (0, 600)})  # allowance, flip
    # The dead man's switch: canary-deploy renews this lease at every look; a runner that stops
    # (killed, cancelled, cut off) loses it and the gateway sets the canary weight to 0.
    lease: str = "2m"
    comment_id: str = "canary-deploy"
    # A shadow phase before the first step: the candidate scores a mirrored copy of live
    # requests (`shadow_share` of them) off the response path; "0s" skips it.
    shadow: str = "0s"
    shadow_share: float = field(default=1.0, metadata={"range": (0.001, 1)})

    def __post_init__(self) -> None:
        if not self.steps:
            raise ValueError("steps: give at least one traffic step, e.g. [5, 25, 50, 100]")
        if any(s <= 0 or s > 100 for s in self.steps):
            raise ValueError(f"steps: every step must lie in (0, 100], got {self.steps}")
        if any(b <= a for a, b in zip(self.steps, self.steps[1:], strict=False)):
            raise ValueError(f"steps: must increase strictly, got {self.steps}")
        if self.steps[-1] != 100:
            raise ValueError(f"steps: the last step must be 100, got {self.steps}")
        for name in ("interval", "bake", "warmup_timeout", "rollback_budget", "shadow",
                     "lease"):
            parse_duration(getattr(self, name), name)

    @property
    def interval_seconds(self) -> float:
        return parse_duration(self.interval, "canary.interval")

    @property
    def lease_seconds(self) -> float:
        return parse_duration(self.lease, "canary.lease")

    @property
    def shadow_seconds(self) -> float:
        return parse_duration(self.shadow, "canary.shadow")

    @property
    def bake_seconds(self) -> float:
        return parse_duration(self.bake, "canary.bake")

    @property
    def warmup_seconds(self) -> float:
        return parse_duration(self.warmup_timeout, "canary.warmup_timeout")

    @property
    def budget_seconds(self) -> float:
        return parse_duration(self.rollback_budget, "canary.rollback_budget")


@dataclass
class SuccessRateCheck:
    """Model errors (5xx and the canary's own input rejections), canary vs stable.

    Fails when the canary's error rate is surely more than `max_drop` above stable's (or surely
    above the absolute `1 - min`); passes once an excess of `min_effect` is ruled out."""

    enabled: bool = True
    min: float = field(default=0.99, metadata={"range": (0, 1)})
    max_drop: float = field(default=0.005, metadata={"range": (0, 1)})
    min_effect: float = field(default=0.03, metadata={"range": (0.001, 1)})


@dataclass
class LatencyCheck:
    """The latency tail: the share of canary requests slower than stable's `quantile`.

    Fails when that share surely exceeds stable's own share by more than `tolerance` (or the
    share above the absolute `max_seconds` surely exceeds 1 - quantile); passes once an excess
    of `min_effect` is ruled out."""

    enabled: bool = True
    quantile: float = field(default=0.99, metadata={"range": (0.5, 0.9999)})
    max_seconds: float = field(default=0.5, metadata={"range": (0, None)})
    tolerance: float = field(default=0.01, metadata={"range": (0, 1)})
    min_effect: float = field(default=0.05, metadata={"range": (0.001, 1)})


@dataclass
class ScoreShiftCheck:
    """The fraud-score distribution: the shares of canary scores above stable's `quantiles`.

    Fails when a share surely moved by more than `tolerance` (either way); passes once moves
    of `min_effect` are ruled out."""

    enabled: bool = True
    quantiles: list[float] = field(default_factory=lambda: [0.5, 0.9])
    tolerance: float = field(default=0.05, metadata={"range": (0, 1)})
    min_effect: float = field(default=0.1, metadata={"range": (0.001, 1)})

    def __post_init__(self) -> None:
        if not self.quantiles or any(not 0 < q < 1 for q in self.quantiles):
            raise ValueError(f"quantiles: give values in (0, 1), got {self.quantiles}")


@dataclass
class DecisionRateCheck:
    """The share flagged as fraud, canary vs stable, judged in both directions.

    Fails when the canary's rate is surely outside [min_ratio, max_ratio] x stable's (a model
    that stops flagging fraud fails as surely as one that flags everything); passes once a
    relative change of `min_effect` either way is ruled out."""

    enabled: bool = True
    min_ratio: float = field(default=0.75, metadata={"range": (0, 1)})
    max_ratio: float = field(default=1.33, metadata={"range": (1, None)})
    min_effect: float = field(default=0.4, metadata={"range": (0.01, 10)})


@dataclass
class SampleRatioCheck:
    """The canary's share of requests vs its weight; a real mismatch halts the analysis.

    Halts only when the share is surely off by more than `tolerance` x weight (relative), at
    its own `alpha`: a large canary is not aborted for a tiny imbalance that a heavy customer
    explains."""

    enabled: bool = True
    alpha: float = field(default=0.001, metadata={"range": (0, 0.5)})
    tolerance: float = field(default=0.25, metadata={"range": (0, 10)})
    min_samples: int = field(default=100, metadata={"range": (1, None)})


@dataclass
class CustomCheck:
    """A PromQL query (Jinja2: slot, model_version, window) whose value must lie in [min, max].

    `window` is the time since the step's weight took effect. The sample behind the value is
    `sample_query`, by default the slot's requests in that window; below `min_samples` the
    check is inconclusive. It fails only after `failure_threshold` failing looks in a row, so
    one noisy scrape does not roll back. A `stable` check is read at the step's start (the
    stable baseline), since at 100 % stable serves nothing."""

    name: str = ""
    query: str = ""
    min: float | None = None
    max: float | None = None
    slot: str = field(default="canary", metadata={"choices": ("canary", "stable")})
    sample_query: str | None = None
    min_samples: int = field(default=50, metadata={"range": (0, None)})
    failure_threshold: int = field(default=2, metadata={"range": (1, 100)})

    def __post_init__(self) -> None:
        if not self.name or not self.query:
            raise ValueError("a custom check needs a name and a query")
        if self.min is None and self.max is None:
            raise ValueError(f"custom check {self.name!r}: give min, max or both")


@dataclass
class ShadowFlipsCheck:
    """Shadow phase: decisions the candidate would flip on the same requests, per direction.

    A pair is (primary decision, shadow decision) on one request. Fails when the share of
    requests flipped legit->fraud, or fraud->legit, is surely above `max_rate` (or both
    together surely above `2 * max_rate`); passes once flip rates of `min_effect` per
    direction (`2 * min_effect` together) are ruled out."""

    enabled: bool = True
    max_rate: float = field(default=0.005, metadata={"range": (0, 1)})
    min_effect: float = field(default=0.015, metadata={"range": (0.0001, 1)})

    def __post_init__(self) -> None:
        if self.min_effect <= self.max_rate:
            raise ValueError(f"min_effect ({self.min_effect}) must exceed max_rate "
                             f"({self.max_rate}): a pass must rule out more than a fail needs")


@dataclass
class ShadowScoreDiffCheck:
    """Shadow phase: the mean paired score difference d = shadow score - primary score.

    Fails when |mean d| is surely above `tolerance`; passes once |mean d| >= `min_effect` is
    ruled out. Never judged on fewer than `min_pairs` pairs."""

    enabled: bool = True
    tolerance: float = field(default=0.05, metadata={"range": (0, 1)})
    min_effect: float = field(default=0.1, metadata={"range": (0.001, 1)})
    min_pairs: int = field(default=100, metadata={"range": (1, None)})


@dataclass
class ShadowHealthCheck:
    """Shadow phase: the candidate's own errors (`error` + `rejected` outcomes) and its
    scoring-time tail, judged with `success_rate` and `latency`'s bounds against the primary;
    and the share of mirrored requests dropped because the shadow queue was full, which
    fails when surely above `max_dropped_share` (a shadow that cannot keep up)."""

    enabled: bool = True
    max_dropped_share: float = field(default=0.2, metadata={"range": (0, 1)})


@dataclass
class BuiltinChecks:
    success_rate: SuccessRateCheck = field(default_factory=SuccessRateCheck)
    latency: LatencyCheck = field(default_factory=LatencyCheck)
    score_shift: ScoreShiftCheck = field(default_factory=ScoreShiftCheck)
    decision_rate: DecisionRateCheck = field(default_factory=DecisionRateCheck)
    sample_ratio: SampleRatioCheck = field(default_factory=SampleRatioCheck)
    shadow_flips: ShadowFlipsCheck = field(default_factory=ShadowFlipsCheck)
    shadow_score_diff: ShadowScoreDiffCheck = field(default_factory=ShadowScoreDiffCheck)
    shadow_health: ShadowHealthCheck = field(default_factory=ShadowHealthCheck)


@dataclass
class AnalysisConfig:
    """How the canary is judged from Prometheus, and what happens when it cannot be judged.

    `alpha` bounds the probability that the built-in checks roll back a canary as good as
    stable, over the whole rollout (split over steps and checks; see sequential.py)."""

    interval: str = "30s"  # how often the accumulated evidence is looked at within a step
    scrape_interval: str = "15s"  # Prometheus' scrape interval of the gateway
    alpha: float = field(default=0.01, metadata={"range": (0.0001, 0.5)})
    power: float = field(default=0.8, metadata={"range": (0.5, 0.999)})
    # A check never fails on fewer bad observations (errors, slow requests, flagged
    # decisions) than this, however significant: one transient 5xx is not a verdict.
    min_events: int = field(default=3, metadata={"range": (1, 1000)})
    failure_limit: int = field(default=1, metadata={"range": (1, 100)})
    consecutive_failure_limit: int = field(default=1, metadata={"range": (1, 100)})
    # A step still inconclusive this long after its interval ends ends the rollout as
    # `inconclusive` (canary removed, champion untouched).
    inconclusive_timeout: str = "2m"
    # Requests/s the whole service serves; None: measured from Prometheus before step one.
    expected_request_rate: float | None = field(default=None, metadata={"range": (0, None)})
    # Prometheus unreachable or a query error, after the reader's retries: hold the weight and
    # keep looking (a Prometheus restart is no reason to lose a good rollout), rolling back
    # once looks have failed for `hold_timeout` in a row; or roll back at once.
    on_query_error: str = field(default="hold", metadata={"choices": POLICIES_QUERY_ERROR})
    hold_timeout: str = "60s"  # with `hold`: failed looks in a row before rolling back
    query_timeout: float = field(default=5.0, metadata={"range": (0.1, 120)})
    # Prometheus over TLS is verified; a private CA is added here, never switched off silently.
    ca_bundle: str | None = None
    insecure_skip_verify: bool = False
    checks: BuiltinChecks = field(default_factory=BuiltinChecks)
    custom_checks: list[CustomCheck] = field(default_factory=list)

    def __post_init__(self) -> None:
        for name in ("interval", "scrape_interval", "inconclusive_timeout", "hold_timeout"):
            parse_duration(getattr(self, name), name)

    def seconds(self, name: str) -> float:
        return parse_duration(getattr(self, name), f"analysis.{name}")

    @property
    def query_retry_seconds(self) -> float:
        """How long a failing Prometheus query is retried: one look interval, so a look whose
        queries keep failing still ends about when the next one is due."""
        return self.seconds("interval")


@dataclass
class AlertRelayConfig:
    """The webhook receiver Alertmanager calls; firing alerts with the label roll back."""

    host: str = "127.0.0.1"
    port: int = field(default=9095, metadata={"range": (1, 65535)})
    rollback_label: str = "ml_actions_rollback"
    # Alerts about the same model, slot and version (re-sent, or a second rule firing for
    # the same canary) act once within this window; the record file keeps it across restarts.
    dedup_window: str = "10m"
    # One actor per rollback: `rollback` rolls back here; `dispatch` only sends a GitHub
    # repository_dispatch and the workflow rolls back (with the alert's expected state).
    action: str = field(default="rollback", metadata={"choices": ("rollback", "dispatch")})
    dispatch_event_type: str = "ml-actions-rollback"
