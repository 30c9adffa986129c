"""What the canary analysis reads from Prometheus: everything one slot served since a step began.

Evidence accumulates: each look judges every request since the step's weight took effect, not
a sliding window, so a canary at 1 request/s is judged on minutes of traffic, not on the last
30 seconds. Counts are computed here from the raw samples of a range query, reset-aware (a
counter that drops restarted from zero, as PromQL's `increase` treats it, but without its
extrapolation), so a gateway restart mid-step loses only what was never scraped. A series born
during the step counts from zero, which `increase` would not do for its first sample.

Counts come per routing group (`group` label, see `serving_contract.ROUTING_GROUPS`): the
analysis needs them for a variance that respects customer-sticky routing. A query that fails
is retried with backoff (`retries`) while `retry_seconds` allow (the look interval, so a look
whose queries keep failing ends about when the next is due), except one Prometheus refused as
bad (HTTP 4xx), which no retry mends. A query that still fails is `QueryError`, which the
rollout treats as fail-safe (hold, then roll back) rather than as "no data".
"""

from __future__ import annotations

import math
import re
import time
from collections import defaultdict
from dataclasses import dataclass, field

from urllib3.util.retry import Retry

from ml_actions.errors import Cancelled, first_line
from ml_actions.redaction import redact

REQUESTS = "ml_gateway_requests_total"
REJECTIONS = "ml_gateway_input_rejections_total"
DURATION = "ml_gateway_request_duration_seconds"
SCORE = "ml_gateway_fraud_score"
DECISIONS = "ml_gateway_decisions_total"
WEIGHT = "ml_gateway_traffic_weight"
FLAGGED_DECISIONS = ("fraud", "flagged", "flag", "block", "blocked", "decline", "1", "true")
LOOKBACK_SECONDS = 60.0  # how far before the step a range query reaches for the baseline
RETRIES = 3  # a failing query is asked again up to this often...
BACKOFF_SECONDS = 0.5  # ...after 0.5 s, 1 s, 2 s, within the reader's `retry_seconds`
_CLIENT_ERROR = re.compile(r"HTTP Status Code 4(?!29)\d\d")  # 429 (too many) is transient


class QueryError(Exception):
    """Prometheus was unreachable or rejected a query; `query` says which."""

    def __init__(self, query: str, cause: str, transient: bool = True, attempts: int = 1):
        tried = f" after {attempts} attempts" if attempts > 1 else ""
        super().__init__(f"{cause}{tried} (query: {query})")
        self.query = query
        self.cause = cause
        self.transient = transient  # False: Prometheus rejected the query itself (HTTP 4xx)


@dataclass
class GroupedHistogram:
    """Cumulative bucket counts by upper bound (the last is +Inf), per routing group."""

    bounds: list[float] = field(default_factory=list)
    groups: dict[str, list[float]] = field(default_factory=dict)

    def total(self) -> list[float]:
        """Cumulative counts over all groups."""
        if not self.groups:
            return [0.0] * len(self.bounds)
        return [float(sum(column)) for column in zip(*self.groups.values(), strict=True)]

    @property
    def count(self) -> int:
        total = self.total()
        return int(round(total[-1])) if total else 0

    def above(self, level: float) -> dict[str, float]:
        """Per group: observations above the first bucket bound >= `level` (certainly above)."""
        index = next((i for i, b in enumerate(self.bounds) if b >= level), None)
        if index is None:
            return {g: 0.0 for g in self.groups}
        return {g: max(c[-1] - c[index], 0.0) for g, c in self.groups.items()}

    def totals(self) -> dict[str, float]:
        return {g: c[-1] if c else 0.0 for g, c in self.groups.items()}


