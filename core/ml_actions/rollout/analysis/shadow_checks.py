"""The shadow phase's checks: paired evidence that the candidate decides like the champion.

One look reads the shadow counters since the phase began (`shadow_sample`) and the primary
(stable) slot over the same time, and judges:

- `shadow_flips_legit_to_fraud`, `shadow_flips_fraud_to_legit`, `shadow_flips_total`: the
  share of mirrored rows whose decision the candidate would flip, per direction and together
  (`paired_tests.flip_rate`, McNemar-style: only discordant pairs count);
- `shadow_decision_rate`: the candidate's flags over the primary's on the same rows, against
  `decision_rate.min_ratio` / `max_ratio` (`paired_tests.flag_ratio`; a watcher: it fails a
  candidate that surely stops, or doubles, flagging, and never blocks a pass);
- `shadow_score_diff`: the mean paired score difference (`paired_tests.mean_difference`);
- `shadow_errors`: the candidate's own errors and input rejections against the primary's
  error rate (the canary's `success_rate` test and bounds);
- `shadow_latency_pNN`: the shadow's own scoring times (`ml_gateway_shadow_duration_seconds`:
  the model call alone, without its batch wait) judged as the canary's `latency` check judges
  a canary's: the share above the primary's pNN request latency against the primary's own
  share (fails when surely more than `latency.tolerance` above it), and the share above
  `latency.max_seconds` against `1 - quantile`. The comparison leans the candidate's way: the
  primary's times are whole answers (parsing, preparing, routing; the same model measured
  p99 3.2 ms of own time against 74 ms per answer on the real gateway), so it catches a
  candidate whose scoring alone is slower than the champion's whole answer (a Spark form
  replacing an ONNX one), never an equally fast one; a small slowdown is the 5 % step's
  `latency` check;
- `shadow_dropped`: the share of mirrored requests dropped because the shadow queue was full
  (a watcher: it fails a shadow that surely cannot keep up, never blocks a pass).

The error budget: like the canary steps, the phase is one of the rollout's stages and gets
`analysis.alpha / stages`, split evenly over the comparisons below; every comparison is an
always-valid test, so a candidate as good as the champion (flip rates at most `max_rate`, |mean
d| at most `tolerance`, errors and latency no worse) is failed with probability at most that
share, however often the phase is looked at.
"""

from __future__ import annotations

import time

from ml_actions.config.rollout import AnalysisConfig
from ml_actions.rollout.analysis import builtin_checks as builtin
from ml_actions.rollout.analysis.difference_test import Judgement
from ml_actions.rollout.analysis.evidence import AnalysisCheck, Evaluation, combine
from ml_actions.rollout.analysis.grouped_rates import grouped_rate
from ml_actions.rollout.analysis.paired_tests import flag_ratio, flip_rate, mean_difference
from ml_actions.rollout.analysis.prometheus_reader import QueryError, SlotSample
from ml_actions.rollout.analysis.sequential import confidence_sequence, rate_above
from ml_actions.rollout.analysis.shadow_sample import ShadowSample, read_shadow_sample
from ml_actions.timestamps import iso_from_epoch

FLIPS = (("legit", "fraud", "shadow_flips_legit_to_fraud"),
         ("fraud", "legit", "shadow_flips_fraud_to_legit"))


def shadow_comparisons(config: AnalysisConfig) -> int:
    """How many always-valid comparisons one shadow look makes (each gets its alpha share)."""
    checks = config.checks
    return max(1, 3 * checks.shadow_flips.enabled + checks.shadow_score_diff.enabled
               + 5 * checks.shadow_health.enabled + checks.decision_rate.enabled)


def _filled(name: str, result: Judgement, value: float | None, threshold: float,
            comparison: str, statistic: str, query: str, gating: bool = True) -> AnalysisCheck:
    check = AnalysisCheck(name, result.verdict, value, threshold, comparison,
                          result.sample_size, result.planned_sample, statistic=statistic,
                          query=query, gating=gating)
    if result.interval is not None:
        check.statistic_value = result.interval.estimate
        check.lower, check.upper = result.interval.lower, result.interval.upper
    return check


