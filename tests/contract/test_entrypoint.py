"""Each action's entrypoint, run exactly as the runner runs it inside the container.

No flags: the subcommand from `runs.args`, inputs as `INPUT_<NAME>` (hyphens kept), a real
`pull_request` event, `GITHUB_OUTPUT` / `GITHUB_STEP_SUMMARY` files (runner_emulation.py).
Against real services: the session MLflow server, real Spark in the command's own process,
the gateway as a subprocess. Per action, across its scenarios: every output declared in
action.yml is written, nothing undeclared is written, and every input is read by the command.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import httpx
import pandas as pd
import pytest
import yaml

from tests.contract.conftest import ROOT, action_yml, command_or_skip
from tests.contract.runner_emulation import ActionRun, run_action

pytestmark = pytest.mark.integration
ADMIN_TOKEN = "contract-admin-token"


def assert_contract(name: str, runs: list[ActionRun], unread_ok: set[str] = frozenset()) -> None:
    """Outputs written == declared (over all runs); every declared input read by some run."""
    meta = action_yml(name)
    written = set().union(*(set(r.outputs) for r in runs))
    declared = set(meta["outputs"])
    assert declared - written == set(), f"{name}: outputs declared but never written"
    assert written - declared == set(), f"{name}: outputs written but not in action.yml"
    read = set().union(*(r.inputs_read for r in runs))
    unread = {i for i in meta["inputs"] if i.replace("-", "_") not in read} - set(unread_ok)
    assert not unread, f"{name}: inputs in action.yml the command never reads: {sorted(unread)}"


def resolve(run: ActionRun, path: str) -> Path:
    return Path(path) if Path(path).is_absolute() else run.workspace / path


# -- validate-data --------------------------------------------------------------------------
def transactions(rows: int = 400) -> pd.DataFrame:
    from tests.serving.model_zoo import fraud_frame

    frame = fraud_frame(rows, seed=3).rename(columns={"TX_FRAUD": "fraud_label"})
    frame.insert(0, "TRANSACTION_ID", range(rows))
    return frame


def test_validate_data_as_the_runner_runs_it(tmp_path):
    command_or_skip("validate-data")
    ws = tmp_path / "workspace"
    (ws / "data").mkdir(parents=True)
    transactions().to_parquet(ws / "data" / "transactions.parquet")
    (ws / "schema.yaml").write_text(yaml.safe_dump({
        "columns": {"TX_AMOUNT": {"type": "double", "min": 0}, "CUSTOMER_ID": {"type": "bigint"}},
        "label": {"column": "fraud_label", "values": [0, 1]},
        "key_columns": ["TRANSACTION_ID"]}))
    ok = run_action("validate-data", ws, {"data": "data/transactions.parquet",
                                          "schema": "schema.yaml", "report-dir": "reports"})
    assert ok.returncode == 0, ok.log
    assert ok.outputs["passed"] == "true"
    report = json.loads(resolve(ok, ok.outputs["report-path"]).read_text())
    assert report["passed"] is True
    assert "validate-data" in ok.summary and "passed" in ok.summary
    assert "::error" not in ok.log
    assert_contract("validate-data", [ok])


def test_a_missing_required_input_is_one_error_line_and_exit_2(tmp_path):
    """The real console script, unpatched: the runner does not enforce `required`, we do."""
    command_or_skip("validate-data")
    run = run_action("validate-data", tmp_path / "ws", {}, traced=False, timeout=60)
    assert run.returncode == 2
    errors = [line for line in run.log.splitlines() if line.startswith("::error")]
    assert len(errors) == 1 and "data" in errors[0] and "Traceback" not in run.log
    assert run.outputs == {}


# -- validate-model -------------------------------------------------------------------------
def register_candidate(tracking_uri: str, name: str) -> str:
    from mlflow.tracking import MlflowClient

    from tests.serving.model_zoo import register_sklearn

    version = register_sklearn(tracking_uri, name, seed=1)
    MlflowClient(tracking_uri, tracking_uri).set_registered_model_alias(name, "challenger",
                                                                        version)
    return version


def test_validate_model_as_the_runner_runs_it(tmp_path, tracking_uri, fake_github):
    command_or_skip("validate-model")
    from tests.serving.model_zoo import FEATURES

    name = "contract_validate_model"
    version = register_candidate(tracking_uri, name)
    ws = tmp_path / "workspace"
    (ws / "data").mkdir(parents=True)
    transactions(3000)[FEATURES + ["fraud_label"]].to_parquet(ws / "data" / "test.parquet")
    common = {"model-name": name, "test-data": "data/test.parquet",
              "tracking-uri": tracking_uri, "report-dir": "reports"}
    github = {"GITHUB_API_URL": fake_github.base_url}
    lenient = "auc_roc=0.5,precision=0.0,recall=0.0,f1_score=0.0"
    passed = run_action("validate-model", ws, {**common, "thresholds": lenient}, github)
    assert passed.returncode == 0, passed.log
    assert passed.outputs["passed"] == "true" and passed.outputs["run-id"]
    assert 0.5 < float(passed.outputs["auc-roc"]) <= 1.0
    report = json.loads(resolve(passed, passed.outputs["report-path"]).read_text())
    assert report["model"] == {"name": name, "version": version} or (
        report["model"]["name"] == name and str(report["model"]["version"]) == version)
    assert report["passed"] is True and report["mlflow_run_id"] == passed.outputs["run-id"]
    assert name.replace("_", "\\_") in passed.summary  # Markdown-escaped
    comments = fake_github.state.comments.get(7, [])  # the PR of the event fixture
    assert len(comments) == 1 and passed.outputs["comment-url"]
    assert "<script>" not in comments[0]["body"]

    fake_github.state.forbid_writes = True  # a fork's read-only token: HTTP 403
    ws2 = tmp_path / "workspace2"
    (ws2 / "data").mkdir(parents=True)
    (ws2 / "data" / "test.parquet").write_bytes((ws / "data" / "test.parquet").read_bytes())
    (ws2 / "ml-actions.yaml").write_text("validation:\n  experiment_name: contract-tests\n")
    failed = run_action("validate-model", ws2, {
        **common, "thresholds": "auc_roc=0.999", "candidate": version,
        "champion-alias": "champion", "label-column": "fraud_label", "config": "ml-actions.yaml",
        "environment": "staging", "override-reason": ""}, github)
    assert failed.returncode == 1, failed.log
    assert failed.outputs["passed"] == "false"
    comment_file = resolve(failed, failed.outputs["comment-path"])
    assert comment_file.read_text().startswith("<!-- ml-actions:")
    assert len(fake_github.state.comments.get(7, [])) == 1  # unchanged: the 403 was handled
    assert_contract("validate-model", [passed, failed])


# -- rollback -------------------------------------------------------------------------------
def two_versions(tracking_uri: str, name: str) -> tuple[str, str]:
    from tests.serving.model_zoo import register_sklearn

    return register_sklearn(tracking_uri, name, seed=1), register_sklearn(tracking_uri, name,
                                                                          seed=2, c=0.1)


def test_rollback_as_the_runner_runs_it(tmp_path, tracking_uri, gateway_factory):
    command_or_skip("rollback")
    from mlflow.tracking import MlflowClient

    from ml_actions.targets.gateway import GatewayTarget

    name = "contract_rollback"
    stable, canary = two_versions(tracking_uri, name)
    client = MlflowClient(tracking_uri, tracking_uri)
    client.set_registered_model_alias(name, "champion", stable)
    client.set_registered_model_alias(name, "canary", canary)
    gateway = gateway_factory(tracking_uri, ADMIN_TOKEN)
    target = GatewayTarget(gateway.url, token=ADMIN_TOKEN)
    target.load("stable", f"models:/{name}/{stable}")
    target.load("canary", f"models:/{name}/{canary}")
    target.set_canary_weight(25)
    run = run_action("rollback", tmp_path / "workspace", {
        "model-name": name, "target-url": gateway.url, "reason": "contract test",
        "tracking-uri": tracking_uri, "report-dir": "reports", "environment": "dev"},
        {"ML_ACTIONS_ADMIN_TOKEN": ADMIN_TOKEN})
    assert run.returncode == 0, run.log
    assert run.outputs["restored-version"] == stable
    assert float(run.outputs["rollback-seconds"]) < 30
    state = target.state()
    assert state.canary_weight == 0
    assert resolve(run, "reports/rollback-report.json").is_file()
    assert "Rollback" in run.summary
    assert client.get_model_version(name, canary).tags.get("rollout.status") == "rolled_back"
    # to-version and config are read whether given or not; one run covers every input
    assert_contract("rollback", [run])


# -- monitor --------------------------------------------------------------------------------
def test_monitor_as_the_runner_runs_it(tmp_path, tracking_uri, gateway_factory):
    """A degraded champion rolled back through a real gateway: the warm previous champion
    serves stable again and the registry's `champion` alias moves back to it."""
    command_or_skip("monitor")
    import datetime as dt

    from mlflow.tracking import MlflowClient

    from ml_actions.targets.gateway import GatewayTarget
    from tests.fixtures.label_weeks import Traffic
    from tests.monitoring.constructed_logs import Scenario, write_scenario

    name = "contract_monitor"
    old, new = two_versions(tracking_uri, name)
    client = MlflowClient(tracking_uri, tracking_uri)
    gateway = gateway_factory(tracking_uri, ADMIN_TOKEN)
    target = GatewayTarget(gateway.url, token=ADMIN_TOKEN)
    target.load("stable", f"models:/{name}/{old}")
    target.load("canary", f"models:/{name}/{new}")
    target.set_canary_weight(100)
    target.promote()  # v-new serves stable, v-old stays warm in `previous`
    client.set_registered_model_alias(name, "champion", new)
    client.set_registered_model_alias(name, "previous-champion", old)
    ws = tmp_path / "workspace"
    worse = Traffic(rows_per_day=1500, fraud_rate=0.03, noise=0.1, shared_noise=1.0,
                    new_signal=1.2)
    write_scenario(ws, Scenario(champion=new, predecessor=old, days=6, traffic=worse,
                                model_name=name), dt.datetime.now(dt.UTC))
    (ws / "ml-actions.yaml").write_text("monitor:\n  max_auc_drop: 0.01\n")
    run = run_action("monitor", ws, {
        "model-name": name, "prediction-log": "prediction-log", "labels": "labels.parquet",
        "label-maturity": "7d", "target-url": gateway.url, "tracking-uri": tracking_uri,
        "environment": "dev", "config": "ml-actions.yaml", "report-dir": "reports"},
        {"ML_ACTIONS_ADMIN_TOKEN": ADMIN_TOKEN})
    assert run.returncode == 1, run.log
    assert run.outputs["verdict"] == "degraded" and run.outputs["rolled-back"] == "true"
    report = json.loads(resolve(run, run.outputs["report-path"]).read_text())
    assert report["rollback"]["action"] == "previous_restored"
    assert report["metrics"][new]["source"] == "served"
    assert report["metrics"][old]["source"] == "shadow"  # it only shadow-scored in the log
    assert report["metrics"][old]["recall"] > report["metrics"][new]["recall"]
    assert target.state().slot("stable").model_version == old
    assert client.get_model_version_by_alias(name, "champion").version == old
    assert "Label-delayed gate: degraded" in run.summary
    assert resolve(run, "reports/ml_actions_monitor.prom").is_file()
    assert_contract("monitor", [run])


