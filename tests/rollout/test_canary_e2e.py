"""End to end: the real gateway serving real pyfunc models from a real MLflow registry, a real
Prometheus scraping it every second, `ml-actions canary-deploy` / `rollback` run as the CLI, and
a load generator throughout that must see zero failed requests caused by the deploy machinery.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import httpx
import pytest
import yaml

from ml_actions.cli.main import main
from ml_actions.cli.runner import ActionsRunner
from ml_actions.registry import Registry
from ml_actions.targets.gateway import GatewayTarget
from tests.fixtures.gateway import REPO_ROOT, start_gateway, wait_ready
from tests.fixtures.github_server import FakeGitHub
from tests.fixtures.local_services import free_port, start_prometheus
from tests.rollout import canary_models as cm
from tests.rollout.load_generator import LoadGenerator

pytestmark = pytest.mark.integration

TOKEN = "rollout-e2e-token-7d2a"
MODEL = "canary_e2e"
E2E_CONFIG = {
    "canary": {"steps": [20, 50, 100], "interval": "3s", "bake": "2s", "warmup_timeout": "120s"},
    "analysis": {
        "interval": "1s", "scrape_interval": "1s",
        "inconclusive_timeout": "15s",
        # this machine is shared: a scheduling hiccup can slow a few requests of a good model
        "min_events": 10,
        "checks": {"success_rate": {"min_effect": 0.15},
                   "latency": {"min_effect": 0.15, "max_seconds": 0.5},
                   "score_shift": {"min_effect": 0.3},
                   "decision_rate": {"min_effect": 1.0},
                   "sample_ratio": {"min_samples": 40}},
    },
}


class Stack:
    def __init__(self, tmp: Path, tracking_uri: str):
        self.tmp, self.tracking_uri = tmp, tracking_uri
        self.versions = {
            "champion": cm.register(tracking_uri, MODEL, cm.CanaryModel()),
            "good": cm.register(tracking_uri, MODEL, cm.CanaryModel()),
            "errors": cm.register(tracking_uri, MODEL, cm.CanaryModel(error_share=0.3)),
            "shifted": cm.register(tracking_uri, MODEL, cm.CanaryModel(power=1.1)),
            "slow": cm.register(tracking_uri, MODEL, cm.CanaryModel(delay=0.6)),
            "good2": cm.register(tracking_uri, MODEL, cm.CanaryModel()),
            "cancelled": cm.register(tracking_uri, MODEL, cm.CanaryModel()),
            "healthy": cm.register(tracking_uri, MODEL, cm.CanaryModel()),
            "silent": cm.register(tracking_uri, MODEL, cm.CanaryModel(power=500.0)),
            "needs_column": cm.register(tracking_uri, MODEL, cm.CanaryModel(),
                                        extra_columns=("DEVICE_TYPE",)),
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
        self.config_path.write_text(yaml.safe_dump(E2E_CONFIG))
        self.load = LoadGenerator(self.gateway.url, rate=50, threads=5).start()

    def close(self) -> None:
        self.load.stop()
        self.target.close()
        self.prometheus.stop()
        self.gateway.stop()

    def env(self, name: str) -> dict[str, str]:
        folder = self.tmp / name
        folder.mkdir(parents=True, exist_ok=True)
        env = {"ML_ACTIONS_ADMIN_TOKEN": TOKEN, "GITHUB_OUTPUT": str(folder / "output"),
               "GITHUB_STEP_SUMMARY": str(folder / "summary.md"), "PATH": os.environ["PATH"]}
        return {**env, **self.extra_env}

    def deploy_args(self, name: str, *extra: str) -> list[str]:
        return ["canary-deploy", "--model-name", MODEL, "--target-url", self.gateway.url,
                "--prometheus-url", self.prometheus.url, "--tracking-uri", self.tracking_uri,
                "--config", str(self.config_path), "--report-dir", str(self.tmp / name),
                *extra]

    extra_env: dict[str, str] = {}

    def cli(self, name: str, argv: list[str]) -> tuple[int, dict[str, str], str]:
        env = self.env(name)
        out = io.StringIO()
        code = main(argv, runner=ActionsRunner(env=env, stream=out))
        outputs = dict(line.split("=", 1) for line in
                       Path(env["GITHUB_OUTPUT"]).read_text().splitlines() if "=" in line) \
            if Path(env["GITHUB_OUTPUT"]).exists() else {}
        return code, outputs, out.getvalue()

    def report(self, name: str) -> dict:
        return json.loads((self.tmp / name / "rollout-report.json").read_text())

    def stable_version(self) -> str | None:
        return self.target.state().slot("stable").model_version


@pytest.fixture(scope="module")
def stack(tmp_path_factory, tracking_uri):
    s = Stack(tmp_path_factory.mktemp("e2e"), tracking_uri)
    try:
        time.sleep(2)
        yield s
    finally:
        s.close()


@pytest.fixture
def on_pull_request(stack, tmp_path):
    """The run looks like a pull request's job, with GitHub faked as a local REST server."""
    fake = FakeGitHub().start()
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"number": 7}}))
    stack.extra_env = {"GITHUB_REPOSITORY": "acme/fraud", "GITHUB_SHA": "a" * 40,
                       "GITHUB_EVENT_PATH": str(event), "GITHUB_API_URL": fake.base_url,
                       "GITHUB_TOKEN": "gh-token"}
    try:
        yield fake
    finally:
        stack.extra_env = {}
        fake.stop()


