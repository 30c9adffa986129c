"""Fixtures of the validate-model / validate-data tests: the fake GitHub server, runners."""

from __future__ import annotations

import io
import json
import os
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pytest

from ml_actions.cli.runner import ActionsRunner
from ml_actions.registry import Registry
from tests.fixtures.github_server import *  # noqa: F403 - the fake_github fixture
from tests.validation import model_builders as mb

REPOSITORY = "acme/fraud-models"

# Spark's Python workers run `python3` from PATH unless told otherwise; outside an activated
# venv that interpreter lacks pandas and every pyfunc UDF fails. (`make test` exports it too.)
os.environ.setdefault("PYSPARK_PYTHON", sys.executable)


def pull_request_event(number: int = 7, fork: bool = False) -> dict:
    """The parts of a real `pull_request` webhook payload that ml-actions reads."""
    head_repo = "contributor/fraud-models" if fork else REPOSITORY
    return {
        "action": "synchronize",
        "number": number,
        "pull_request": {
            "number": number, "state": "open", "title": "Retrain fraud model",
            "head": {"ref": "retrain", "sha": "a" * 40, "repo": {"full_name": head_repo,
                                                                 "fork": fork}},
            "base": {"ref": "main", "sha": "b" * 40, "repo": {"full_name": REPOSITORY}},
        },
        "repository": {"full_name": REPOSITORY, "name": "fraud-models",
                       "owner": {"login": "acme"}},
        "sender": {"login": "alice"},
    }


class RunnerFiles:
    """An ActionsRunner with real GITHUB_OUTPUT / GITHUB_STEP_SUMMARY files to read back."""

    def __init__(self, root: Path, env: dict[str, str]):
        self.root = root
        self.output_path = root / "github_output"
        self.summary_path = root / "step_summary"
        self.output_path.touch()
        self.summary_path.touch()
        self.stream = io.StringIO()
        self.runner = ActionsRunner(env={
            "GITHUB_OUTPUT": str(self.output_path),
            "GITHUB_STEP_SUMMARY": str(self.summary_path),
            "GITHUB_ACTIONS": "true",
            "GITHUB_REPOSITORY": REPOSITORY,
            "GITHUB_ACTOR": "alice",
            "PATH": "/usr/bin:/bin",
            **env,
        }, stream=self.stream)

    def outputs(self) -> dict[str, str]:
        values: dict[str, str] = {}
        lines = self.output_path.read_text().splitlines()
        i = 0
        while i < len(lines):
            name, sep, value = lines[i].partition("=")
            if sep:
                values[name] = value
                i += 1
                continue
            name, _, delimiter = lines[i].partition("<<")
            end = lines.index(delimiter, i + 1)
            values[name] = "\n".join(lines[i + 1:end])
            i = end + 1
        return values

    def summary(self) -> str:
        return self.summary_path.read_text()

    def log(self) -> str:
        return self.stream.getvalue()


@pytest.fixture
def runner_factory(tmp_path):
    """Build runners whose env holds a pull_request event (or none) and extra variables."""
    count = [0]

    def make(event: dict | None = None, **env: str) -> RunnerFiles:
        count[0] += 1
        root = tmp_path / f"runner{count[0]}"
        root.mkdir()
        extra = dict(env)
        if event is not None:
            event_path = root / "event.json"
            event_path.write_text(json.dumps(event))
            extra["GITHUB_EVENT_PATH"] = str(event_path)
            extra.setdefault("GITHUB_EVENT_NAME", "pull_request")
        return RunnerFiles(root, extra)

    return make


CONFIG = """\
registry:
  retries: 1
  backoff_seconds: 0.1
comparison:
  flips:
    max_newly_blocked_rate: 0.5
    max_newly_missed_rate: 0.5
evaluation:
  curve_points: 40
"""
# Slices cost an extra paired pass: only the first end-to-end run asks for them.
SLICED_CONFIG = CONFIG + """\
slices:
  columns: [channel]
  min_size: 50
"""


@dataclass
class Scenario:
    tracking_uri: str
    root: Path
    model: str  # v1 weak sklearn @champion, v2 Spark @challenger, v3 inverted sklearn
    versions: dict[str, str]
    broken: str  # v1 @champion with its artifacts deleted, v2 good @challenger
    odd: str  # versions whose outputs the gate refuses
    odd_versions: dict[str, str]

    @property
    def test_data(self) -> Path:
        return self.root / "test.parquet"

    @property
    def registry(self) -> Registry:
        return Registry(self.tracking_uri, retries=1, backoff_seconds=0.1)

    def args(self, report_dir: Path, *extra: str, model: str | None = None) -> list[str]:
        return ["validate-model", "--model-name", model or self.model, "--test-data",
                str(self.test_data), "--config", str(self.root / "ml-actions.yaml"),
                "--tracking-uri", self.tracking_uri, "--report-dir", str(report_dir), *extra]


@pytest.fixture(scope="session")
def scenario(spark, tracking_uri, mlflow_server, tmp_path_factory) -> Scenario:
    root = tmp_path_factory.mktemp("validate-model")
    (root / "ml-actions.yaml").write_text(CONFIG)
    (root / "sliced.yaml").write_text(SLICED_CONFIG)
    train, test = mb.transactions(600, seed=1), mb.transactions(400, seed=2)
    test.to_parquet(root / "test.parquet")
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment("validation-tests-training")
    suffix = uuid.uuid4().hex[:6]
    client = mlflow.MlflowClient(tracking_uri)
    model, broken, odd = f"fraud_{suffix}", f"fraud_broken_{suffix}", f"fraud_odd_{suffix}"
    versions = {"weak": mb.register_sklearn(model, mb.logistic(train, ("f1",)), train),
                "spark": mb.register_spark(spark, model, train),
                "useless": mb.register_sklearn(model, mb.logistic(train, inverted=True),
                                               train)}
    client.set_registered_model_alias(model, "champion", versions["weak"])
    client.set_registered_model_alias(model, "challenger", versions["spark"])
    gone = mb.register_sklearn(broken, mb.logistic(train), train)
    good = client.copy_model_version(f"models:/{model}/{versions['spark']}", broken).version
    client.set_registered_model_alias(broken, "champion", gone)
    client.set_registered_model_alias(broken, "challenger", good)
    run_id = client.get_model_version(broken, gone).run_id
    assert mb.delete_artifacts(mlflow_server.log_path.parent / "artifacts", run_id) >= 1
    odd_versions = mb.register_bad_outputs(odd, train)
    return Scenario(tracking_uri, root, model, versions, broken, odd, odd_versions)
