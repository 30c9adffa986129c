"""The built-in checks on hand-built evidence: both directions of the decision rate, errors the
candidate causes, the latency tail, the sample ratio, and never a pass on nothing."""

from __future__ import annotations

import math

from ml_actions.config.rollout import AnalysisConfig
from ml_actions.rollout.analysis.checks import CanaryAnalysis
from ml_actions.rollout.analysis.evidence import combine
from ml_actions.rollout.analysis.prometheus_reader import GroupedHistogram, SlotSample

GROUPS = 16


def spread(total: float) -> dict[str, float]:
    """`total` spread evenly over the routing groups (no customer clustering)."""
    return {str(g): total / GROUPS for g in range(GROUPS)}


def sample(slot: str, requests: int, errors: int = 0, flagged: int = 0,
           slow: int = 0) -> SlotSample:
    bounds = [0.05, 0.1, math.inf]
    fast = requests - errors - slow
    latency = GroupedHistogram(bounds, {str(g): [fast / GROUPS, (requests - errors) / GROUPS,
                                                 (requests - errors) / GROUPS]
                                        for g in range(GROUPS)})
    scores = GroupedHistogram([0.5, math.inf], {str(g): [(requests - flagged) / GROUPS,
                                                         requests / GROUPS]
                                                for g in range(GROUPS)})
    return SlotSample(slot, "1", 0.0, 60.0, requests=spread(requests),
                      model_errors=spread(errors), latency=latency, scores=scores,
                      decisions=spread(requests - errors), flagged=spread(flagged))


def analysis(**checks) -> CanaryAnalysis:
    config = AnalysisConfig()
    for name, values in checks.items():
        for key, value in values.items():
            setattr(getattr(config.checks, name), key, value)
    return CanaryAnalysis(reader=None, config=config, stages=4)


def by_name(checks):
    return {c.name: c for c in checks}


def test_a_canary_that_stops_flagging_fraud_fails_once_the_evidence_shows_it():
    judged = by_name(analysis().builtin_checks(sample("canary", 5000, flagged=0),
                                               sample("stable", 95000, flagged=950), 5, False))
    check = judged["decision_rate"]
    assert check.value == 0.0 and check.stable_value == 0.01
    assert check.verdict == "fail", check.message
    assert check.upper < 0 and check.comparison == ">="


def test_silence_on_a_small_canary_is_never_a_pass():
    check = by_name(analysis().builtin_checks(sample("canary", 150, flagged=0),
                                              sample("stable", 3000, flagged=30), 5,
                                              False))["decision_rate"]
    assert check.verdict == "inconclusive", check.message
    assert check.required_sample_size > 150


def test_five_times_more_flags_fails_and_equal_rates_pass():
    more = by_name(analysis().builtin_checks(sample("canary", 4000, flagged=200),
                                             sample("stable", 80000, flagged=800), 5,
                                             False))["decision_rate"]
    assert more.verdict == "fail" and more.lower > 0, more.message
    same = by_name(analysis().builtin_checks(sample("canary", 40000, flagged=400),
                                             sample("stable", 800000, flagged=8000), 5,
                                             False))["decision_rate"]
    assert same.verdict == "pass", same.message


def test_errors_the_candidate_causes_count_against_it():
    # model_errors carries 5xx and the canary's own input refusals (a column it needs)
    check = by_name(analysis().builtin_checks(sample("canary", 400, errors=40),
                                              sample("stable", 8000, errors=8), 5,
                                              False))["success_rate"]
    assert check.verdict == "fail" and check.value == 0.9
    assert "input refused" in check.message


def test_a_slower_tail_fails_latency_and_a_healthy_one_passes():
    slow = by_name(analysis().builtin_checks(sample("canary", 2000, slow=200),
                                             sample("stable", 40000, slow=400), 5,
                                             False))["latency_p99"]
    assert slow.verdict == "fail", slow.message
    ok = by_name(analysis().builtin_checks(sample("canary", 20000, slow=200),
                                           sample("stable", 400000, slow=4000), 5,
                                           False))["latency_p99"]
    assert ok.verdict == "pass", ok.message


def test_sample_ratio_needs_both_significance_and_size():
    # 5.2 % instead of 5 % on 200 000 requests: significant, but within the 25 % floor
    tiny = by_name(analysis().builtin_checks(sample("canary", 10400, flagged=104),
                                             sample("stable", 189600, flagged=1896), 5,
                                             False))["sample_ratio"]
    assert tiny.verdict == "pass", tiny.message
    broken = by_name(analysis().builtin_checks(sample("canary", 3000),
                                               sample("stable", 7000), 5,
                                               False))["sample_ratio"]
    assert broken.verdict == "halt" and "sample-ratio mismatch" in broken.message
    # the first second of a 20 % step: 2 of 120 requests from a few sticky customers is not
    # certain evidence (the variance is the one at the weight, not at the observed 1.7 %)
    early = by_name(analysis().builtin_checks(sample("canary", 2), sample("stable", 118), 20,
                                              False))["sample_ratio"]
    assert early.verdict != "halt", early.message


def test_no_judged_check_is_never_a_pass():
    config = AnalysisConfig()
    for name in ("success_rate", "latency", "score_shift", "decision_rate", "sample_ratio"):
        getattr(config.checks, name).enabled = False
    empty = CanaryAnalysis(reader=None, config=config).builtin_checks(
        sample("canary", 0), sample("stable", 0), 5, False)
    assert empty == [] and combine(empty) == "inconclusive"
    skipped = analysis().builtin_checks(sample("canary", 0), sample("stable", 0), 5, False)
    assert combine(skipped) == "inconclusive"


def test_at_100_percent_latency_is_judged_against_max_seconds_not_a_recorded_stable():
    # the canary takes all the traffic: its tail is slower than stable's recorded one (the
    # machines are busier), yet every request answers well under max_seconds
    busier = analysis(latency={"max_seconds": 0.1})
    judged = by_name(busier.builtin_checks(sample("canary", 20000, slow=2000),
                                           sample("stable", 20000), 100, True))
    check = judged["latency_p99"]
    assert check.verdict == "pass", check.message
    assert "max_seconds" in check.message and "stable serves nothing" in check.message
    # the same tail with stable serving beside it is a regression
    assert by_name(busier.builtin_checks(sample("canary", 20000, slow=2000),
                                         sample("stable", 20000), 50, False)
                   )["latency_p99"].verdict == "fail"
    # and past max_seconds the canary fails at 100 % too
    strict = analysis(latency={"max_seconds": 0.05})
    assert by_name(strict.builtin_checks(sample("canary", 20000, slow=2000),
                                         sample("stable", 20000), 100, True)
                   )["latency_p99"].verdict == "fail"
