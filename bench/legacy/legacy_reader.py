"""[legacy, for bench/canary_stats.py] The pre-sequential analysis' sample types.

What the canary analysis reads from Prometheus: the gateway's metrics of one slot and version
over one window, as plain counts.

Every check compares canary with stable over the same window, so both sides are read with the
same range and evaluation time. Counts are exact deltas of the counters over the window
(`now - (offset or 0)`), not `increase()`: a canary's series is born during the step and
`increase()` would drop its first scrape, biasing the sample-ratio check against it.
Histograms are fetched as bucket deltas and judged in Python (quantiles, exceedances,
chi-square), which also yields the sample size every verdict needs. Any failure to reach
Prometheus or a query it rejects becomes `QueryError`, which the rollout treats as fail-safe
rather than as "no data".
"""

from __future__ import annotations

from dataclasses import dataclass, field

REQUESTS = "ml_gateway_requests_total"
DURATION = "ml_gateway_request_duration_seconds"
SCORE = "ml_gateway_fraud_score"
DECISIONS = "ml_gateway_decisions_total"
WEIGHT = "ml_gateway_traffic_weight"
FLAGGED_DECISIONS = ("fraud", "flagged", "flag", "block", "blocked", "decline", "1", "true")


class QueryError(Exception):
    """Prometheus was unreachable or rejected a query; `query` says which."""

    def __init__(self, query: str, cause: str):
        super().__init__(f"{cause} (query: {query})")
        self.query = query
        self.cause = cause


@dataclass
class Histogram:
    """Cumulative bucket counts by upper bound; the last bound is +Inf."""

    bounds: list[float] = field(default_factory=list)
    cumulative: list[float] = field(default_factory=list)

    @property
    def count(self) -> int:
        return int(round(self.cumulative[-1])) if self.cumulative else 0

    def bucket_counts(self) -> list[float]:
        """Per-bucket (non-cumulative) counts, clipped at 0 against extrapolation noise."""
        out, prev = [], 0.0
        for value in self.cumulative:
            out.append(max(value - prev, 0.0))
            prev = max(prev, value)
        return out

    def aligned(self, bounds: list[float]) -> list[float]:
        """Per-bucket counts on `bounds` (missing buckets count 0) to compare two histograms."""
        by_bound = dict(zip(self.bounds, self.bucket_counts(), strict=True))
        return [by_bound.get(b, 0.0) for b in bounds]


@dataclass
class SlotSample:
    """One slot's traffic over a window: requests, 5xx, latency, scores, decisions."""

    slot: str
    model_version: str | None
    window_seconds: float
    at: float
    requests: int = 0
    errors: int = 0
    latency: Histogram = field(default_factory=Histogram)
    scores: Histogram = field(default_factory=Histogram)
    decisions: int = 0
    flagged: int = 0
    queries: dict[str, str] = field(default_factory=dict)
