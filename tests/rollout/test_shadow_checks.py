"""The shadow phase's paired checks: their error rates by simulation, and what each catches.

No processes: `shadow_streams` produces the counters the gateway would export, and each phase
is decided look by look with the rollout's own policy (`step_policy.decide`).
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from ml_actions.config.settings import load_config
from ml_actions.normal_quantiles import z_one_sided
from ml_actions.rollout.analysis.paired_tests import flip_rate, mean_difference
from ml_actions.rollout.analysis.prometheus_reader import SlotSample
from ml_actions.rollout.analysis.shadow_checks import ShadowAnalysis, shadow_comparisons
from ml_actions.rollout.analysis.shadow_sample import ShadowSample
from tests.rollout.shadow_streams import ShadowScenario, ShadowStream, run_phase

# the default schedule [5, 25, 50, 100] + bake + the shadow phase
STAGES = 6


def config(shadow: str = "2m", **analysis):
    return load_config(None, "dev", {"canary": {"shadow": shadow}, "analysis": analysis})


def outcomes(scenario: ShadowScenario, cfg, runs: int, seed: int, stages: int = STAGES):
    rng = np.random.default_rng(seed)
    return [run_phase(scenario, cfg, rng, stages) for _ in range(runs)]


def test_alpha_is_split_over_stages_and_the_shadow_comparisons():
    cfg = config()
    # 3 flips, decision rate, diff, 5 health (errors and latency each relative and absolute)
    assert shadow_comparisons(cfg.analysis) == 10
    analysis = ShadowAnalysis(None, cfg.analysis, STAGES)
    assert analysis.alpha == pytest.approx(0.01 / (STAGES * 10))
    off = config()
    off.analysis.checks.shadow_health.enabled = False
    assert shadow_comparisons(off.analysis) == 5


@pytest.mark.parametrize("direction", ["to_fraud", "to_legit"])
def test_two_percent_flipper_is_caught_within_a_two_minute_phase_at_50_rps(direction):
    runs = outcomes(ShadowScenario(**{direction: 0.02}), config(), 60, seed=11)
    caught = [r for r in runs if r.action == "rollback" and r.seconds <= 120]
    assert len(caught) / len(runs) >= 0.95, Counter(r.action for r in runs)
    name = {"to_fraud": "shadow_flips_legit_to_fraud",
            "to_legit": "shadow_flips_fraud_to_legit"}[direction]
    assert all(name in r.failing for r in caught)
    assert np.median([r.seconds for r in caught]) <= 60


def test_flips_split_both_ways_are_caught_by_the_total():
    runs = outcomes(ShadowScenario(to_fraud=0.01, to_legit=0.01), config(), 40, seed=12)
    caught = [r for r in runs if r.action == "rollback"]
    assert len(caught) / len(runs) >= 0.7, Counter(r.action for r in runs)
    assert Counter(f for r in caught for f in r.failing)["shadow_flips_total"] >= len(caught) / 2


def test_healthy_candidate_passes_the_phase_and_is_never_failed():
    runs = outcomes(ShadowScenario(), config(), 40, seed=13)
    actions = Counter(r.action for r in runs)
    assert actions["rollback"] == 0 and actions["pass"] >= 38, actions
    assert all(r.seconds == pytest.approx(120, abs=5) for r in runs if r.action == "pass")


def test_false_fail_rate_at_the_tolerance_boundary_is_within_alpha():
    """The worst healthy candidate: flips at max_rate each way, mean d at the tolerance,
    errors as the primary's, customers clustered. The phase's rollback rate <= its alpha."""
    alpha = 0.2  # large, so the measured rate can be compared with it on 100 phases
    cfg = config(alpha=alpha)
    boundary = ShadowScenario(to_fraud=0.005, to_legit=0.005, diff_mean=0.05,
                              heterogeneity=1.0)
    runs = outcomes(boundary, cfg, 100, seed=14, stages=1)
    rolled_back = sum(r.action == "rollback" for r in runs)
    assert rolled_back / len(runs) <= alpha, Counter(f for r in runs for f in r.failing)


def _looks(p: float, rng, looks: int = 60, per_look: int = 250, groups: int = 16,
           heterogeneity: float = 1.0):
    """Cumulative (flips, pairs) per group at each look, customers' rates clustered."""
    share = rng.dirichlet(np.ones(groups) * 2)
    rate = p * np.exp(rng.normal(0, heterogeneity, groups))
    rate *= p / np.sum(share * rate)
    flips, pairs = np.zeros(groups), np.zeros(groups)
    for _ in range(looks):
        n = rng.multinomial(per_look, share)
        pairs += n
        flips += rng.binomial(n, np.clip(rate, 0, 1))
        yield ({str(g): flips[g] for g in range(groups)},
               {str(g): pairs[g] for g in range(groups)})