class ShadowAnalysis:
    """Judges the shadow phase from Prometheus with the configured bounds."""

    def __init__(self, reader, config: AnalysisConfig, stages: int = 1):
        self.reader, self.config = reader, config
        self.plan_stages(stages)

    def plan_stages(self, stages: int) -> None:
        self.alpha = self.config.alpha / (max(1, stages) * shadow_comparisons(self.config))
        self.plan = builtin.TestPlan(self.alpha, self.config.power, self.config.min_events)

    def evaluate(self, shadow_version: str, primary_version: str | None, since: float,
                 at: float | None = None) -> Evaluation:
        """One look at everything since `since`; query errors give `error`."""
        at = time.time() if at is None else at
        try:
            shadow = read_shadow_sample(self.reader, shadow_version, since, at)
            primary = self.reader.slot_sample("stable", primary_version, since, at)
        except QueryError as err:
            return Evaluation(iso_from_epoch(at), 0.0, at - since, "error", [],
                              error=f"query error: {err}")
        checks = self.checks(shadow, primary)
        return Evaluation(iso_from_epoch(at), 0.0, at - since, combine(checks), checks,
                          canary_requests=shadow.n_mirrored,
                          stable_requests=primary.n_requests)

    def checks(self, shadow: ShadowSample, primary: SlotSample) -> list[AnalysisCheck]:
        cfg, plan = self.config.checks, self.plan
        out: list[AnalysisCheck] = []
        if cfg.shadow_flips.enabled:
            out += self.flip_checks(shadow)
        if cfg.decision_rate.enabled:
            out.append(self.decision_rate_check(shadow))
        if cfg.shadow_score_diff.enabled:
            out.append(self.score_diff_check(shadow))
        if cfg.shadow_health.enabled:
            as_slot = self.as_slot(shadow)
            errors = builtin.success_rate(as_slot, primary, cfg.success_rate, plan)
            errors.name = "shadow_errors"
            errors.message = errors.message.replace("canary", "shadow")
            out += [errors, self.latency_check(shadow, primary), self.dropped_check(shadow)]
        return out

    def flip_checks(self, shadow: ShadowSample) -> list[AnalysisCheck]:
        cfg, plan = self.config.checks.shadow_flips, self.plan
        pairs = shadow.pair_counts()
        query = shadow.queries.get("pairs", "")
        out = []
        directions = [(shadow.pair_counts(p, s), name, cfg.max_rate, cfg.min_effect)
                      for p, s, name in FLIPS]
        both = {g: directions[0][0].get(g, 0.0) + directions[1][0].get(g, 0.0)
                for g in set(directions[0][0]) | set(directions[1][0])}
        directions.append((both, "shadow_flips_total", 2 * cfg.max_rate, 2 * cfg.min_effect))
        for flips, name, tolerance, min_effect in directions:
            result = flip_rate(flips, pairs, tolerance, min_effect, plan.alpha, plan.power,
                               plan.min_events)
            rate = grouped_rate(flips, pairs).value
            check = _filled(name, result, rate, tolerance, "<=", "share of pairs flipped",
                            query)
            check.message = (f"{int(round(sum(flips.values())))} of {shadow.n_pairs} paired "
                             f"decisions flipped; {result.reason}")
            out.append(check)
        return out

    def decision_rate_check(self, shadow: ShadowSample) -> AnalysisCheck:
        cfg, plan = self.config.checks.decision_rate, self.plan
        primary = shadow.pair_counts(primary="fraud")
        discordant = sum(shadow.pair_counts("fraud", "legit").values()) + sum(
            shadow.pair_counts("legit", "fraud").values())
        result = flag_ratio(shadow.pair_counts(shadow="fraud"), primary, discordant,
                            cfg.min_ratio, cfg.max_ratio, cfg.min_effect, plan.alpha,
                            plan.power, plan.min_events)
        value = result.interval.estimate if result.interval is not None else None
        check = _filled("shadow_decision_rate", result, value, cfg.min_ratio, "in",
                        "shadow flags / primary flags", shadow.queries.get("pairs", ""),
                        gating=False)
        check.message = (f"the candidate flags x{value:.2f} of the primary's {result.sample_size}"
                         f" flags on the same rows (allowed x{cfg.min_ratio:g} to "
                         f"x{cfg.max_ratio:g}); {result.reason}" if value is not None
                         else result.reason)
        return check

    def score_diff_check(self, shadow: ShadowSample) -> AnalysisCheck:
        cfg, plan = self.config.checks.shadow_score_diff, self.plan
        pairs = shadow.pair_counts()
        result = mean_difference(shadow.diff_sum, shadow.diff_squares, pairs, cfg.tolerance,
                                 cfg.min_effect, plan.alpha, plan.power, cfg.min_pairs)
        n = sum(pairs.values())
        mean = sum(shadow.diff_sum.values()) / n if n else None
        check = _filled("shadow_score_diff", result, mean, cfg.tolerance, "in",
                        "mean of shadow score - primary score", shadow.queries.get("diff", ""))
        check.message = f"mean paired difference over {int(n)} rows; {result.reason}"
        return check

    def latency_check(self, shadow: ShadowSample, primary: SlotSample) -> AnalysisCheck:
        """The canary's latency check with the shadow's own times in the canary's place."""
        cfg = self.config.checks.latency
        if not shadow.duration.groups or not shadow.duration.count:
            return AnalysisCheck(f"shadow_latency_p{cfg.quantile * 100:g}", "inconclusive",
                                 None, cfg.tolerance, "<=", None, None,
                                 message="no shadow timings yet",
                                 query=shadow.queries.get("duration", ""))
        check = builtin.latency_tail(self.as_slot(shadow), primary, cfg, self.plan)
        check.name = f"shadow_{check.name}"
        check.query = shadow.queries.get("duration", "")
        check.message, check.statistic = (
            text.replace("canary requests", "shadow requests (own scoring time)")
            .replace("stable's", "the primary's").replace("canary - stable", "shadow - primary")
            .replace("canary", "shadow") for text in (check.message, check.statistic or ""))
        return check

    def dropped_check(self, shadow: ShadowSample) -> AnalysisCheck:
        limit = self.config.checks.shadow_health.max_dropped_share
        dropped, mirrored = shadow.outcomes.get("dropped", 0.0), float(shadow.n_mirrored)
        share = dropped / mirrored if mirrored else None
        check = AnalysisCheck("shadow_dropped", "inconclusive", share, limit, "<=",
                              int(mirrored), None, statistic="share of mirrored requests "
                              "dropped (shadow queue full)",
                              query=shadow.queries.get("outcomes", ""), gating=False)
        if not mirrored:
            check.message = "no mirrored requests yet"
            return check
        rate = grouped_rate({"": dropped}, {"": mirrored})
        interval = confidence_sequence(share, rate.variance, 1 - self.plan.power, mirrored)
        check.lower, check.upper, check.statistic_value = interval.lower, interval.upper, share
        if rate_above(dropped, mirrored, limit, self.plan.alpha):
            check.verdict = "fail"
        elif interval.upper < limit:
            check.verdict = "pass"
        check.message = (f"{int(dropped)} of {int(mirrored)} mirrored requests dropped: the "
                         "shadow " + ("cannot keep up" if check.verdict == "fail" else
                                      "keeps up" if check.verdict == "pass" else "is watched"))
        return check

    @staticmethod
    def as_slot(shadow: ShadowSample) -> SlotSample:
        """The shadow's own outcomes in the shape the canary's `success_rate` check reads."""
        judged = sum(shadow.outcomes.get(o, 0.0) for o in ("scored", "error", "rejected"))
        errors = shadow.outcomes.get("error", 0.0) + shadow.outcomes.get("rejected", 0.0)
        sample = SlotSample("shadow", shadow.model_version, shadow.since, shadow.at,
                            requests={"": judged} if judged else {},
                            model_errors={"": errors} if judged else {},
                            latency=shadow.duration)
        sample.queries = {"requests": shadow.queries.get("outcomes", "")}
        return sample
