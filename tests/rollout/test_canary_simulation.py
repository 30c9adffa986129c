"""The sequential analysis's promises, measured on simulated streams (no processes): a healthy
canary is promoted (false rollback / abort / inconclusive within its binomial bound of alpha),
and a blatantly bad one is caught within seconds. bench/canary_stats.py runs the full table."""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from ml_actions.config.settings import load_config
from tests.fixtures.canary_deciders import run_sequential
from tests.fixtures.canary_streams import Scenario, Stream, World


def config(rate: float, **canary):
    return load_config(None, "dev", {
        "canary": {"steps": [25, 50, 100], "interval": "1m", "bake": "1m", **canary},
        "analysis": {"interval": "10s", "scrape_interval": "5s", "inconclusive_timeout": "3m",
                     "expected_request_rate": rate}})


def runs(scenario: Scenario, cfg, count: int, seed: int):
    out = []
    for i in range(count):
        rng = np.random.default_rng(seed + i)
        world = World.build(rng, customers=1500, missing_share=scenario.missing_column_share)
        out.append(run_sequential(Stream(world, scenario, rng), cfg))
    return out


def test_healthy_canaries_are_promoted_within_the_error_budget():
    cfg = config(200)
    outcomes = runs(Scenario("healthy", 200), cfg, 150, seed=100)
    wrong = sum(o.result != "promoted" for o in outcomes)
    # alpha bounds false rollbacks; inconclusive must be as rare: P(X > limit) < 0.5 %
    limit = int(stats.binom.ppf(0.995, len(outcomes), cfg.analysis.alpha))
    assert wrong <= limit, [o.result for o in outcomes if o.result != "promoted"]


def test_thirty_percent_errors_at_5_percent_of_50_rps_decided_in_seconds():
    """Dev defaults (5 s scrape, 5 s looks): decided on the first or second scrape that holds
    the canary's requests, about a dozen of them each."""
    cfg = load_config(None, "dev", {"canary": {"steps": [5, 25, 50, 100]},
                                    "analysis": {"expected_request_rate": 50}})
    outcomes = runs(Scenario("errors", 50, error_delta=0.30), cfg, 40, seed=500)
    assert all(o.result == "rolled_back" for o in outcomes)
    seconds = sorted(o.seconds for o in outcomes)
    assert np.median(seconds) <= 10 and seconds[-1] <= 20, [round(s) for s in seconds]


def test_a_new_required_column_is_a_model_error_caught_early():
    cfg = config(100)
    outcomes = runs(Scenario("column", 100, missing_column_share=0.1), cfg, 20, seed=900)
    assert all(o.result == "rolled_back" for o in outcomes)
    assert np.median([o.seconds for o in outcomes]) < 120
    assert not math.isnan(np.median([o.seconds for o in outcomes]))
