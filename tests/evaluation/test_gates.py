"""Every gate rule on hand-built evaluations: thresholds, champion, flips, slices, override."""

from __future__ import annotations

import math

import pytest

from ml_actions.errors import ConfigurationError, InputError
from ml_actions.validation.gates import decide
from ml_actions.validation.results import EvaluationResult, ModelScores, SliceResult, to_jsonable

GOOD = {"auc_roc": 0.95, "auc_pr": 0.8, "precision": 0.9, "recall": 0.85, "f1_score": 0.87,
        "accuracy": 0.99, "brier_score": 0.02, "recall_at_1pct_fpr": 0.7,
        "false_positive_rate": 0.005, "alert_rate": 0.01}


def scores(version="2", **changes) -> ModelScores:
    return ModelScores(version=version, metrics={**GOOD, **changes},
                       confusion={"tp": 85, "fp": 9, "tn": 9891, "fn": 15},
                       decision_threshold=0.5, intervals={"auc_roc": (0.94, 0.96)})


def comparison(delta=0.001, se=0.002, positives=100, flips=None, rate=None) -> dict:
    z = 1.959963984540054
    return {
        "auc": {"delta": delta, "se": se, "interval": (delta - z * se, delta + z * se),
                "confidence": 0.95, "positives": positives, "negatives": 9900,
                "mde": (z + 0.8416212335729143) * se if not math.isnan(se) else math.nan,
                "p_regression": 0.5, "method": "delong"},
        "flips": {"newly_blocked": 10, "newly_unblocked": 8, "newly_missed": 0,
                  "newly_caught": 0, "newly_blocked_legit": 9, "newly_unblocked_legit": 8,
                  **(flips or {})},
        "alert_rate": {"champion_alerts": 94, "champion_alert_rate": 0.0094,
                       "candidate_alerts": 94, "candidate_precision": 0.9,
                       "candidate_recall": 0.85, "champion_precision": 0.9,
                       "champion_recall": 0.85, "positives": 100, "only_candidate": 0,
                       "only_champion": 0, **(rate or {})},
    }


def evaluation(candidate=None, champion="default", cmp=None, slices=None) -> EvaluationResult:
    champ = scores("1") if champion == "default" else champion
    return EvaluationResult(candidate=candidate or scores(), champion=champ, n_rows=10000,
                            n_positives=100, test_data_digest="abc",
                            comparison=(cmp or comparison()) if champ else {},
                            slices=slices or [])


def by_name(decision):
    return {c.name: c for c in decision.checks}


def prod(make_config, **sections):
    """prod with a recall tolerance at the champion's alert rate that 100 frauds can resolve
    (the default 0.01 cannot be resolved on so few: the comparison would be inconclusive)."""
    comparison = {"alert_rate_max_regression": 0.05, **sections.pop("comparison", {})}
    return make_config("prod", comparison=comparison, **sections)


def test_prod_bars_pass_a_good_candidate(make_config):
    decision = decide(evaluation(), prod(make_config))
    assert decision.passed and not decision.failed()
    checks = by_name(decision)
    assert checks["auc_roc"].threshold == 0.92 and checks["auc_roc"].interval == (0.94, 0.96)
    assert checks["recall"].sample_size == 100 and checks["precision"].sample_size == 94
    assert checks["auc_vs_champion"].status == "pass"
    assert to_jsonable(decision)["checks"][0]["name"] == "auc_roc"


@pytest.mark.parametrize("metric,value", [("auc_roc", 0.919), ("precision", 0.84),
                                          ("recall", 0.79), ("f1_score", 0.81)])
def test_prod_threshold_failures(make_config, metric, value):
    decision = decide(evaluation(candidate=scores(**{metric: value})), make_config("prod"))
    check = by_name(decision)[metric]
    assert not decision.passed and check.status == "fail" and check.actual == value
    assert metric in check.message


def test_dev_is_looser_than_prod(make_config):
    ev = evaluation(candidate=scores(auc_roc=0.85, precision=0.6, recall=0.6, f1_score=0.6))
    assert decide(ev, make_config("dev")).passed
    assert not decide(ev, make_config("prod")).passed


