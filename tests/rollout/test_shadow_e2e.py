"""End to end: the shadow phase on the real gateway (shadow slot, mirrored requests, shadow
metrics) scraped by a real Prometheus, `ml-actions canary-deploy --shadow` run as the CLI with
50 requests/s of load. A candidate flipping 2 % of decisions is rolled back inside the shadow
phase without a single customer request reaching it; a healthy one passes the shadow phase and
then goes through the 5 % step, and the old champion shadows it for the guard period."""

from __future__ import annotations

import math
import time

import pytest
import yaml

from ml_actions.registry import Registry
from ml_actions.targets.gateway import GatewayTarget
from tests.fixtures.gateway import start_gateway, wait_ready
from tests.fixtures.local_services import start_prometheus
from tests.rollout import canary_models as cm
from tests.rollout.load_generator import LoadGenerator
from tests.rollout.test_canary_e2e import TOKEN, Stack

pytestmark = pytest.mark.integration

MODEL = "shadow_e2e"
SHADOW_CONFIG = {
    "canary": {"steps": [5, 100], "interval": "3s", "bake": "2s", "warmup_timeout": "120s"},
    "analysis": {
        "interval": "2s", "scrape_interval": "1s", "inconclusive_timeout": "40s",
        "min_events": 10,
        "checks": {"success_rate": {"min_effect": 0.15},
                   "latency": {"min_effect": 0.15, "max_seconds": 0.5},
                   "score_shift": {"min_effect": 0.3},
                   "decision_rate": {"min_effect": 1.0},
                   "sample_ratio": {"min_samples": 40}},
    },
}


class ShadowStack(Stack):
    """The canary end-to-end stack with a champion, a flipper and a healthy candidate."""

    def __init__(self, tmp, tracking_uri):
        self.tmp, self.tracking_uri = tmp, tracking_uri
        self.versions = {
            "champion": cm.register(tracking_uri, MODEL, cm.CanaryModel()),
            "flipper": cm.register(tracking_uri, MODEL, cm.FlippingModel(0.02)),
            "healthy": cm.register(tracking_uri, MODEL, cm.CanaryModel()),
        }
        self.registry = Registry(tracking_uri)
        self.registry.set_alias(MODEL, "champion", self.versions["champion"])
        self.gateway = start_gateway(tmp / "gateway", tracking_uri, TOKEN)
        self.target = GatewayTarget(self.gateway.url, token=TOKEN)
        self.target.load("stable", f"models:/{MODEL}/{self.versions['champion']}", timeout=120)
        wait_ready(self.gateway)
        host = self.gateway.url.removeprefix("http://")
        self.prometheus = start_prometheus(tmp / "prometheus", [host], "1s")
        self.config_path = tmp / "ml-actions.yaml"
        self.config_path.write_text(yaml.safe_dump(SHADOW_CONFIG))
        self.load = LoadGenerator(self.gateway.url, rate=50, threads=5).start()

    def deploy_args(self, name, *extra):
        return [a if a != "canary_e2e" else MODEL for a in super().deploy_args(name, *extra)]


@pytest.fixture(scope="module")
def stack(tmp_path_factory, tracking_uri):
    s = ShadowStack(tmp_path_factory.mktemp("shadow-e2e"), tracking_uri)
    try:
        time.sleep(2)
        yield s
    finally:
        s.close()


def test_flipping_candidate_is_rolled_back_within_the_shadow_phase(stack):
    v = stack.versions
    start = time.time()
    code, outputs, log = stack.cli("flipper", stack.deploy_args(
        "flipper", "--candidate", v["flipper"], "--shadow", "2m"))
    assert code == 1, log
    report = stack.report("flipper")
    assert report["result"] == "rolled_back" and report["reason"].startswith("shadow phase")
    assert [(s["phase"], s["weight"], s["verdict"]) for s in report["steps"]] == [
        ("shadow", 0.0, "failed")]
    assert report["detection_seconds"] < 120
    failing = {c["name"] for c in report["steps"][0]["evaluations"][-1]["checks"]
               if c["verdict"] == "fail"}
    assert "shadow_flips_legit_to_fraud" in failing or "shadow_flips_total" in failing
    flips = next(c for c in report["steps"][0]["evaluations"][-1]["checks"]
                 if c["name"] == "shadow_flips_legit_to_fraud")
    # the model flips 2 % of rows; a sequential test stops on a high run of flips, so the
    # bound is 2 % plus four binomial standard deviations at the sample it stopped on
    spread = 4 * math.sqrt(0.02 * 0.98 / flips["sample_size"])
    assert 0.01 < flips["value"] < 0.02 + spread, flips
    # no customer ever got an answer from the flipper, and the shadow was stopped
    assert v["flipper"] not in stack.load.versions(start)
    assert stack.load.failures(start) == []
    state = stack.target.state()
    assert state.slot("shadow").status == "empty" and state.shadow_share == 0
    assert state.slot("stable").model_version == v["champion"]
    tags = stack.registry.get_tags(MODEL, v["flipper"])
    assert tags["rollout.status"] == "rolled_back"
    assert stack.registry.find_alias(MODEL, "champion").version == v["champion"]


def test_healthy_candidate_passes_the_shadow_phase_then_the_5_percent_step(stack):
    v = stack.versions
    start = time.time()
    code, outputs, log = stack.cli("healthy", stack.deploy_args(
        "healthy", "--candidate", v["healthy"], "--shadow", "20s"))
    assert code == 0, log
    report = stack.report("healthy")
    assert [(s["phase"], s["weight"], s["verdict"]) for s in report["steps"]] == [
        ("shadow", 0.0, "passed"), ("step", 5.0, "passed"), ("step", 100.0, "passed"),
        ("bake", 100.0, "passed")]
    shadow = report["steps"][0]["evaluations"][-1]
    flips = next(c for c in shadow["checks"] if c["name"] == "shadow_flips_total")
    assert flips["value"] == 0 and flips["sample_size"] > 500
    # the same model shadowed: its own scoring time is judged against stable's answers
    latency = next(c for c in shadow["checks"] if c["name"] == "shadow_latency_p99")
    print(f"shadow_latency_p99: shadow p99 {latency['value']}, stable p99 "
          f"{latency['stable_value']}, {latency['verdict']}: {latency['message']}")
    assert latency["verdict"] == "pass" and "the primary's p99" in latency["message"]
    assert report["guard_period"]["started"] and \
        report["guard_period"]["shadow_version"] == v["champion"]
    state = stack.target.state()
    assert state.slot("stable").model_version == v["healthy"]
    assert state.slot("shadow").model_version == v["champion"]
    assert state.shadow_share == 1.0 and state.shadow_until > time.time() + 6 * 86400
    tags = stack.registry.get_tags(MODEL, v["healthy"])
    assert tags["monitor.shadow_version"] == v["champion"]
    assert stack.load.failures(start) == []
    assert "Shadow phase: passed" in (stack.tmp / "healthy" / "summary.md").read_text()