def test_good_candidate_is_promoted_through_every_step(stack, on_pull_request):
    v = stack.versions
    start = time.time()
    code, outputs, log = stack.cli("good", stack.deploy_args("good", "--candidate", v["good"]))
    assert code == 0, log
    github = on_pull_request.state
    assert [d["environment"] for d in github.deployments] == ["dev"]
    states = [x["state"] for x in github.statuses[github.deployments[0]["id"]]]
    assert states == ["in_progress", "success"]
    comment = github.comments[7][0]["body"]
    assert "ml-actions:canary-deploy:canary_e2e" in comment and "Step timeline" in comment
    metrics = httpx.get(f"{stack.gateway.url}/metrics").text
    assert 'ml_actions_rollout_status{model_name="canary_e2e",status="promoted"} 1.0' in metrics
    assert 'ml_actions_rollout_weight{model_name="canary_e2e"} 100.0' in metrics
    report = stack.report("good")
    assert report["result"] == "promoted" and report["rollback_seconds"] is None
    assert [(s["weight"], s["phase"]) for s in report["steps"]] == [
        (20, "step"), (50, "step"), (100, "step"), (100, "bake")]
    check = report["steps"][0]["evaluations"][-1]["checks"][1]
    assert check["verdict"] == "pass" and check["query"] and check["sample_size"] > 0
    assert outputs["result"] == "promoted" and outputs["final-weight"] == "100.0"
    assert outputs["report-path"].endswith("rollout-report.json")
    assert "Step timeline" in (stack.tmp / "good" / "summary.md").read_text()
    state = stack.target.state()
    assert state.slot("stable").model_version == v["good"]
    assert state.slot("previous").model_version == v["champion"]
    registry = stack.registry
    assert registry.find_alias(MODEL, "champion").version == v["good"]
    assert registry.find_alias(MODEL, "previous-champion").version == v["champion"]
    assert stack.load.failures(start) == []
    assert stack.load.versions(start)[v["good"]] > 0


def test_rollback_after_promotion_restores_previous_champion_without_failures(stack):
    v = stack.versions
    start = time.time()
    code, outputs, log = stack.cli("rollback1", [
        "rollback", "--model-name", MODEL, "--target-url", stack.gateway.url,
        "--reason", "post-deploy alert", "--tracking-uri", stack.tracking_uri,
        "--report-dir", str(stack.tmp / "rollback1")])
    assert code == 0, log
    summary = (stack.tmp / "rollback1" / "summary.md").read_text()
    assert "previous restored" in summary and "post-deploy alert" in summary
    saved = json.loads((stack.tmp / "rollback1" / "rollback-report.json").read_text())
    assert saved["action"] == "previous_restored" and saved["verified"] is True
    assert float(outputs["rollback-seconds"]) < 1.0
    assert outputs["restored-version"] == v["champion"] and "rolled back" in log
    assert stack.stable_version() == v["champion"]
    assert stack.registry.find_alias(MODEL, "champion").version == v["champion"]
    assert stack.registry.get_tags(MODEL, v["good"])["rollout.status"] == "rolled_back"
    time.sleep(1.5)
    after = time.time()
    time.sleep(1.5)
    assert set(stack.load.versions(after)) == {v["champion"]}
    assert stack.load.failures(start) == []


