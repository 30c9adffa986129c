"""A newcomer's first hour with template/, run from its README's own commands.

The README used to leave them stuck: no way to run the tests (six unknown-marker warnings), no
MLflow to start, no command for the first champion, a `POST /admin/load` without the bearer
token (401), no request format nor `/readyz`, no `.gitignore`. Here the commands are taken
from the README's code blocks and run against real services: the champion alias command
against MLflow, the gateway calls against a real gateway, the request it builds through the
gateway's own parser; a copy of the folder is tested as a fresh repository.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import uuid

import httpx
import pandas as pd
import pytest

from tests.contract.conftest import ROOT

pytestmark = pytest.mark.integration
README = (ROOT / "template" / "README.md").read_text(encoding="utf-8")
TOKEN = "first-hour-token"


def bash_block(marker: str) -> str:
    """The README's ```bash block holding `marker`."""
    blocks = re.findall(r"```bash\n(.*?)```", README, re.S)
    found = [b for b in blocks if marker in b]
    assert len(found) == 1, f"one bash block with {marker!r} expected in template/README.md"
    return found[0]


def run_bash(script: str, cwd, **env: str) -> subprocess.CompletedProcess:
    full = {**os.environ, "PATH": f"{os.path.dirname(sys.executable)}:{os.environ['PATH']}",
            **env}
    return subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=cwd, env=full,
                          capture_output=True, text=True, timeout=120)


def test_the_readme_says_how_to_run_tests_start_mlflow_and_serve():
    assert 'pytest -m "not integration"' in bash_block("pytest")
    assert "mlflow server --backend-store-uri sqlite:///mlflow.db" in bash_block("mlflow server")
    serve = bash_block("/admin/load")
    assert '-H "Authorization: Bearer $ML_ACTIONS_ADMIN_TOKEN"' in serve
    assert "/readyz" in serve and "ml-actions gateway serve" in serve


def test_champion_alias_and_gateway_calls_work_as_written(tracking_uri, gateway_factory,
                                                          tmp_path):
    from mlflow.tracking import MlflowClient

    from tests.serving.model_zoo import FEATURES, fraud_frame, register_sklearn

    name = f"first_hour_{uuid.uuid4().hex[:6]}"
    version = register_sklearn(tracking_uri, name)
    client = MlflowClient(tracking_uri, tracking_uri)
    client.set_registered_model_alias(name, "validated", version)  # what a passed gate sets
    alias = bash_block("set_registered_model_alias").replace("fraud_detector", name)
    done = run_bash(alias, tmp_path, MLFLOW_TRACKING_URI=tracking_uri)
    assert done.returncode == 0, done.stderr
    assert client.get_model_version_by_alias(name, "champion").version == version

    gateway = gateway_factory(tracking_uri, TOKEN)
    calls = "\n".join(line for line in bash_block("/admin/load").replace("\\\n", " ")
                      .splitlines() if line.startswith("curl"))
    calls = calls.replace("http://127.0.0.1:8080", gateway.url).replace("fraud_detector", name)
    unauthorised = calls.replace('-H "Authorization: Bearer $ML_ACTIONS_ADMIN_TOKEN"', "")
    refused = run_bash(unauthorised.splitlines()[0] + " -o /dev/null -w '%{http_code}'",
                       tmp_path, ML_ACTIONS_ADMIN_TOKEN=TOKEN)
    assert refused.stdout == "401"
    loaded = run_bash(calls.splitlines()[0], tmp_path, ML_ACTIONS_ADMIN_TOKEN=TOKEN)
    assert json.loads(loaded.stdout)["slot"] == "stable", loaded.stdout + loaded.stderr
    from tests.fixtures.gateway import wait_ready

    wait_ready(gateway)
    ready = run_bash(calls.splitlines()[1], tmp_path)
    assert json.loads(ready.stdout) == {"status": "ready", "stable": f"models:/{name}/{version}"}

    rows = fraud_frame(2, seed=3)[FEATURES]
    body = {"dataframe_split": json.loads(rows.to_json(orient="split", index=False))}
    answer = httpx.post(f"{gateway.url}/invocations", json=body, timeout=30)
    assert answer.status_code == 200
    assert set(answer.json()) == {"predictions", "decisions"}  # the README's answer
    assert set(answer.json()["decisions"]) <= {"fraud", "legit"}
    assert answer.headers["X-Model-Variant"] == "stable"
    assert answer.headers["X-Model-Version"] == version


