"""[legacy, for bench/canary_stats.py] Today's decider before the sequential analysis: a
sliding window, Bonferroni over planned looks, post-hoc power. Kept verbatim (but for custom
checks) so the benchmark compares the new analysis with it on the same streams.

Canary analysis: the built-in and custom checks of one evaluation, each with its evidence.

Every check compares the canary with the stable slot over the same window and returns a
verdict (`pass`, `fail`, `inconclusive`, `halt`, `skip`) together with the query, the value,
the threshold, the sample size (and the size it needed), the test statistic and its p-value,
so a rollback always says which number failed against which bound. At 100 % canary traffic
the stable side is read from the last window in which stable still served (`baseline_at`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

from legacy import legacy_statistics as st
from legacy.legacy_config import AnalysisConfig
from legacy.legacy_reader import QueryError, SlotSample
from ml_actions.timestamps import iso_from_epoch

VERDICT_ORDER = ("error", "halt", "fail", "inconclusive", "pass")
STATISTICAL_CHECKS = ("success_rate", "latency", "score_shift", "decision_rate")


@dataclass
class AnalysisCheck:
    """One check's verdict with everything needed to audit it."""

    name: str
    verdict: str  # pass | fail | inconclusive | halt | skip
    value: float | None
    threshold: float | None
    comparison: str  # how value is judged against threshold: ">=", "<=", "in"
    sample_size: int | None
    required_sample_size: int | None
    statistic: str | None = None
    statistic_value: float | None = None
    p_value: float | None = None
    stable_value: float | None = None
    query: str = ""
    message: str = ""


@dataclass
class Evaluation:
    """All checks of one evaluation and the verdict they add up to."""

    at: str
    weight: float
    window_seconds: float
    verdict: str  # pass | fail | inconclusive | halt | error
    checks: list[AnalysisCheck] = field(default_factory=list)
    error: str | None = None

    def failing(self) -> list[AnalysisCheck]:
        return [c for c in self.checks if c.verdict in ("fail", "halt")]


def _n(value: int) -> int | None:
    return None if value >= 10**9 else value


def combine(checks: list[AnalysisCheck]) -> str:
    verdicts = {c.verdict for c in checks}
    for verdict in VERDICT_ORDER:
        if verdict in verdicts:
            return verdict
    return "pass"