def test_max_threshold_and_unknown_metric(make_config):
    config = make_config("prod", thresholds={"brier_score": {"max": 0.01}})
    check = by_name(decide(evaluation(), config))["brier_score_max"]
    assert check.status == "fail" and check.threshold == 0.01
    with pytest.raises(ConfigurationError, match="valid names are: auc_roc"):
        make_config("prod", thresholds={"auc": 0.9})
    with pytest.raises(ConfigurationError, match=r"\[0, 1\]"):
        make_config("prod", thresholds={"auc_roc": 1.5})


def test_no_champion_skips_every_comparison(make_config):
    config = make_config("prod", comparison={"metrics": {"auc_pr": {"max_regression": 0.01}}})
    decision = decide(evaluation(champion=None), config)
    skipped = [c for c in decision.checks if c.status == "skip"]
    assert {c.name for c in skipped} >= {"auc_vs_champion", "newly_blocked", "newly_missed",
                                         "auc_pr_vs_champion"}
    assert all("no champion" in c.message for c in skipped) and decision.passed


@pytest.mark.parametrize("delta,se,positives,require,expected", [
    (0.001, 0.002, 100, True, "pass"),        # lower bound -0.0029 clears -0.005
    (-0.004, 0.002, 100, True, "inconclusive"),  # straddles, MDE 0.0056 > tolerance
    (-0.0048, 0.0005, 100, True, "fail"),    # straddles with MDE 0.0014: a real regression
    (-0.02, 0.002, 100, True, "fail"),       # clearly worse
    (-0.004, 0.002, 100, False, "pass"),     # point estimate within tolerance
    (-0.006, 0.002, 100, False, "fail"),
    (0.01, 0.002, 12, True, "inconclusive"),  # too few frauds, whatever the estimate
    (0.01, math.nan, 100, True, "inconclusive"),
])
def test_auc_vs_champion_rule(make_config, delta, se, positives, require, expected):
    config = make_config("prod", comparison={"require_ci_lower_bound": require})
    decision = decide(evaluation(cmp=comparison(delta, se, positives)), config)
    check = by_name(decision)["auc_vs_champion"]
    assert check.status == expected, check.message
    assert check.actual == delta and check.threshold == -0.005
    assert check.sample_size == positives
    if expected == "inconclusive":
        assert "minimum detectable effect" in check.message and not decision.passed


def test_inconclusive_only_warns_when_configured(make_config):
    ev = evaluation(cmp=comparison(0.01, 0.002, 12))
    assert not decide(ev, prod(make_config)).passed
    assert decide(ev, prod(make_config, comparison={"inconclusive": "warn"})).passed
    assert decide(ev, make_config("dev")).passed  # dev's default overlay


def test_decision_flips_are_net_paired_tests_with_count_caps(make_config):
    """newly_blocked: legitimate rows newly blocked net of those unblocked (McNemar on 9 900
    legitimate rows); newly_missed: frauds newly missed net of those newly caught."""
    flips = {"newly_missed": 3, "newly_caught": 1}
    checks = by_name(decide(evaluation(cmp=comparison(flips=flips)), make_config("prod")))
    blocked, missed = checks["newly_blocked"], checks["newly_missed"]
    assert blocked.status == "pass" and blocked.actual == pytest.approx(1 / 9900)
    assert blocked.interval[0] < blocked.actual < blocked.interval[1] < 0.02
    assert blocked.sample_size == 9900 and "McNemar" in blocked.message
    # 3 newly missed, 1 newly caught of 100 frauds: net 2 % lost, and 100 frauds cannot show
    # a net loss below 5 % (MDE 0.075): inconclusive, saying how many frauds would do
    assert missed.actual == pytest.approx(0.02) and missed.status == "inconclusive"
    assert "minimum detectable effect" in missed.message
    assert "frauds in the test set (it has 100)" in missed.details["resolve"]
    assert "comparison.flips.max_newly_missed_rate >=" in missed.details["resolve"]
    # many more frauds newly missed than caught: significantly beyond the limit
    bad = comparison(flips={"newly_missed": 15, "newly_caught": 0})
    assert by_name(decide(evaluation(cmp=bad), make_config("prod")))[
        "newly_missed"].status == "fail"
    # a gross cap is policy: exceeded, it fails whatever the net change
    capped = make_config("prod", comparison={"flips": {"max_newly_blocked": 5}})
    check = by_name(decide(evaluation(), capped))["newly_blocked"]
    assert check.status == "fail" and "cap of 5" in check.message
    assert "comparison.flips.max_newly_blocked" in check.details["resolve"]
    off = make_config("prod", comparison={"flips": {"max_newly_blocked_rate": None}})
    assert by_name(decide(evaluation(), off))["newly_blocked"].status == "skip"


