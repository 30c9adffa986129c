"""Fixtures of the canary/rollback tests: simulated gateway traffic, real Prometheus scraping
it, real MLflow versions, and (end to end) the real gateway."""

from __future__ import annotations

import os

import pytest

from ml_actions.config.settings import load_config
from tests.fixtures.local_services import start_prometheus
from tests.rollout.simulation import TrafficSimulator

os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")


@pytest.fixture(scope="session")
def simulator():
    sim = TrafficSimulator()
    try:
        yield sim
    finally:
        sim.close()


@pytest.fixture(scope="session")
def sim_prometheus(simulator, tmp_path_factory):
    """A real Prometheus scraping the simulator every second."""
    proc = start_prometheus(tmp_path_factory.mktemp("sim-prom"), [simulator.address], "1s")
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def sim(simulator, sim_prometheus):
    """The simulator with fresh metrics and no routes, for one test."""
    simulator.reset()
    yield simulator
    simulator.reset()


def fast_config(**sections):
    """A dev config with second-long schedule, merged with per-test `sections` overrides."""
    base = {
        "canary": {"steps": [20, 50, 100], "interval": "2s", "bake": "1s",
                   "warmup_timeout": "60s"},
        "analysis": {"interval": "1s", "scrape_interval": "1s",
                     "inconclusive_timeout": "20s",  # slack for a loaded CI runner
                     "expected_request_rate": 150,
                     "checks": {"success_rate": {"min_effect": 0.15},
                                "latency": {"min_effect": 0.15},
                                "score_shift": {"min_effect": 0.15},
                                "decision_rate": {"min_effect": 1.0, "max_ratio": 1.5,
                                                  "min_ratio": 0.5},
                                "sample_ratio": {"min_samples": 40}}},
    }
    for key, value in sections.items():
        merged = dict(base.get(key, {}))
        merged.update(value)
        base[key] = merged
    return load_config(None, "dev", base)