class CanaryAnalysis:
    """Reads both slots from Prometheus and judges the canary against the configured bounds."""

    def __init__(self, reader, config: AnalysisConfig, looks: int = 1):
        self.reader = reader
        self.config = config
        self.plan_looks(looks)

    def plan_looks(self, looks: int) -> None:
        """Spread `alpha` over every planned evaluation and statistical check (Bonferroni).

        A rollout peeks at the data every `analysis.interval`; testing each look at the full
        alpha would fail a healthy canary by chance sooner or later. Blatant failures still
        decide at once: their p-values are orders of magnitude below the corrected level.
        """
        self.looks = max(1, looks)
        self.alpha = self.config.alpha / (self.looks * len(STATISTICAL_CHECKS))
        self.srm_alpha = self.config.checks.sample_ratio.alpha / self.looks

    def evaluate(self, canary_version: str, stable_version: str | None, weight: float,
                 window_seconds: float, at: float | None = None,
                 baseline_at: float | None = None) -> Evaluation:
        """One evaluation at `at` (now) over `window_seconds`; query errors give `error`."""
        at = time.time() if at is None else at
        try:
            canary = self.reader.slot_sample("canary", canary_version, window_seconds, at)
            if baseline_at is None:
                stable = self.reader.slot_sample("stable", stable_version, window_seconds, at)
            else:  # stable's last full window before the flip to 100 %
                stable = self.reader.slot_sample("stable", stable_version,
                                                 self.config.seconds("query_window"), baseline_at)
            checks = self.builtin_checks(canary, stable, weight, baseline_at is not None)
        except QueryError as err:
            return Evaluation(iso_from_epoch(at), weight, window_seconds, "error", [],
                              error=f"query error: {err}")
        return Evaluation(iso_from_epoch(at), weight, window_seconds, combine(checks), checks)

    # -- built-in checks --------------------------------------------------------------------
    def builtin_checks(self, canary: SlotSample, stable: SlotSample, weight: float,
                       baseline: bool) -> list[AnalysisCheck]:
        enabled = self.config.checks
        checks = []
        if enabled.sample_ratio.enabled:
            checks.append(self.sample_ratio(canary, stable, weight, baseline))
        if enabled.success_rate.enabled:
            checks.append(self.success_rate(canary, stable))
        if enabled.latency.enabled:
            checks.append(self.latency(canary, stable))
        if enabled.score_shift.enabled:
            checks.append(self.score_shift(canary, stable))
        if enabled.decision_rate.enabled:
            checks.append(self.decision_rate(canary, stable))
        return checks

    def sample_ratio(self, canary: SlotSample, stable: SlotSample, weight: float,
                     baseline: bool) -> AnalysisCheck:
        cfg = self.config.checks.sample_ratio
        total = canary.requests + (0 if baseline else stable.requests)
        query = f"{canary.queries['requests']} / ({stable.queries['requests']})"
        share = canary.requests / total if total else None
        check = AnalysisCheck("sample_ratio", "pass", share, weight / 100.0, "=", total,
                              cfg.min_samples, query=query)
        if baseline or weight >= 100:
            check.verdict, check.message = "skip", "all traffic is on the canary"
            return check
        if total < cfg.min_samples:
            check.verdict = "inconclusive"
            check.message = f"{total} requests in the window, {cfg.min_samples} needed"
            return check
        test = st.sample_ratio_test(canary.requests, total, weight)
        check.statistic, check.statistic_value, check.p_value = "chi2", test.value, test.p_value
        if test.p_value < self.srm_alpha:
            check.verdict = "halt"
            check.message = (f"sample-ratio mismatch: canary got {share:.2%} of requests at a "
                             f"{weight:g}% weight (p={test.p_value:.2g}); the analysis cannot be "
                             "trusted")
        else:
            check.message = f"canary share {share:.2%} matches the {weight:g}% weight"
        return check

    def success_rate(self, canary: SlotSample, stable: SlotSample) -> AnalysisCheck:
        cfg = self.config.checks.success_rate
        stable_rate = 1 - stable.errors / stable.requests if stable.requests else None
        threshold = cfg.min if stable_rate is None else max(cfg.min, stable_rate - cfg.max_drop)
        n = canary.requests
        value = 1 - canary.errors / n if n else None
        check = AnalysisCheck("success_rate", "inconclusive", value, threshold, ">=", n, None,
                              stable_value=stable_rate, query=canary.queries["requests"])
        allowed = max(1 - threshold, st.EPSILON)
        test, pass_n = st.exceedance_test(canary.errors, n, allowed, self.alpha,
                                          self.config.power, cfg.min_effect)
        within = value is not None and value >= threshold
        return self._judge_exceedance(check, test, pass_n, within, canary.errors,
                                      f"{canary.errors} of {n} requests failed (5xx)")

    def latency(self, canary: SlotSample, stable: SlotSample) -> AnalysisCheck:
        cfg = self.config.checks.latency
        q = cfg.quantile
        lat = canary.latency
        value = st.bucket_quantile(q, lat.bounds, lat.cumulative)
        stable_q = st.bucket_quantile(q, stable.latency.bounds, stable.latency.cumulative)
        raw = cfg.max_seconds
        if stable_q is not None:
            raw = min(cfg.max_seconds, stable_q * cfg.max_ratio)
        # Bucket resolution: the bound is rounded up to the histogram's next bucket bound.
        threshold = next((b for b in lat.bounds if b >= raw and not math.isinf(b)), raw)
        n = lat.count
        above = st.count_above(threshold, lat.bounds, lat.cumulative)
        check = AnalysisCheck(f"latency_p{q * 100:g}", "inconclusive", value, threshold, "<=", n,
                              None, stable_value=stable_q,
                              query=f"histogram_quantile({q}, {canary.queries['latency']})")
        test, pass_n = st.exceedance_test(above, n, 1 - q, self.alpha, self.config.power,
                                          cfg.min_effect)
        return self._judge_exceedance(check, test, pass_n, above / n <= 1 - q if n else False,
                                      above, f"{above} of {n} requests slower than {threshold:g} s")

    def _judge_exceedance(self, check: AnalysisCheck, test: st.TestOutcome, pass_n: int,
                          within: bool, events: int, evidence: str) -> AnalysisCheck:
        check.statistic, check.statistic_value, check.p_value = test.statistic, test.value, \
            test.p_value
        n = check.sample_size or 0
        if (n and test.p_value < self.alpha and n >= test.required_n
                and events >= self.config.min_events):
            check.verdict, check.required_sample_size = "fail", test.required_n
            check.message = f"{evidence}: significantly beyond the bound (p={test.p_value:.2g})"
        elif n >= pass_n and within:
            check.verdict, check.required_sample_size = "pass", pass_n
            check.message = evidence
        else:
            check.required_sample_size = pass_n
            check.message = f"{evidence}; {pass_n} requests needed to pass with the set power"
        return check

    def score_shift(self, canary: SlotSample, stable: SlotSample) -> AnalysisCheck:
        cfg = self.config.checks.score_shift
        bounds = sorted(set(canary.scores.bounds) | set(stable.scores.bounds))
        c, s = canary.scores.aligned(bounds), stable.scores.aligned(bounds)
        n = canary.scores.count
        merged_c, merged_s = st.merge_sparse_buckets(c, s)
        value = st.psi(merged_c, merged_s) if n and stable.scores.count else None
        check = AnalysisCheck("score_psi", "inconclusive", value, cfg.max_psi, "<=", n, None,
                              query=canary.queries["scores"])
        if value is None:
            check.message = "no scores on one side"
            return check
        test = st.chi_square_homogeneity(c, s, self.alpha, self.config.power)
        df = max(len(merged_c) - 1, 1)
        pass_n = st.chi_square_n(cfg.min_effect, df, self.alpha, self.config.power)
        check.statistic, check.statistic_value, check.p_value = "chi2", test.value, test.p_value
        if value > cfg.max_psi and test.p_value < self.alpha and n >= test.required_n:
            check.verdict, check.required_sample_size = "fail", test.required_n
            check.message = f"score distribution shifted: PSI {value:.3f} (p={test.p_value:.2g})"
        elif value <= cfg.max_psi and n >= pass_n:
            check.verdict, check.required_sample_size = "pass", pass_n
            check.message = f"PSI {value:.3f}"
        else:
            check.required_sample_size = pass_n
            check.message = f"PSI {value:.3f} on {n} scores; {pass_n} needed to pass"
        return check

    def decision_rate(self, canary: SlotSample, stable: SlotSample) -> AnalysisCheck:
        cfg = self.config.checks.decision_rate
        n, ns = canary.decisions, stable.decisions
        p_c = canary.flagged / n if n else None
        p_s = stable.flagged / ns if ns else None
        check = AnalysisCheck("decision_rate", "inconclusive", p_c, None, "in", n, None,
                              stable_value=p_s, query=canary.queries["decisions"])
        if p_c is None or p_s is None:
            check.message = "no decisions on one side"
            return check
        upper, lower = p_s * cfg.max_ratio, p_s * cfg.min_ratio
        check.threshold, check.comparison = (upper, "<=") if p_c >= p_s else (lower, ">=")
        test = st.two_proportion_test(canary.flagged, n, stable.flagged, ns, self.alpha,
                                      self.config.power)
        target = min(max(upper, p_s + cfg.min_effect), 1 - st.EPSILON)
        pass_n = st.two_proportion_n(target, p_s, ns / n, self.alpha, self.config.power)
        check.statistic, check.statistic_value, check.p_value = "z", test.value, test.p_value
        outside = p_c > upper or p_c < lower
        evidence = f"canary flags {p_c:.2%}, stable {p_s:.2%}"
        # Enough events on the side that deviates: flagged ones, or the flags stable expects.
        events = canary.flagged if p_c > p_s else n * p_s
        if (outside and test.p_value < self.alpha and n >= test.required_n
                and events >= self.config.min_events):
            check.verdict, check.required_sample_size = "fail", test.required_n
            check.message = f"{evidence}: outside x{cfg.min_ratio:g}-x{cfg.max_ratio:g} of stable"
        elif n >= pass_n and (not outside or test.p_value >= self.alpha):
            # Powered for the target effect and no significant difference: a rare flag rate
            # (0 of 100 canary decisions against stable's 1 %) is not evidence of a shift.
            check.verdict, check.required_sample_size = "pass", pass_n
            check.message = evidence
        else:
            check.required_sample_size = pass_n
            check.message = f"{evidence}; {pass_n} decisions needed to judge"
        return check
