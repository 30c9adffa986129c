"""The monitor's false-rollback guarantee, checked by simulation (numpy, no JVM).

Stated in `ml_actions.monitoring.verdict`: a champion whose true loss is at most the
tolerances is rolled back in its guard period with probability at most `monitor.alpha`
(each of the 2 metrics x `runs_per_guard_period` runs tested at one-sided level
alpha / (2 runs)). Three checks through the same statistic functions the monitor uses
(`paired_from_arrays` -> `decide`):

1. calibration at the boundary: with zero tolerances two equally good models sit exactly on
   it, so each test must say `degraded` at close to its level, neither far above (a wrong,
   too small standard error) nor far below (a test too timid to ever catch anything);
2. the guarantee with the default settings over many resampled guard periods of daily runs;
3. power: a model that truly catches less fraud is rolled back in most guard periods, so the
   low false-rollback rate does not come from a test that never fires.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np

from ml_actions.config.monitor import MonitorConfig
from ml_actions.monitoring.verdict import decide
from tests.fixtures.label_weeks import Traffic, evidence_of, simulate_day

TRAFFIC = Traffic(rows_per_day=2500, fraud_rate=0.03)


def binomial_margin(rate: float, trials: int) -> float:
    return 3.5 * math.sqrt(rate * (1 - rate) / trials)


def test_each_test_is_calibrated_at_the_boundary():
    rng = np.random.default_rng(20261202)
    config = MonitorConfig(max_auc_drop=0.0, max_recall_drop=0.0, alpha=0.1,
                           runs_per_guard_period=1)
    level, weeks = config.per_test_alpha(), 300
    degraded = {"auc_roc": 0, "recall": 0}
    for _ in range(weeks):
        days = [simulate_day(TRAFFIC, rng) for _ in range(7)]
        for check in decide(evidence_of(days, TRAFFIC.threshold), config).checks:
            degraded[check.metric] += check.status == "degraded"
    for metric, count in degraded.items():
        rate = count / weeks
        assert rate <= level + binomial_margin(level, weeks), (metric, rate)
        assert rate >= level / 4, (metric, rate)  # not a test that cannot fire


def test_wrong_rollbacks_per_guard_period_stay_below_alpha():
    rng = np.random.default_rng(7)
    config = MonitorConfig()  # alpha 0.05 over 7 daily runs, default tolerances
    weeks, rolled_back = 120, 0
    for _ in range(weeks):
        days = [simulate_day(TRAFFIC, rng) for _ in range(7)]
        rolled_back += any(decide(evidence_of(days[:k], TRAFFIC.threshold), config).verdict
                           == "degraded" for k in range(1, 8))
    rate = rolled_back / weeks
    assert rate <= config.alpha + binomial_margin(config.alpha, weeks), rate


def test_a_worse_model_is_rolled_back_in_most_guard_periods():
    rng = np.random.default_rng(11)
    config = MonitorConfig()
    worse = Traffic(rows_per_day=2500, fraud_rate=0.03, new_signal=1.5)
    weeks, caught = 40, 0
    for _ in range(weeks):
        days = [simulate_day(worse, rng) for _ in range(7)]
        caught += any(decide(evidence_of(days[:k], worse.threshold), config).verdict
                      == "degraded" for k in range(1, 8))
    assert caught / weeks >= 0.8


def test_inconclusive_states_what_would_resolve_it():
    rng = np.random.default_rng(3)
    day = simulate_day(Traffic(rows_per_day=400, fraud_rate=0.03), rng)
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    verdict = decide(evidence_of([day], TRAFFIC.threshold), MonitorConfig(), now=now)
    assert verdict.verdict == "inconclusive"
    assert verdict.frauds_needed is not None and verdict.frauds_needed > verdict.frauds
    assert verdict.days_to_enough_labels is not None and verdict.days_to_enough_labels > 0
    assert all(c.minimum_detectable_effect is not None for c in verdict.checks)
    # frauds arrive at the observed rate (frauds per day of matured traffic)
    assert verdict.frauds_per_day == verdict.frauds
    expected = now + dt.timedelta(days=(verdict.frauds_needed - verdict.frauds)
                                  / verdict.frauds_per_day)
    assert verdict.enough_labels_expected_at == expected.isoformat()
