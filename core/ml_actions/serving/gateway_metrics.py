"""The gateway's Prometheus metrics: the numbers canary analysis and alerts are built on.

Names and labels are a contract with `core/ml_actions/rollout/analysis/checks.py`,
`deploy/prometheus/alerts.yml` and the
Grafana dashboard; change them there too. Each gateway owns its registry (no global state), so
several gateways can live in one test process.
"""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

# Detail near 0 and 1, where a fraud model's scores live and where a shift matters.
SCORE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7,
                 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.9975, 0.999, 1.0)
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1,
                   0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 2.0, 5.0, 10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
ROLLOUT_STATUSES = ("idle", "initializing", "progressing", "baking", "promoted", "rolled_back",
                    "inconclusive", "failed", "aborted")
NO_SLOT = "none"  # requests refused before a slot was chosen (malformed, too large)


class GatewayMetrics:
    def __init__(self) -> None:
        disable_created_metrics()  # *_created series only double what Prometheus stores
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("ml_gateway_requests", "Prediction requests by slot and code",
                                ["slot", "model_version", "code", "group"], registry=r)
        self.rejections = Counter("ml_gateway_input_rejections",
                                  "Requests a slot's model refused on its own input contract "
                                  "(a column or type its signature needs); also counted as 4xx "
                                  "requests", ["slot", "model_version", "group"], registry=r)
        # `form`: onnx | spark | pyfunc, what scored the request ("" when none did)
        self.duration = Histogram("ml_gateway_request_duration_seconds",
                                  "Prediction request latency of scored or failed requests",
                                  ["slot", "model_version", "group", "form"],
                                  buckets=LATENCY_BUCKETS, registry=r)
        self.score = Histogram("ml_gateway_fraud_score", "P(fraud) per scored row",
                               ["slot", "model_version", "group"], buckets=SCORE_BUCKETS,
                               registry=r)
        self.decisions = Counter("ml_gateway_decisions",
                                 "Rows per decision at the operating threshold",
                                 ["slot", "model_version", "decision", "group"], registry=r)
        self.weight = Gauge("ml_gateway_traffic_weight", "Percent of traffic per slot",
                            ["slot"], registry=r)
        self.lease_expired = Counter("ml_gateway_lease_expired",
                                     "Canaries taken out of traffic because their rollout's "
                                     "lease lapsed (a dead or cancelled runner)", registry=r)
        self.model_info = Gauge("ml_gateway_model_info", "1 for the model each slot serves",
                                ["slot", "model_version", "model_name", "form"], registry=r)
        self.batch_size = Histogram("ml_gateway_batch_size", "Rows per model call",
                                    buckets=BATCH_BUCKETS, registry=r)
        self._add_log_and_shadow(r)
        self.rollout_status = Gauge("ml_actions_rollout_status",
                                    "1 for the rollout's current status (state set)",
                                    ["model_name", "status"], registry=r)
        self.rollout_weight = Gauge("ml_actions_rollout_weight", "Canary weight of the rollout",
                                    ["model_name"], registry=r)
        self.check_value = Gauge("ml_actions_check_value", "Last value of a rollout check",
                                 ["model_name", "check", "threshold"], registry=r)

    def _add_log_and_shadow(self, r: CollectorRegistry) -> None:
        """The prediction log's health and the shadow slot's paired evidence (per row unless
        said): the rollout's shadow analysis reads the pairs and score differences."""
        self.log_records = Counter("ml_gateway_prediction_log_records",
                                   "Prediction-log records written to files", registry=r)
        self.log_dropped = Counter("ml_gateway_prediction_log_dropped",
                                   "Prediction-log records dropped: the buffer was full",
                                   registry=r)
        self.log_write_errors = Counter("ml_gateway_prediction_log_write_errors",
                                        "Prediction-log flushes that failed to write",
                                        registry=r)
        self.shadow_requests = Counter("ml_gateway_shadow_requests",
                                       "Mirrored requests by outcome: scored | error | "
                                       "rejected (input contract) | dropped (queue full)",
                                       ["model_version", "outcome"], registry=r)
        self.shadow_duration = Histogram("ml_gateway_shadow_duration_seconds",
                                         "The shadow model's own scoring time per request",
                                         ["model_version"], buckets=LATENCY_BUCKETS, registry=r)
        self.shadow_pairs = Counter("ml_gateway_shadow_pairs",
                                    "Rows by (primary, shadow) decision at the threshold",
                                    ["model_version", "primary", "shadow", "group"], registry=r)
        self.shadow_diff_positive = Counter(
            "ml_gateway_shadow_score_diff_positive", "Sum of max(shadow - primary score, 0)",
            ["model_version", "group"], registry=r)
        self.shadow_diff_negative = Counter(
            "ml_gateway_shadow_score_diff_negative", "Sum of max(primary - shadow score, 0)",
            ["model_version", "group"], registry=r)
        self.shadow_diff_squares = Counter(
            "ml_gateway_shadow_score_diff_squares", "Sum of (shadow - primary score)^2",
            ["model_version", "group"], registry=r)

    def observe_shadow_pairs(self, version: str, primary: list[float], shadow: list[float],
                             threshold: float, group: str) -> None:
        counts: dict[tuple[str, str], int] = {}
        positive = negative = squares = 0.0
        for p, s in zip(primary, shadow, strict=True):
            pair = ("fraud" if p >= threshold else "legit", "fraud" if s >= threshold else "legit")
            counts[pair] = counts.get(pair, 0) + 1
            d = s - p
            positive += max(d, 0.0)
            negative += max(-d, 0.0)
            squares += d * d
        for (p_decision, s_decision), n in counts.items():
            self.shadow_pairs.labels(version, p_decision, s_decision, group).inc(n)
        self.shadow_diff_positive.labels(version, group).inc(positive)
        self.shadow_diff_negative.labels(version, group).inc(negative)
        self.shadow_diff_squares.labels(version, group).inc(squares)

    def observe_request(self, slot: str, version: str, code: int, seconds: float | None,
                        group: str = "0", form: str = "") -> None:
        self.requests.labels(slot, version, str(code), group).inc()
        if seconds is not None:
            self.duration.labels(slot, version, group, form).observe(seconds)

    def observe_rejection(self, slot: str, version: str, code: int, group: str = "0") -> None:
        """The slot's model refused the request's input: a model error if only one slot does.

        No latency is recorded: a fast refusal would make the slot's tail look better."""
        self.rejections.labels(slot, version, group).inc()
        self.requests.labels(slot, version, str(code), group).inc()

    def observe_scores(self, slot: str, version: str, scores, threshold: float,
                       group: str = "0") -> None:
        histogram = self.score.labels(slot, version, group)
        fraud = 0
        for value in scores:
            histogram.observe(float(value))
            fraud += value >= threshold
        if fraud:
            self.decisions.labels(slot, version, "fraud", group).inc(int(fraud))
        if len(scores) - fraud:
            self.decisions.labels(slot, version, "legit", group).inc(int(len(scores) - fraud))

    def set_slots(self, weights: dict[str, float], models: dict[str, tuple[str, ...]]) -> None:
        """Publish the routing table: weights per slot, and which model each slot serves as
        (name, version[, form])."""
        for slot, weight in weights.items():
            self.weight.labels(slot).set(weight)
        self.model_info.clear()
        for slot, (name, version, *form) in models.items():
            self.model_info.labels(slot, version, name, form[0] if form else "").set(1)

    def set_rollout(self, model_name: str, status: str, weight: float | None,
                    checks: list[tuple[str, float, str]]) -> None:
        for known in ROLLOUT_STATUSES:
            self.rollout_status.labels(model_name, known).set(1 if known == status else 0)
        if weight is not None:
            self.rollout_weight.labels(model_name).set(weight)
        for labels in list(self.check_value._metrics):  # a new report replaces the old checks
            if labels[0] == model_name:
                self.check_value.remove(*labels)
        for name, value, threshold in checks:
            self.check_value.labels(model_name, name, threshold).set(value)

    def exposition(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
