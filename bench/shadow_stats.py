"""How often the shadow phase is right, by simulation: `python bench/shadow_stats.py --runs N`.

Shadow phases of `--shadow` (default 2 minutes) on dev defaults (looks every 5 s,
inconclusive_timeout 1 minute), alpha split over the default schedule's 6 stages (shadow,
steps 5/25/50/100, bake), judged by the rollout's own policy on the counters the gateway would
export (tests/rollout/shadow_streams.py: customers with heavy-tailed volumes in 16 routing
groups, customer-specific flip propensities, every request mirrored). Printed per scenario and
mirrored request rate: the share of phases rolled back, passed and inconclusive, which check
failed most, and the median and 95th-percentile seconds to the decision.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import zlib
from collections import Counter
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "core"), str(ROOT)]

from ml_actions.config.settings import load_config  # noqa: E402
from tests.rollout.shadow_streams import ShadowScenario, run_phase  # noqa: E402

SCENARIOS = {
    "healthy (0.1 % flips each way)": ShadowScenario(),
    "boundary (0.5 % each way, mean d +0.05)": ShadowScenario(to_fraud=0.005, to_legit=0.005,
                                                              diff_mean=0.05),
    "flips 2 % legit->fraud": ShadowScenario(to_fraud=0.02),
    "flips 2 % fraud->legit": ShadowScenario(to_legit=0.02),
    "flips 1 % each way": ShadowScenario(to_fraud=0.01, to_legit=0.01),
    "scores +0.12 on the same rows": ShadowScenario(diff_mean=0.12, diff_sd=0.1),
    "shadow errors 5 %": ShadowScenario(error_rate=0.05),
    "own scoring 60 ms (stable's answers 15 ms)": ShadowScenario(latency=0.06),
}


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--rates", default="50,10", help="mirrored requests/s, e.g. 50,10")
    parser.add_argument("--shadow", default="2m")
    args = parser.parse_args()
    config = load_config(None, "dev", {"canary": {"shadow": args.shadow}})
    started = time.time()
    print(f"shadow phase {args.shadow}, {args.runs} runs per row, dev defaults, 6 stages\n")
    print("| scenario | req/s | rolled back | passed | inconclusive | failing check | "
          "median s | p95 s |")
    print("|---|---:|---:|---:|---:|---|---:|---:|")
    for rate in (float(r) for r in args.rates.split(",")):
        for name, scenario in SCENARIOS.items():
            rng = np.random.default_rng(zlib.crc32(f"{name}{rate}".encode()))
            sc = ShadowScenario(**{**scenario.__dict__, "rate": rate})
            runs = [run_phase(sc, config, rng, stages=6) for _ in range(args.runs)]
            actions = Counter(r.action for r in runs)
            failing = Counter(f for r in runs for f in r.failing).most_common(1)
            decided = [r.seconds for r in runs if r.action == "rollback"] or \
                [r.seconds for r in runs]
            share = {k: actions[k] / len(runs) for k in ("rollback", "pass", "inconclusive")}
            print(f"| {name} | {rate:g} | {share['rollback']:.0%} | {share['pass']:.0%} | "
                  f"{share['inconclusive']:.0%} | {failing[0][0] if failing else '-'} | "
                  f"{statistics.median(decided):.0f} | {percentile(decided, 95):.0f} |")
    print(f"\n({time.time() - started:.0f} s)")


if __name__ == "__main__":
    main()