# -- canary-deploy --------------------------------------------------------------------------
class Traffic:
    """A background client sending keyed requests to the gateway until stopped."""

    def __init__(self, url: str, rate: float = 60.0):
        from tests.serving.model_zoo import FEATURES, fraud_frame

        self.url, self.delay = url, 1.0 / rate
        self.rows = fraud_frame(500, seed=9)[["CUSTOMER_ID", *FEATURES]]
        self.sent = self.failed = 0
        self.stop_event = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        with httpx.Client(timeout=10) as client:
            i = 0
            while not self.stop_event.is_set():
                row = self.rows.iloc[[i % len(self.rows)]]
                body = {"dataframe_split": json.loads(row.to_json(orient="split", index=False))}
                try:
                    ok = client.post(f"{self.url}/invocations", json=body).status_code < 500
                except httpx.HTTPError:
                    ok = False
                self.sent += 1
                self.failed += 0 if ok else 1
                i += 1
                time.sleep(self.delay)

    def __enter__(self) -> Traffic:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop_event.set()
        self.thread.join(timeout=15)


def test_canary_deploy_as_the_runner_runs_it(tmp_path, tracking_uri, gateway_factory,
                                             prometheus_factory):
    command_or_skip("canary-deploy")
    from mlflow.tracking import MlflowClient

    from ml_actions.targets.gateway import GatewayTarget

    name = "contract_canary"
    stable, candidate = two_versions(tracking_uri, name)
    MlflowClient(tracking_uri, tracking_uri).set_registered_model_alias(name, "champion", stable)
    gateway = gateway_factory(tracking_uri, ADMIN_TOKEN)
    GatewayTarget(gateway.url, token=ADMIN_TOKEN).load("stable", f"models:/{name}/{stable}")
    prometheus = prometheus_factory([gateway.url.removeprefix("http://")], "1s")
    ws = tmp_path / "workspace"
    ws.mkdir()
    (ws / "ml-actions.yaml").write_text(yaml.safe_dump({
        "analysis": {"interval": "1s", "scrape_interval": "1s",
                     "inconclusive_timeout": "6s"}}))
    with Traffic(gateway.url) as traffic:
        run = run_action("canary-deploy", ws, {
            "model-name": name, "candidate": candidate, "target-url": gateway.url,
            "prometheus-url": prometheus.url, "config": "ml-actions.yaml", "environment": "dev",
            "tracking-uri": tracking_uri, "report-dir": "reports", "github-token": "",
            "skip-validation-check": "true", "steps": "50,100", "interval": "3s",
            "bake": "2s"}, {"ML_ACTIONS_ADMIN_TOKEN": ADMIN_TOKEN})
    assert run.returncode in (0, 1), run.log
    result = run.outputs["result"]
    assert result in ("promoted", "rolled_back", "inconclusive")
    assert (result == "promoted") == (run.returncode == 0)
    report = json.loads(resolve(run, run.outputs["report-path"]).read_text())
    assert report["result"] == result and report["steps"]
    assert (run.outputs["rollback-seconds"] == "") == (result == "promoted")
    assert traffic.sent > 0 and traffic.failed == 0
    assert result.replace("_", " ") in run.summary.lower() or result in run.summary
    assert_contract("canary-deploy", [run])


def test_every_action_has_an_entrypoint_test():
    names = {p.parent.name for p in (ROOT / "actions").glob("*/action.yml")}
    tested = {"validate-data", "validate-model", "rollback", "canary-deploy", "monitor"}
    assert names <= tested, f"actions without an entrypoint contract test: {names - tested}"