@dataclass
class SlotSample:
    """One slot's traffic since `since`, per routing group: requests, model errors, latency,
    scores and decisions. Model errors are 5xx plus the slot's own input rejections."""

    slot: str
    model_version: str | None
    since: float
    at: float
    requests: dict[str, float] = field(default_factory=dict)
    model_errors: dict[str, float] = field(default_factory=dict)
    codes: dict[str, float] = field(default_factory=dict)
    latency: GroupedHistogram = field(default_factory=GroupedHistogram)
    scores: GroupedHistogram = field(default_factory=GroupedHistogram)
    decisions: dict[str, float] = field(default_factory=dict)
    flagged: dict[str, float] = field(default_factory=dict)
    queries: dict[str, str] = field(default_factory=dict)

    @property
    def n_requests(self) -> int:
        return int(round(sum(self.requests.values())))

    @property
    def n_errors(self) -> int:
        return int(round(sum(self.model_errors.values())))

    @property
    def n_decisions(self) -> int:
        return int(round(sum(self.decisions.values())))

    @property
    def n_flagged(self) -> int:
        return int(round(sum(self.flagged.values())))


def increase_since(samples: list[tuple[float, float]], since: float) -> float:
    """A counter's growth after `since`, from raw samples, treating a drop as a restart."""
    baseline = 0.0
    growth = 0.0
    previous: float | None = None
    for t, value in samples:
        if t <= since:
            baseline = value
            continue
        if previous is None:
            previous = baseline
        growth += value - previous if value >= previous else value
        previous = value
    return growth


def selector(slot: str, model_version: str | None) -> str:
    version = f',model_version="{model_version}"' if model_version else ""
    return f'{{slot="{slot}"{version}}}'


PROMETHEUS_TOKEN_ENV = "ML_ACTIONS_PROMETHEUS_TOKEN"
PROMETHEUS_USER_ENV = "ML_ACTIONS_PROMETHEUS_USERNAME"
PROMETHEUS_PASSWORD_ENV = "ML_ACTIONS_PROMETHEUS_PASSWORD"


def prometheus_credentials(env: dict[str, str]) -> tuple[dict[str, str], tuple | None]:
    """(headers, basic auth) from the environment: a bearer token, or a user and password."""
    token = env.get(PROMETHEUS_TOKEN_ENV, "").strip()
    if token:
        return {"Authorization": f"Bearer {token}"}, None
    user = env.get(PROMETHEUS_USER_ENV, "").strip()
    if user:
        return {}, (user, env.get(PROMETHEUS_PASSWORD_ENV, ""))
    return {}, None


