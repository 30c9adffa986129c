"""What the shadow phase reads from Prometheus: the gateway's shadow counters since the phase
began, for one shadow model version.

The gateway mirrors requests answered by the primary (stable) slot to the shadow slot and
scores them off the response path (see `serving_contract`'s shadow slot); per scored row it
counts the pair of decisions (`ml_gateway_shadow_pairs_total{primary, shadow, group}`), the
paired score difference d = shadow - primary as two non-decreasing sums and a sum of squares,
and per mirrored request the outcome (`scored|error|rejected|dropped`) and the shadow's own
scoring time. Everything is an increase since `since`, computed reset-aware from raw samples by
`PrometheusReader.increases`, so a gateway restart mid-phase loses only what was never scraped.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from ml_actions.rollout.analysis.prometheus_reader import GroupedHistogram, PrometheusReader

SHADOW_REQUESTS = "ml_gateway_shadow_requests_total"
SHADOW_DURATION = "ml_gateway_shadow_duration_seconds"
SHADOW_PAIRS = "ml_gateway_shadow_pairs_total"
SHADOW_DIFF_POSITIVE = "ml_gateway_shadow_score_diff_positive_total"
SHADOW_DIFF_NEGATIVE = "ml_gateway_shadow_score_diff_negative_total"
SHADOW_DIFF_SQUARES = "ml_gateway_shadow_score_diff_squares_total"
OUTCOMES = ("scored", "error", "rejected", "dropped")


@dataclass
class ShadowSample:
    """The shadow's evidence since `since`, per routing group where the gateway counts it.

    `pairs[(primary, shadow)][group]`: scored rows by the two decisions (`fraud`/`legit`);
    `diff_sum[group]` / `diff_squares[group]`: sums of d and d^2 over those rows;
    `outcomes[outcome]`: mirrored requests by outcome; `duration`: the shadow's scoring time.
    """

    model_version: str
    since: float
    at: float
    pairs: dict[tuple[str, str], dict[str, float]] = field(default_factory=dict)
    diff_sum: dict[str, float] = field(default_factory=dict)
    diff_squares: dict[str, float] = field(default_factory=dict)
    outcomes: dict[str, float] = field(default_factory=dict)
    duration: GroupedHistogram = field(default_factory=GroupedHistogram)
    queries: dict[str, str] = field(default_factory=dict)

    def pair_counts(self, primary: str | None = None, shadow: str | None = None
                    ) -> dict[str, float]:
        """Rows per group whose decisions match `primary` / `shadow` (None: any)."""
        out: dict[str, float] = defaultdict(float)
        for (p, s), groups in self.pairs.items():
            if (primary is None or p == primary) and (shadow is None or s == shadow):
                for group, value in groups.items():
                    out[group] += value
        return dict(out)

    @property
    def n_pairs(self) -> int:
        return int(round(sum(self.pair_counts().values())))

    @property
    def n_mirrored(self) -> int:
        return int(round(sum(self.outcomes.values())))


def read_shadow_sample(reader: PrometheusReader, model_version: str, since: float,
                       at: float) -> ShadowSample:
    """Every shadow counter of `model_version` since `since` (QueryError when unreachable)."""
    sel = f'{{model_version="{model_version}"}}'
    sample = ShadowSample(model_version, since, at)
    raw_pairs, q_pairs = reader.increases(f"{SHADOW_PAIRS}{sel}", ("primary", "shadow", "group"),
                                          since, at)
    for (primary, shadow, group), value in raw_pairs.items():
        sample.pairs.setdefault((primary, shadow), {})[group] = value
    positive, q_diff = reader.increases(f"{SHADOW_DIFF_POSITIVE}{sel}", ("group",), since, at)
    negative, _ = reader.increases(f"{SHADOW_DIFF_NEGATIVE}{sel}", ("group",), since, at)
    squares, _ = reader.increases(f"{SHADOW_DIFF_SQUARES}{sel}", ("group",), since, at)
    for (group,) in set(positive) | set(negative):
        sample.diff_sum[group] = positive.get((group,), 0.0) - negative.get((group,), 0.0)
    sample.diff_squares = {group: value for (group,), value in squares.items()}
    outcomes, q_outcomes = reader.increases(f"{SHADOW_REQUESTS}{sel}", ("outcome",), since, at)
    sample.outcomes = {outcome: value for (outcome,), value in outcomes.items()}
    sample.duration, q_duration = reader.histogram(SHADOW_DURATION, sel, since, at)
    sample.queries = {"pairs": q_pairs, "diff": q_diff, "outcomes": q_outcomes,
                      "duration": q_duration}
    return sample
