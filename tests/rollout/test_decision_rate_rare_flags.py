"""Decision rate with a rare flag rate: silence on a small canary is not a shift, 5x is."""

from __future__ import annotations

from ml_actions.config.rollout import AnalysisConfig
from ml_actions.rollout.analysis.checks import CanaryAnalysis
from ml_actions.rollout.analysis.prometheus_reader import SlotSample


def sample(slot: str, decisions: int, flagged: int) -> SlotSample:
    return SlotSample(slot, "1", 60.0, 0.0, requests=decisions, decisions=decisions,
                      flagged=flagged, queries={"decisions": "q"})


def analysis(min_effect: float) -> CanaryAnalysis:
    config = AnalysisConfig()
    config.checks.decision_rate.min_effect = min_effect
    return CanaryAnalysis(reader=None, config=config, looks=20)


def test_no_flags_on_a_powered_canary_passes_when_not_significant():
    check = analysis(0.2).decision_rate(sample("canary", 150, 0), sample("stable", 3000, 30))
    assert check.value == 0.0 and check.stable_value == 0.01
    assert check.verdict == "pass", check.message


def test_too_few_canary_decisions_stay_inconclusive():
    check = analysis(0.2).decision_rate(sample("canary", 3, 0), sample("stable", 3000, 30))
    assert check.verdict == "inconclusive" and "decisions needed" in check.message


def test_five_times_more_flags_fails():
    check = analysis(0.05).decision_rate(sample("canary", 400, 20), sample("stable", 8000, 80))
    assert check.verdict == "fail", check.message
    assert check.p_value < 0.001
