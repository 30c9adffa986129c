"""What the canary analysis reads from Prometheus: the gateway's metrics of one slot and version
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

import math
from dataclasses import dataclass, field

from urllib3.util.retry import Retry

from ml_actions.errors import first_line

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


def delta_query(series: str, label: str, window: str) -> str:
    """Growth of a counter over `window`, by `label`; a series born in the window counts from 0."""
    now = f"sum by ({label}) ({series})"
    return f"{now} - (sum by ({label}) ({series} offset {window}) or {now} * 0)"


def selector(slot: str, model_version: str | None) -> str:
    version = f',model_version="{model_version}"' if model_version else ""
    return f'{{slot="{slot}"{version}}}'


class PrometheusReader:
    """Instant queries at a chosen evaluation time through prometheus-api-client."""

    def __init__(self, url: str, timeout: float = 5.0):
        from prometheus_api_client import PrometheusConnect

        self.url = url.rstrip("/")
        self.timeout = timeout
        self.client = PrometheusConnect(url=self.url, disable_ssl=True,
                                        retry=Retry(total=1, backoff_factor=0.1))

    def query(self, promql: str, at: float) -> list[dict]:
        try:
            return self.client.custom_query(promql, params={"time": f"{at:.3f}"},
                                            timeout=self.timeout)
        except Exception as err:  # noqa: BLE001 - every failure is the same fail-safe event
            cause = first_line(err)
            raise QueryError(promql, f"Prometheus at {self.url}: {cause}") from err

    def scalar(self, promql: str, at: float) -> float | None:
        """The single value of a query, None when it returns nothing."""
        result = self.query(promql, at)
        if not result:
            return None
        value = float(result[0]["value"][1])
        return None if math.isnan(value) else value

    def weight_scraped_at(self, weight: float, at: float) -> float | None:
        """When Prometheus last scraped the canary weight gauge at `weight`, or None.

        A step's data may only start once Prometheus has seen the new weight: samples scraped
        before that still count requests routed at the old weight.
        """
        return self.scalar(f'timestamp({WEIGHT}{{slot="canary"}} == {weight:g})', at)

    def _by_label(self, promql: str, label: str, at: float) -> dict[str, float]:
        out: dict[str, float] = {}
        for row in self.query(promql, at):
            value = float(row["value"][1])
            if not math.isnan(value):
                out[row["metric"].get(label, "")] = max(value, 0.0)  # a reset is no traffic
        return out

    def histogram(self, metric: str, sel: str, window: str, at: float) -> tuple[Histogram, str]:
        promql = delta_query(f"{metric}_bucket{sel}", "le", window)
        raw = self._by_label(promql, "le", at)
        pairs = sorted((float(le), value) for le, value in raw.items())
        return Histogram([p[0] for p in pairs], [p[1] for p in pairs]), promql

    def slot_sample(self, slot: str, model_version: str | None, window_seconds: float,
                    at: float) -> SlotSample:
        """Everything the built-in checks need about one slot, read over one window."""
        window = f"{max(1, int(window_seconds * 1000))}ms"
        sel = selector(slot, model_version)
        sample = SlotSample(slot, model_version, window_seconds, at)
        q_requests = delta_query(f"{REQUESTS}{sel}", "code", window)
        by_code = self._by_label(q_requests, "code", at)
        sample.requests = int(round(sum(by_code.values())))
        sample.errors = int(round(sum(v for c, v in by_code.items() if c.startswith("5"))))
        sample.latency, q_latency = self.histogram(DURATION, sel, window, at)
        sample.scores, q_scores = self.histogram(SCORE, sel, window, at)
        q_decisions = delta_query(f"{DECISIONS}{sel}", "decision", window)
        by_decision = self._by_label(q_decisions, "decision", at)
        sample.decisions = int(round(sum(by_decision.values())))
        sample.flagged = int(round(sum(v for d, v in by_decision.items()
                                       if d.lower() in FLAGGED_DECISIONS)))
        sample.queries = {"requests": q_requests, "latency": q_latency, "scores": q_scores,
                          "decisions": q_decisions}
        return sample