def test_precision_recall_at_champion_alert_rate_are_one_mcnemar_comparison(make_config):
    """94 alerts each on 100 frauds: what differs is the frauds each model alone catches."""
    config = make_config("prod", comparison={"alert_rate_max_regression": 0.05})
    even = comparison(rate={"only_candidate": 3, "only_champion": 3, "positives": 1000})
    checks = by_name(decide(evaluation(cmp=even), config))
    recall = checks["recall_at_champion_alert_rate"]
    assert recall.status == "pass" and recall.actual == 0 and recall.threshold == -0.05
    assert recall.interval[0] > -0.05 and recall.sample_size == 1000
    precision = checks["precision_at_champion_alert_rate"]
    # the same discordant frauds on the precision scale (x frauds / alerts)
    assert precision.interval[0] == pytest.approx(recall.interval[0] * 1000 / 94)
    assert precision.status == "inconclusive" and precision.sample_size == 94
    worse = comparison(rate={"only_candidate": 0, "only_champion": 40, "positives": 1000,
                             "candidate_recall": 0.81})
    checks = by_name(decide(evaluation(cmp=worse), config))
    assert checks["recall_at_champion_alert_rate"].actual == pytest.approx(-0.04)
    assert checks["recall_at_champion_alert_rate"].status == "fail"  # powered, bound < -0.05
    assert checks["precision_at_champion_alert_rate"].status == "fail"
    none = comparison(rate={"champion_alerts": 0})
    assert by_name(decide(evaluation(cmp=none), config))[
        "recall_at_champion_alert_rate"].status == "skip"


@pytest.mark.parametrize("rule,candidate,expected", [
    ({"min_absolute_change": 0.01}, 0.805, "fail"),
    ({"min_absolute_change": 0.01}, 0.811, "pass"),
    ({"min_relative_change": 0.05}, 0.841, "pass"),   # needs 0.8 * 1.05
    ({"min_relative_change": 0.05}, 0.83, "fail"),
    ({"max_regression": 0.01}, 0.791, "pass"),
    ({"max_regression": 0.01}, 0.789, "fail"),
    ({}, 0.5, "skip"),
])
def test_metric_threshold_semantics(make_config, rule, candidate, expected):
    config = make_config("dev", comparison={"metrics": {"auc_pr": rule}})
    check = by_name(decide(evaluation(candidate=scores(auc_pr=candidate)), config))
    assert check["auc_pr_vs_champion"].status == expected


def test_lower_is_better_metric_comparison(make_config):
    config = make_config("dev", comparison={"metrics": {"brier_score": {"max_regression": 0.01}}})
    worse = by_name(decide(evaluation(candidate=scores(brier_score=0.031)), config))
    better = by_name(decide(evaluation(candidate=scores(brier_score=0.01)), config))
    assert worse["brier_score_vs_champion"].status == "fail"
    assert worse["brier_score_vs_champion"].threshold == pytest.approx(0.03)
    assert better["brier_score_vs_champion"].status == "pass"


def segment(name, size=2000, positives=40, auc=0.9, delta=0.0, se=0.01, judged=True):
    return SliceResult("amount", name, size, positives, {"auc_roc": auc}, judged,
                       {"auc_roc": auc - delta}, {"delta_auc": delta, "se": se,
                                                  "p_regression": 0.5})