def test_flip_test_stays_valid_over_many_looks_where_a_repeated_fixed_test_does_not():
    """At a flip rate exactly at the tolerance, the always-valid test fails at most alpha of
    the phases over 60 looks; a fixed-sample z-test repeated at each look fails far more, so
    this simulation is sensitive enough to see an invalid test."""
    alpha, tolerance, rng = 0.05, 0.005, np.random.default_rng(15)
    sequential = repeated = 0
    runs = 400
    for _ in range(runs):
        failed = naive = False
        for flips, pairs in _looks(tolerance, rng):
            judged = flip_rate(flips, pairs, tolerance, 0.015, alpha, 0.8, 3)
            failed = failed or judged.verdict == "fail"
            k, n = sum(flips.values()), sum(pairs.values())
            z = (k / n - tolerance) / np.sqrt(tolerance * (1 - tolerance) / n)
            naive = naive or z > z_one_sided(alpha)
        sequential += failed
        repeated += naive
    assert sequential / runs <= alpha + 2 * np.sqrt(alpha * (1 - alpha) / runs)
    assert repeated / runs > 2 * alpha


def test_score_shift_on_the_same_requests_fails_the_score_difference():
    runs = outcomes(ShadowScenario(diff_mean=0.12, diff_sd=0.1), config(), 10, seed=16)
    assert all(r.action == "rollback" and "shadow_score_diff" in r.failing for r in runs)


def test_mean_difference_needs_min_pairs_and_sees_both_directions():
    few = mean_difference({"0": -9.0}, {"0": 9.0}, {"0": 10.0}, 0.05, 0.1, 0.01, 0.8, 100)
    assert few.verdict == "inconclusive" and "min_pairs" in few.reason
    lower = mean_difference({"0": -300.0, "1": -310.0}, {"0": 100.0, "1": 110.0},
                            {"0": 1000.0, "1": 1000.0}, 0.05, 0.1, 0.01, 0.8, 100)
    assert lower.verdict == "fail" and "below" in lower.reason
    same = mean_difference({"0": 0.0, "1": 0.0}, {"0": 0.0, "1": 0.0},
                           {"0": 1000.0, "1": 1000.0}, 0.05, 0.1, 0.01, 0.8, 100)
    assert same.verdict == "pass" and same.interval.upper < 0.1


@pytest.mark.parametrize("scenario,failing,gating", [
    (ShadowScenario(error_rate=0.2), "shadow_errors", True),
    (ShadowScenario(latency=0.4), "shadow_latency_p99", True),
    (ShadowScenario(dropped=0.5), "shadow_dropped", False),
])
def test_the_candidates_own_health_is_judged(scenario, failing, gating):
    stream = ShadowStream(scenario, np.random.default_rng(17))
    stream.advance(60)
    checks = {c.name: c for c in ShadowAnalysis(None, config().analysis, STAGES).checks(
        *stream.look())}
    assert checks[failing].verdict == "fail", checks[failing].message
    assert checks[failing].gating is gating
    assert checks["shadow_flips_total"].verdict != "fail"


def test_a_shadow_slower_than_the_primarys_answers_fails_below_max_seconds():
    """Own scoring at 60 ms median against the primary's 15 ms answers (p99 ~30 ms): far under
    `latency.max_seconds` (0.5 s), so only the comparison with the primary catches it; the
    default shadow (10 ms, faster than the answers it is compared with) passes."""
    def latency(scenario: ShadowScenario):
        stream = ShadowStream(scenario, np.random.default_rng(18))
        stream.advance(60)
        checks = ShadowAnalysis(None, config().analysis, STAGES).checks(*stream.look())
        return next(c for c in checks if c.name == "shadow_latency_p99")

    slow = latency(ShadowScenario(latency=0.06))
    assert slow.verdict == "fail", slow.message
    assert "the primary's p99" in slow.message and "own scoring time" in slow.message
    assert slow.statistic.endswith("shadow - primary") and slow.value < 0.5
    healthy = latency(ShadowScenario())
    assert healthy.verdict == "pass", healthy.message