@pytest.mark.parametrize("kind, checks", [
    ("errors", {"success_rate"}),
    ("shifted", {"score_shift", "decision_rate"}),
    ("slow", {"latency_p99"}),
])
def test_bad_candidate_is_rolled_back_at_the_first_step(stack, kind, checks):
    v = stack.versions
    start = time.time()
    # a longer first step: a bad canary is judged on evidence, so its time is not the limit,
    # while a slow CI machine may send too few requests in 3 s to fail it there
    code, outputs, log = stack.cli(kind, stack.deploy_args(kind, "--candidate", v[kind],
                                                           "--interval", "12s"))
    end = time.time()
    assert code == 1, log
    report = stack.report(kind)
    assert report["result"] == "rolled_back" and len(report["steps"]) == 1
    failing = {c["name"] for c in report["steps"][0]["evaluations"][-1]["checks"]
               if c["verdict"] == "fail"}
    assert failing & checks, report["reason"]
    assert report["rollback_seconds"] < 1.0 and report["detection_seconds"] < 15
    assert outputs["result"] == "rolled_back" and float(outputs["rollback-seconds"]) < 1.0
    state = stack.target.state()
    assert state.canary_weight == 0 and stack.stable_version() == v["champion"]
    assert stack.registry.find_alias(MODEL, "champion").version == v["champion"]
    assert stack.registry.find_alias(MODEL, "canary") is None
    assert stack.load.failures(start, end, faulty_versions=(v["errors"],)) == []


@pytest.mark.parametrize("kind, checks", [
    ("silent", {"decision_rate", "score_shift"}),  # a model that stops flagging fraud
    ("needs_column", {"success_rate"}),  # a column its signature needs clients don't send
])
def test_candidate_worse_in_ways_errors_and_latency_miss_is_rolled_back(stack, kind, checks):
    v = stack.versions
    start = time.time()
    code, outputs, log = stack.cli(kind, stack.deploy_args(kind, "--candidate", v[kind]))
    end = time.time()
    assert code == 1, log
    report = stack.report(kind)
    assert report["result"] == "rolled_back", report["reason"]
    failing = {c["name"]: c for s in report["steps"] for e in s["evaluations"]
               for c in e["checks"] if c["verdict"] == "fail"}
    assert set(failing) & checks, report["reason"]
    check = failing[sorted(set(failing) & checks)[0]]
    if kind == "needs_column":
        assert "input refused" in check["message"]
    else:  # the canary flags (or scores high) far less than stable: the direction is "below"
        assert check["value"] < 0.2 * check["stable_value"] and check["upper"] < 0
    assert stack.target.state().canary_weight == 0 and stack.stable_version() == v["champion"]
    assert stack.load.failures(start, end, faulty_versions=(v[kind],)) == []


def test_healthy_canary_at_5_percent_of_50_rps_on_dev_defaults_is_promoted(stack):
    """The new user's case: dev defaults, --steps 5,50,100 --interval 20s, ~50 req/s."""
    v = stack.versions
    start = time.time()
    argv = stack.deploy_args("healthy", "--candidate", v["healthy"], "--steps", "5,50,100",
                             "--interval", "20s")
    at = argv.index("--config")
    del argv[at:at + 2]
    code, outputs, log = stack.cli("healthy", argv)
    assert code == 0, log
    report = stack.report("healthy")
    assert report["result"] == "promoted", report["reason"]
    assert [s["weight"] for s in report["steps"]] == [5, 50, 100, 100]
    first = report["steps"][0]["evaluations"][-1]
    judged = {c["name"]: c for c in first["checks"]}
    assert judged["success_rate"]["verdict"] == "pass"
    assert judged["success_rate"]["sample_size"] > 30  # accumulated, not a 30 s window
    assert stack.load.failures(start) == []
    # put the champion back for the tests that follow
    stack.cli("restore", ["rollback", "--model-name", MODEL, "--target-url", stack.gateway.url,
                          "--reason", "test cleanup", "--tracking-uri", stack.tracking_uri,
                          "--report-dir", str(stack.tmp / "restore")])