@pytest.mark.parametrize("delta,se,expected", [
    (0.0, 0.005, "pass"),           # one-sided 95 % bound -0.0082 clears -0.02
    (-0.005, 0.02, "inconclusive"),  # not significantly worse, yet MDE 0.05 > 0.02
    (-0.012, 0.006, "fail"),        # bound -0.022 < -0.02 with MDE 0.015: resolvable, not shown
    (-0.08, 0.01, "fail"),          # clearly worse
])
def test_slices_are_non_inferiority_tests(make_config, delta, se, expected):
    """A judged segment must show it loses less than slices.max_regression, not merely fail
    to be significantly worse (the old rule passed the inconclusive and the third case)."""
    config = make_config("prod", slices={"alpha": 0.05, "max_regression": 0.02})
    check = by_name(decide(evaluation(slices=[segment("<50", delta=delta, se=se)]), config))[
        "slice_vs_champion[amount=<50]"]
    assert check.status == expected, check.message
    assert check.threshold == -0.02 and check.interval[0] == pytest.approx(delta - 1.6449 * se,
                                                                            abs=1e-4)
    if expected == "inconclusive":
        assert "slices.max_regression >=" in check.details["resolve"]


def test_slices_min_auc_and_small_segments(make_config):
    slices = [segment("[50, 200)", auc=0.7), segment(">=200"),
              segment("tiny", size=20, judged=False)]
    config = make_config("prod", slices={"min_auc": 0.75})
    checks = by_name(decide(evaluation(slices=slices), config))
    assert checks["slice_auc[amount=[50, 200)]"].status == "fail"
    assert checks["slice_auc[amount=>=200]"].status == "pass"
    assert "slice_auc[amount=tiny]" not in checks
    assert checks["slices_not_judged"].status == "skip" and "tiny" in checks[
        "slices_not_judged"].message


def test_the_verdict_names_what_blocks_it_and_warns_otherwise(make_config):
    """A gate blocked only by an inconclusive check lists it; under `warn` it is a warning."""
    ev = evaluation(cmp=comparison(0.01, 0.002, 12))  # too few frauds for the AUC comparison
    blocked = decide(ev, make_config("prod"))
    assert not blocked.passed and not blocked.failed()
    assert "auc_vs_champion" in blocked.blocking
    check = next(c for c in blocked.blocking_checks() if c.name == "auc_vs_champion")
    assert check.status == "inconclusive" and "at least 30 frauds" in check.details["resolve"]
    assert "auc_vs_champion" not in {c.name for c in blocked.warnings()}
    warned = decide(ev, make_config("prod", comparison={"inconclusive": "warn"}))
    assert warned.passed and warned.blocking == []
    assert "auc_vs_champion" in {c.name for c in warned.warnings()}


def test_break_glass_override(make_config):
    ev = evaluation(candidate=scores(auc_roc=0.9))
    plain = decide(ev, prod(make_config))
    assert not plain.passed and not plain.overridden
    decision = decide(ev, prod(make_config), override_reason="  incident 42 hotfix ",
                      actor="alice")
    assert decision.passed and decision.overridden and decision.actor == "alice"
    assert decision.override_reason == "incident 42 hotfix"
    assert decision.overridden_checks == ["auc_roc"] == decision.blocking
    assert by_name(decision)["auc_roc"].status == "fail"  # the evidence stays
    warn = by_name(decision)["break_glass_override"]
    assert warn.status == "warn" and "alice" in warn.message and "auc_roc" in warn.message
    with pytest.raises(InputError):
        decide(ev, make_config("prod"), override_reason="   ")
    unneeded = decide(evaluation(), prod(make_config), override_reason="why not")
    assert unneeded.passed and not unneeded.overridden


def test_threshold_note_becomes_a_warning(make_config):
    cand = scores()
    cand.threshold_note = "no threshold reaches precision >= 0.99: nothing is alerted"
    check = by_name(decide(evaluation(candidate=cand), make_config("dev")))["decision_threshold"]
    assert check.status == "warn" and "precision" in check.message
