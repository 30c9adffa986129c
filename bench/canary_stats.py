"""How often each canary decider is right, by simulation: `python bench/canary_stats.py --runs N`.

Three deciders judge the same simulated request streams (tests/fixtures/canary_streams.py:
customer-sticky routing, heavy-tailed requests per customer, per-customer fraud propensity,
log-normal latency, counters scraped every 5 s): the sequential analysis, the one before it,
and a Flagger-style fixed threshold (tests/fixtures/canary_deciders.py). Every scenario runs
the same schedule, steps 5/25/50/100 held 2 minutes each and a 2-minute bake, looks every 5 s,
inconclusive_timeout 4 minutes, on dev defaults; the rollback budget is 5 minutes, 6 at
20 requests/s (the budget check refuses 5: it cannot reach a verdict on a min_effect error
regression in time at 1 canary request/s). Printed per scenario and decider: the share of
rollouts promoted, rolled back, inconclusive and aborted, and the median and 95th-percentile
seconds from the first canary request to the decision.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from collections import Counter
from functools import lru_cache
from multiprocessing import Pool
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "core"), str(ROOT), str(ROOT / "bench")]

from ml_actions.config.settings import load_config  # noqa: E402
from ml_actions.rollout.analysis.checks import CanaryAnalysis  # noqa: E402
from ml_actions.rollout.budget import check_budget  # noqa: E402
from tests.fixtures.canary_deciders import DECIDERS  # noqa: E402
from tests.fixtures.canary_streams import Scenario, Stream, World  # noqa: E402

FLAG_SHIFT = {"x2": 0.41, "x0.5": -0.37}  # logit offsets: flag rate (about 1.1 %) x2 / x0.5


@lru_cache(maxsize=1)
def scenarios() -> list[Scenario]:
    return [
        Scenario("healthy @20 req/s", 20), Scenario("healthy @50 req/s", 50),
        Scenario("healthy @500 req/s", 500),
        Scenario("+2 pp errors @50", 50, error_delta=0.02),
        Scenario("+5 pp errors @100", 100, error_delta=0.05),
        Scenario("30 % errors @50", 50, error_delta=0.30),
        Scenario("p99 x1.5 @50", 50, latency_factor=1.5),
        Scenario("p99 x3 @50", 50, latency_factor=3.0),
        Scenario("decisions x2 @500", 500, flag_offset=FLAG_SHIFT["x2"]),
        Scenario("decisions x0.5 @500", 500, flag_offset=FLAG_SHIFT["x0.5"]),
        Scenario("scores shifted @50", 50, flag_offset=1.0),
        Scenario("4xx, new column @50", 50, missing_column_share=0.1),
    ]


@lru_cache(maxsize=64)
def config_for(scenario: Scenario):
    budget = "6m" if scenario.rate < 50 else "5m"
    return load_config(None, "dev", {
        "canary": {"steps": [5, 25, 50, 100], "interval": "2m", "bake": "2m",
                   "rollback_budget": budget},
        "analysis": {"interval": "5s", "scrape_interval": "5s",
                     "inconclusive_timeout": "4m", "expected_request_rate": scenario.rate}})


@lru_cache(maxsize=4)
def world_for(seed: int, missing_share: float) -> World:
    """The customers of one seed: the deciders of a scenario judge the same world (it is
    read-only) with the same request draws, so it is built once per worker."""
    return World.build(np.random.default_rng([seed, 1]), missing_share=missing_share)


def run_one(task: tuple[int, str, int]) -> tuple[int, str, str, float]:
    index, decider, seed = task
    scenario = scenarios()[index]
    world = world_for(seed, scenario.missing_column_share)
    stream = Stream(world, scenario, np.random.default_rng(seed))
    outcome = DECIDERS[decider](stream, config_for(scenario))
    return index, decider, outcome.result, outcome.seconds


def percentile(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(math.ceil(q * len(ordered))) - 1)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=200, help="rollouts per scenario")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--only", help="run only scenarios whose names contain one of these "
                        "comma-separated strings")
    parser.add_argument("--deciders", default=",".join(DECIDERS),
                        help=f"comma-separated subset of {', '.join(DECIDERS)}")
    args = parser.parse_args()
    wanted = args.only.split(",") if args.only else [""]
    chosen = [i for i, s in enumerate(scenarios()) if any(w in s.name for w in wanted)]
    deciders = [d for d in args.deciders.split(",") if d in DECIDERS]
    for i in chosen:
        config = config_for(scenarios()[i])
        alpha = CanaryAnalysis(None, config.analysis, len(config.canary.steps) + 1).alpha
        check_budget(config.canary, config.analysis, scenarios()[i].rate, alpha)  # accepted
    tasks = [(i, d, 100_000 * i + seed) for i in chosen for seed in range(args.runs)
             for d in deciders]  # a seed's deciders side by side: one world built per seed
    started = time.time()
    results: dict[tuple[int, str], list[tuple[str, float]]] = {}
    with Pool(args.workers) as pool:
        chunk = 3 * len(deciders)
        for index, decider, result, seconds in pool.imap_unordered(run_one, tasks, chunk):
            results.setdefault((index, decider), []).append((result, seconds))
    print(f"{args.runs} rollouts per scenario and decider, {time.time() - started:.0f} s\n")
    print("| scenario | decider | promoted | rolled back | inconclusive | aborted "
          "| decision s, median | p95 |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for i in chosen:
        for decider in deciders:
            rows = results[(i, decider)]
            counts = Counter(r for r, _ in rows)
            times = [s for _, s in rows]
            shares = [f"{100 * counts[k] / len(rows):.1f} %" for k in
                      ("promoted", "rolled_back", "inconclusive", "aborted")]
            print(f"| {scenarios()[i].name} | {decider} | " + " | ".join(shares)
                  + f" | {statistics.median(times):.0f} | {percentile(times, 0.95):.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