def test_wrong_prometheus_is_exit_2_before_anything_changes(stack, tmp_path):
    """A wrong --prometheus-url must never roll back (and blame) a model."""
    candidate = stack.versions["good2"]
    lone = start_prometheus(tmp_path / "lone", [], "1s")  # answers, but scrapes nothing
    try:
        for url, phrase in ((f"http://127.0.0.1:{free_port()}", "check the URL"),
                            (lone.url, "does not scrape the gateway")):
            argv = stack.deploy_args("preflight", "--candidate", candidate)
            argv[argv.index("--prometheus-url") + 1] = url
            code, outputs, log = stack.cli("preflight", argv)
            assert code == 2 and phrase in log and "--prometheus-url" in log, log
            assert len(log.strip().splitlines()) == 1 and len(log) < 400, log
            assert stack.target.state().slot("canary").status == "empty"
            assert "rollout.status" not in stack.registry.get_tags(MODEL, candidate)
    finally:
        lone.stop()


def test_over_budget_config_is_refused_before_any_traffic_moves(stack, tmp_path):
    bad = tmp_path / "slow-analysis.yaml"
    bad.write_text(yaml.safe_dump({"analysis": {"interval": "6m"}}))
    argv = stack.deploy_args("budget", "--candidate", stack.versions["good2"])
    argv[argv.index("--config") + 1] = str(bad)
    code, _, log = stack.cli("budget", argv)
    assert code == 2 and "rollback budget exceeded" in log and "analysis.interval" in log
    assert stack.target.state().slot("canary").status == "empty"