def test_no_shadow_traffic_is_inconclusive_not_a_pass():
    checks = ShadowAnalysis(None, config().analysis, STAGES).checks(
        ShadowSample("2", 0.0, 10.0), SlotSample("stable", "1", 0.0, 10.0))
    assert {c.verdict for c in checks} == {"inconclusive"}
    assert all(c.message for c in checks)


def test_the_phase_states_how_long_a_borderline_candidate_needs():
    from ml_actions.rollout.shadow_phase import ShadowPhase

    cfg = config("2m")
    analysis = ShadowAnalysis(None, cfg.analysis, STAGES)
    phase = ShadowPhase(cfg, None, analysis, None, None, None, request_rate=50.0)
    pairs, seconds = phase.planned_seconds()
    assert seconds == pytest.approx(pairs / 50.0)
    # the plan is where a flip rate of min_effect fails with the configured power
    rng = np.random.default_rng(18)
    flips = rng.binomial(pairs, cfg.analysis.checks.shadow_flips.min_effect, 200)
    failed = [flip_rate({"0": float(k)}, {"0": float(pairs)}, 0.005, 0.015, analysis.alpha,
                        cfg.analysis.power, 3).verdict == "fail" for k in flips]
    assert np.mean(failed) >= cfg.analysis.power - 0.08
    assert ShadowPhase(cfg, None, analysis, None, None, None).planned_seconds()[1] is None


def test_a_candidate_that_stops_flagging_half_the_fraud_fails_the_paired_decision_rate():
    # 1 % flagged by the primary; the candidate clears half of them (flips one way only, so
    # the absolute flip rate, 0.5 % of rows, sits at the flip checks' tolerance)
    halved = ShadowScenario(to_legit=0.005, to_fraud=0.0, fraud_share=0.01, rate=500)
    runs = outcomes(halved, config("2m"), 40, seed=5)
    caught = [r for r in runs if r.action == "rollback" and "shadow_decision_rate" in r.failing]
    assert len(caught) / len(runs) >= 0.9, Counter((r.action, r.failing) for r in runs)


def test_flag_ratio_reference_values_and_its_level_under_no_change():
    from ml_actions.rollout.analysis.paired_tests import flag_ratio

    one_group = flag_ratio({"0": 500.0}, {"0": 1000.0}, 520.0, 0.75, 1.33, 0.4, 0.01, 0.8, 5)
    # rho = 0.5, variance floored by McNemar: (520 + 1) / 1000^2 -> se 0.0228
    assert one_group.verdict == "fail" and one_group.interval.estimate == 0.5
    assert one_group.interval.information == pytest.approx(1000.0 ** 2 / 521.0)
    same = flag_ratio({"0": 1000.0}, {"0": 1000.0}, 40.0, 0.75, 1.33, 0.4, 0.01, 0.8, 5)
    assert same.verdict == "pass"
    assert flag_ratio({"0": 1.0}, {"0": 2.0}, 1.0, 0.75, 1.33, 0.4, 0.01, 0.8, 5).verdict \
        == "inconclusive"
    # no change (clustered flips both ways), looked at every 5 s for 2 minutes in 120 phases:
    # the share of phases it fails stays within its alpha (binomial bound, at most 1 here)
    healthy = ShadowScenario(to_fraud=0.002, to_legit=0.002, fraud_share=0.01, rate=100,
                             heterogeneity=1.0)
    alpha_share = ShadowAnalysis(None, config().analysis, STAGES).alpha
    fails = sum(r.action == "rollback" and "shadow_decision_rate" in r.failing
                for r in outcomes(healthy, config("2m"), 120, seed=9))
    assert fails <= 120 * alpha_share + 2 * (120 * alpha_share) ** 0.5 + 1, fails