class PrometheusReader:
    """Instant and range queries at a chosen evaluation time through prometheus-api-client.

    TLS is verified by default (`verify`: True, a CA bundle path, or False only when asked);
    auth comes from the environment (`prometheus_credentials`), never from a URL."""

    def __init__(self, url: str, timeout: float = 5.0, verify: bool | str = True,
                 headers: dict[str, str] | None = None, auth: tuple | None = None,
                 retry_seconds: float = 5.0, retries: int = RETRIES):
        import requests
        from prometheus_api_client import PrometheusConnect

        self.url = url.rstrip("/")
        self.timeout = timeout
        self.retry_seconds, self.retries = retry_seconds, retries
        session = requests.Session()
        session.verify = verify
        # No retries underneath: `query` retries, so its time bound is the only one.
        self.client = PrometheusConnect(url=self.url, headers=headers or None, auth=auth,
                                        session=session, retry=Retry(total=0))

    def query(self, promql: str, at: float) -> list[dict]:
        """One instant query, retried with backoff while it fails and time is left."""
        started, attempt = time.monotonic(), 0
        while True:
            try:
                return self._query_once(promql, at, attempt + 1)
            except QueryError as err:
                delay = BACKOFF_SECONDS * 2 ** attempt
                late = time.monotonic() - started + delay > self.retry_seconds
                if not err.transient or attempt >= self.retries or late:
                    raise
            time.sleep(delay)
            attempt += 1

    def _query_once(self, promql: str, at: float, attempt: int) -> list[dict]:
        try:
            return self.client.custom_query(promql, params={"time": f"{at:.3f}"},
                                            timeout=self.timeout)
        except Cancelled:
            raise
        except Exception as err:  # noqa: BLE001 - every failure is the same fail-safe event
            cause = first_line(err)
            raise QueryError(promql, f"Prometheus at {redact(self.url)}: {cause}",
                             transient=not _CLIENT_ERROR.search(cause),
                             attempts=attempt) from err

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

    def increases(self, series: str, labels: tuple[str, ...], since: float, at: float
                  ) -> tuple[dict[tuple[str, ...], float], str]:
        """Growth since `since` of every series of `series`, summed by `labels`."""
        reach = max(1, math.ceil(at - since + LOOKBACK_SECONDS))
        promql = f"{series}[{reach}s]"
        out: dict[tuple[str, ...], float] = defaultdict(float)
        for row in self.query(promql, at):
            samples = [(float(t), float(v)) for t, v in row.get("values") or []]
            key = tuple(row["metric"].get(label, "") for label in labels)
            out[key] += increase_since(samples, since)
        return dict(out), promql

    def histogram(self, metric: str, sel: str, since: float, at: float
                  ) -> tuple[GroupedHistogram, str]:
        raw, promql = self.increases(f"{metric}_bucket{sel}", ("group", "le"), since, at)
        by_bound = {(group, float(le)): value for (group, le), value in raw.items()}
        bounds = sorted({bound for _, bound in by_bound})
        groups = {group: [by_bound.get((group, b), 0.0) for b in bounds]
                  for group in sorted({g for g, _ in by_bound})}
        return GroupedHistogram(bounds, groups), promql

    def slot_sample(self, slot: str, model_version: str | None, since: float,
                    at: float) -> SlotSample:
        """Everything the built-in checks need about one slot since `since`."""
        sel = selector(slot, model_version)
        sample = SlotSample(slot, model_version, since, at)
        by_code, q_requests = self.increases(f"{REQUESTS}{sel}", ("group", "code"), since, at)
        rejected, q_rejections = self.increases(f"{REJECTIONS}{sel}", ("group",), since, at)
        for (group, code), value in by_code.items():
            sample.requests[group] = sample.requests.get(group, 0.0) + value
            sample.codes[code] = sample.codes.get(code, 0.0) + value
            if code.startswith("5"):
                sample.model_errors[group] = sample.model_errors.get(group, 0.0) + value
        for (group,), value in rejected.items():
            sample.model_errors[group] = sample.model_errors.get(group, 0.0) + value
        sample.latency, q_latency = self.histogram(DURATION, sel, since, at)
        sample.scores, q_scores = self.histogram(SCORE, sel, since, at)
        by_decision, q_decisions = self.increases(f"{DECISIONS}{sel}", ("group", "decision"),
                                                  since, at)
        for (group, decision), value in by_decision.items():
            sample.decisions[group] = sample.decisions.get(group, 0.0) + value
            if decision.lower() in FLAGGED_DECISIONS:
                sample.flagged[group] = sample.flagged.get(group, 0.0) + value
        sample.queries = {"requests": q_requests, "rejections": q_rejections,
                          "latency": q_latency, "scores": q_scores, "decisions": q_decisions}
        return sample

    def request_counts(self, slot: str, model_version: str | None, since: float,
                       at: float) -> dict[str, float]:
        """Requests per routing group since `since` (the sample-ratio check's evidence)."""
        by_group, _ = self.increases(f"{REQUESTS}{selector(slot, model_version)}", ("group",),
                                     since, at)
        return {group: value for (group,), value in by_group.items()}

    def service_request_rate(self, seconds: float, at: float) -> float | None:
        """Requests per second the gateway's slots served over (at most) the last `seconds`.

        From raw samples over the time they actually cover: PromQL's `rate` divides by the
        whole range, which underestimates a gateway whose series are younger than it."""
        promql = f'{REQUESTS}{{slot!="none"}}[{max(1, int(seconds))}s]'
        total, first, last = 0.0, math.inf, -math.inf
        for row in self.query(promql, at):
            samples = [(float(t), float(v)) for t, v in row.get("values") or []]
            if len(samples) < 2:
                continue
            total += increase_since(samples, samples[0][0])
            first, last = min(first, samples[0][0]), max(last, samples[-1][0])
        return total / (last - first) if last > first else None