@pytest.mark.chaos
def test_killed_runner_resumes_and_finishes(stack, chaos_row):
    v = stack.versions
    start = time.time()
    env = {**os.environ, "ML_ACTIONS_ADMIN_TOKEN": TOKEN,
           "PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "core"), str(REPO_ROOT)])}
    log = open(stack.tmp / "killed.log", "wb")  # noqa: SIM115 - closed in finally
    proc = subprocess.Popen([sys.executable, "-m", "ml_actions.cli", *stack.deploy_args(
        "killed", "--candidate", v["good2"])], env=env, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True)
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            tags = stack.registry.get_tags(MODEL, v["good2"])
            if tags.get("rollout.step_index") == "2" and tags.get("rollout.phase") == "step":
                break
            assert proc.poll() is None, (stack.tmp / "killed.log").read_text()
            time.sleep(0.2)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()
    killed = time.time()
    assert stack.target.state().canary_weight == 100  # the canary keeps its traffic
    assert stack.registry.get_tags(MODEL, v["good2"])["rollout.status"] == "running"
    code, outputs, text = stack.cli("resumed", stack.deploy_args("resumed", "--resume"))
    assert code == 0, text
    report = stack.report("resumed")
    assert report["resumed"] and report["steps"][0]["weight"] == 100
    assert stack.stable_version() == v["good2"]
    assert stack.load.failures(start) == []
    chaos_row("kill -9 of canary-deploy, `--resume` inside the lease",
              "the resumed run continues from its step and finishes",
              f"resumed at {report['steps'][0]['weight']:g} %, promoted",
              len(stack.load.since(killed)), len(stack.load.failures(killed)), None)


@pytest.mark.chaos
def test_a_killed_runner_loses_its_lease_and_the_gateway_drops_the_canary(stack, tmp_path,
                                                                          chaos_row):
    """The dead man's switch (issue 12): nobody judges a canary after kill -9, so once the
    lease lapses the gateway itself takes the canary out of traffic, and records it."""
    version = cm.register(stack.tracking_uri, MODEL, cm.CanaryModel())
    config = tmp_path / "lease.yaml"
    config.write_text(yaml.safe_dump({**E2E_CONFIG, "canary": {
        **E2E_CONFIG["canary"], "interval": "60s", "lease": "8s"}}))
    argv = stack.deploy_args("leased", "--candidate", version)
    argv[argv.index("--config") + 1] = str(config)
    env = {**os.environ, "ML_ACTIONS_ADMIN_TOKEN": TOKEN,
           "PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "core"), str(REPO_ROOT)])}
    log_path = tmp_path / "leased.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "ml_actions.cli", *argv], env=env,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + 120
            while stack.target.state().canary_weight == 0 and time.monotonic() < deadline:
                assert proc.poll() is None, log_path.read_text()
                time.sleep(0.2)
            assert stack.target.state().canary_weight > 0, log_path.read_text()
            time.sleep(3)  # a few looks renew the lease
            assert stack.target.state().canary_weight > 0, log_path.read_text()
            os.killpg(proc.pid, signal.SIGKILL)
            killed = time.time()
            proc.wait(timeout=10)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
    while stack.target.state().canary_weight > 0 and time.time() < killed + 30:
        time.sleep(0.2)
    state = stack.target.state()
    expired = [h for h in state.history if h["action"] == "lease_expired"]
    assert state.canary_weight == 0 and expired, log_path.read_text()
    dropped = datetime.fromisoformat(expired[-1]["at"]).timestamp() - killed
    assert dropped <= 8 + 2, dropped  # within the lease (plus a look's timing)
    after = time.time()
    time.sleep(2)
    assert set(stack.load.versions(after)) == {stack.stable_version()}
    assert stack.load.failures(killed) == []
    chaos_row("kill -9 of canary-deploy mid-step (lease 8 s)",
              "canary at 0 % within the lease; later requests on stable; lease_expired",
              "gateway set the canary to 0 % and recorded lease_expired",
              len(stack.load.since(killed)), len(stack.load.failures(killed)), dropped)
    # a re-run job resumes: the version learns that its canary was dropped, then finishes
    code, outputs, text = stack.cli("lease-resumed", stack.deploy_args("lease-resumed",
                                                                       "--resume"))
    assert code == 0, text
    tags = stack.registry.get_tags(MODEL, version)
    assert tags["rollout.lease_expired_at"] == expired[-1]["at"]
    assert stack.stable_version() == version


@pytest.mark.chaos
def test_a_cancelled_job_takes_the_canary_out_of_traffic_before_exiting(stack, chaos_row):
    """SIGTERM is how GitHub cancels a job: the canary must not keep serving unjudged."""
    v = stack.versions
    env = {**os.environ, "ML_ACTIONS_ADMIN_TOKEN": TOKEN,
           "PYTHONPATH": os.pathsep.join([str(REPO_ROOT / "core"), str(REPO_ROOT)])}
    log_path = stack.tmp / "cancelled.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "ml_actions.cli", *stack.deploy_args(
            "cancelled", "--candidate", v["cancelled"], "--interval", "60s")], env=env,
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + 90
            while stack.target.state().canary_weight == 0 and time.monotonic() < deadline:
                assert proc.poll() is None, log_path.read_text()
                time.sleep(0.2)
            assert stack.target.state().canary_weight > 0
            proc.send_signal(signal.SIGTERM)
            sent = time.time()
            code = proc.wait(timeout=30)
            state = stack.target.state()
            # when the gateway itself recorded the canary's removal (not when we polled it)
            zero = [h for h in state.history if h["action"] == "traffic"
                    and h.get("canary_weight") == 0.0 or h["action"] == "rollback"]
            removed = datetime.fromisoformat(zero[-1]["at"]).timestamp() - sent
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
    assert state.canary_weight == 0 and removed < 1.0, (removed, log_path.read_text())
    assert code == 130, log_path.read_text()
    tags = stack.registry.get_tags(MODEL, v["cancelled"])
    assert tags["rollout.status"] == "aborted" and "SIGTERM" in tags["rollout.reason"]
    assert stack.stable_version() != v["cancelled"]
    assert stack.registry.find_alias(MODEL, "canary") is None
    assert "cancelled (SIGTERM)" in log_path.read_text()
    chaos_row("SIGTERM of canary-deploy (a cancelled job)", "canary removed in < 1 s, recorded",
              "canary removed, version tagged aborted (SIGTERM), exit 130",
              len(stack.load.since(sent)), len(stack.load.failures(sent)), removed)
    # the workflow's clean-up job after the failed deploy: no canary left, so no second rollback
    stable = stack.stable_version()
    code, outputs, log = stack.cli("cleanup", [
        "rollback", "--model-name", MODEL, "--target-url", stack.gateway.url, "--reason",
        "canary-deploy job failed without a verdict", "--expect-canary", "@canary",
        "--tracking-uri", stack.tracking_uri])
    assert code == 0 and outputs["action"] == "not_in_expected_state", log
    assert stack.stable_version() == stable and stack.target.state().canary_weight == 0
    chaos_row("deploy exits after an emergency stop; the post-failure job runs",
              "no second rollback", "rollback --expect-canary: not_in_expected_state, exit 0; "
              "champion unchanged", len(stack.load.since(sent)),
              len(stack.load.failures(sent)), 0.0)