def test_the_request_the_readme_builds_is_what_the_gateway_reads(tmp_path):
    sys.path.insert(0, str(ROOT / "template"))
    from ml_actions.serving.protocols import parse_invocations
    from ml_pipeline.features import feature_columns

    columns = ["TRANSACTION_ID", "CUSTOMER_ID", *feature_columns(), "fraud_label"]
    (tmp_path / "data").mkdir()
    pd.DataFrame([[i + 0.5 if c not in ("CUSTOMER_ID", "TRANSACTION_ID") else i
                   for c in columns] for i in range(3)], columns=columns).to_parquet(
        tmp_path / "data" / "test")
    build = bash_block("request.json").split("\ncurl")[0]
    done = run_bash(build, tmp_path, PYTHONPATH=str(ROOT / "template"))
    assert done.returncode == 0, done.stderr
    parsed = parse_invocations(json.loads((tmp_path / "request.json").read_text()), 100)
    assert list(parsed.frame.columns) == ["CUSTOMER_ID", *feature_columns()]
    assert len(parsed.frame) == 2 and parsed.first_row()["CUSTOMER_ID"] == 0


@pytest.fixture(scope="module")
def copied_template(tmp_path_factory):
    """template/ copied as a fresh repository, the way a team adopts it."""
    copy = tmp_path_factory.mktemp("adopted") / "fraud-models"
    shutil.copytree(ROOT / "template", copy, ignore=shutil.ignore_patterns(
        "__pycache__", ".pytest_cache"))
    subprocess.run(["git", "init", "-q"], cwd=copy, check=True)
    return copy


def test_nothing_a_first_hour_writes_shows_up_in_git(copied_template):
    generated = ["data/transactions.parquet", "data/test/part-0.parquet", "mlflow.db",
                 "mlartifacts/1/a/model.pkl", "mlruns/0/meta.yaml", ".ml-actions/gateway/x",
                 "request.json", "spark-warehouse/t/x", "metastore_db/x", "derby.log",
                 "ml_pipeline/__pycache__/x.pyc", ".pytest_cache/v", "validation-report.json",
                 "validation-roc.png"]
    for path in generated:
        (copied_template / path).parent.mkdir(parents=True, exist_ok=True)
        (copied_template / path).write_text("generated")
    status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"],
                            cwd=copied_template, capture_output=True, text=True, check=True)
    listed = {line[3:] for line in status.stdout.splitlines()}
    assert listed.isdisjoint(generated), sorted(listed & set(generated))
    assert "ml_pipeline/train.py" in listed and ".gitignore" in listed  # the sources are not


def test_the_template_tests_run_in_a_copy_without_unknown_markers(copied_template):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q",
                           "--strict-markers", "-m", "not integration", "-p",
                           "no:cacheprovider", "tests"], cwd=copied_template, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "PytestUnknownMarkWarning" not in done.stdout + done.stderr


def test_the_template_folder_holds_no_generated_file():
    tracked = subprocess.run(["git", "ls-files", "template"], cwd=ROOT, capture_output=True,
                             text=True, check=True).stdout.splitlines()
    untracked = subprocess.run(["git", "ls-files", "--others", "--exclude-standard",
                                "template"], cwd=ROOT, capture_output=True, text=True,
                               check=True).stdout.splitlines()
    generated = re.compile(r"(^|/)(data|mlruns|mlartifacts|spark-warehouse|metastore_db|"
                           r"__pycache__|\.ml-actions)/|\.(db|parquet|log|pyc)$")
    assert not [p for p in tracked + untracked if generated.search(p)]