def test_firing_alert_rolls_back_through_alertmanager_and_the_relay(stack, tmp_path):
    """Rule fires in Prometheus -> Alertmanager -> alert-relay -> rollback on the gateway."""
    from ml_actions.cli.commands.alert_relay import make_relay
    from ml_actions.cli.declarations import Inputs
    from ml_actions.rollout.alert_relay import build_app
    from tests.rollout.relay_process import (
        RelayServer,
        alertmanager_config,
        fast_rules,
        start_alertmanager,
    )

    v = stack.versions
    relay_token = "relay-e2e-token"
    env = {"ML_ACTIONS_ADMIN_TOKEN": TOKEN, "ML_ACTIONS_RELAY_TOKEN": relay_token}
    inputs = Inputs(target_url=stack.gateway.url, model_name=MODEL,
                    tracking_uri=stack.tracking_uri, config=None, environment=None,
                    record_file=str(tmp_path / "incidents.jsonl"), github_token=None,
                    repository=None, host=None, port=None)
    relay = make_relay(inputs, ActionsRunner(env=env, stream=io.StringIO()))
    server = RelayServer(build_app(relay)).start()
    token_file = tmp_path / "relay-token"
    token_file.write_text(relay_token)
    alertmanager = start_alertmanager(tmp_path / "am", alertmanager_config(
        tmp_path / "alertmanager.yml", server.url, token_file))
    host = stack.gateway.url.removeprefix("http://")
    rules = fast_rules(tmp_path / "rules.yml", "MlGatewayHighErrorRate")
    prometheus = start_prometheus(tmp_path / "prom-alerts", [host], "1s",
                                  rule_files=[str(rules)],
                                  alertmanager=alertmanager.url.removeprefix("http://"))
    try:
        healthy = stack.stable_version()
        # A promoted model goes bad after the job ended: errors become stable.
        stack.target.load("canary", f"models:/{MODEL}/{v['errors']}", timeout=120)
        stack.target.set_canary_weight(100)
        stack.target.promote()
        went_bad = time.monotonic()
        deadline = went_bad + 90
        while stack.stable_version() != healthy and time.monotonic() < deadline:
            time.sleep(0.2)
        assert stack.stable_version() == healthy, (alertmanager.log_tail(), relay.incidents)
        restored_after = time.monotonic() - went_bad
        assert restored_after < 60
        def acted() -> list:
            return [i for i in relay.incidents if i.action == "rolled_back"]

        while not acted() and time.monotonic() < deadline:  # registry, then record
            time.sleep(0.1)
        (incident,) = acted()  # exactly one rollback
        assert incident.alert == "MlGatewayHighErrorRate"
        assert incident.rollback["restored_version"] == healthy
        # the errors also fired for the canary slot (its rate outlives the flip by a window):
        # that alert finds no such canary and changes nothing
        others = [i for i in relay.incidents if i is not incident]
        assert all(i.action in ("not_in_expected_state", "duplicate") for i in others), others
        recorded = [json.loads(x) for x in (tmp_path / "incidents.jsonl").read_text().splitlines()]
        assert [r["rollback"]["action"] for r in recorded if r.get("rollback")
                and r["rollback"].get("action") != "not_in_expected_state"] == \
            ["previous_restored"]
        assert stack.registry.find_alias(MODEL, "champion").version == healthy
        tags = stack.registry.get_tags(MODEL, v["errors"])
        assert tags["rollout.status"] == "rolled_back" and "MlGatewayHighErrorRate" in \
            tags["rollout.reason"]
    finally:
        prometheus.stop()
        alertmanager.stop()
        server.stop()
