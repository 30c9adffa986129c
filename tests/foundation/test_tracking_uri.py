"""A missing or malformed MLflow tracking URI is one line naming the fix, from every command.

Without a URI MLflow falls back to `./mlruns`, whose file store MLflow 3 refuses ("FileStore is
in maintenance mode"), and a scheme-less `127.0.0.1:5000` is read as a folder: both used to
surface as "internal error ... this is a bug". No server is started: the check runs before any
MLflow client exists.
"""

from __future__ import annotations

import io

import pytest

from ml_actions.cli.main import main
from ml_actions.cli.runner import ActionsRunner
from ml_actions.errors import InputError
from ml_actions.registry import usable_tracking_uri

COMMANDS = {
    "validate-model": ["validate-model", "--model-name", "m", "--test-data", "t.parquet"],
    "validate-data": ["validate-data", "--model-name", "m", "--data", "t.parquet"],
    "canary-deploy": ["canary-deploy", "--model-name", "m", "--candidate", "1", "--target-url",
                      "http://127.0.0.1:9", "--prometheus-url", "http://127.0.0.1:9"],
}


def run(argv: list[str], tmp_path) -> tuple[int, list[str], str]:
    stream = io.StringIO()
    runner = ActionsRunner(env={"PATH": "/usr/bin:/bin", "GITHUB_ACTIONS": "true",
                                "GITHUB_OUTPUT": str(tmp_path / "out"),
                                "GITHUB_STEP_SUMMARY": str(tmp_path / "summary")},
                           stream=stream)
    code = main([*argv, "--report-dir", str(tmp_path / "reports")], runner=runner)
    log = stream.getvalue()
    return code, [line for line in log.splitlines() if line.startswith("::error")], log


@pytest.fixture(autouse=True)
def no_tracking_env(monkeypatch, tmp_path):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    monkeypatch.chdir(tmp_path)  # a stray ./mlruns must not be created either


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_unset_tracking_uri_is_one_line_naming_the_flag_and_the_variable(command, tmp_path):
    code, errors, log = run(COMMANDS[command], tmp_path)
    assert code == 2, log
    assert len(errors) == 1, log
    assert "no MLflow tracking URI" in errors[0] and "--tracking-uri" in errors[0]
    assert "$MLFLOW_TRACKING_URI" in errors[0] and "http://127.0.0.1:5000" in errors[0]
    assert "internal error" not in log and "maintenance" not in log
    assert not (tmp_path / "mlruns").exists()


@pytest.mark.parametrize("command", sorted(COMMANDS))
@pytest.mark.parametrize("uri", ["127.0.0.1:5000", "localhost:5000", "mlflow.internal:443/api"])
def test_scheme_less_uri_says_which_scheme_to_add(command, uri, tmp_path):
    code, errors, log = run([*COMMANDS[command], "--tracking-uri", uri], tmp_path)
    assert code == 2, log
    assert len(errors) == 1 and f"has no scheme; write http://{uri}" in errors[0], log
    assert "internal error" not in log


def test_usable_uris_pass_and_the_rest_name_the_fix(monkeypatch):
    for uri in ("http://127.0.0.1:5000", "https://mlflow.example.com/x", "sqlite:///m.db",
                "postgresql://u@db/mlflow", "databricks", "databricks://profile"):
        assert usable_tracking_uri(uri) == uri
    with pytest.raises(InputError, match="local folder .* MLFLOW_ALLOW_FILE_STORE=true"):
        usable_tracking_uri("./mlruns")
    with pytest.raises(InputError, match="local folder"):
        usable_tracking_uri("file:///tmp/mlruns")
    with pytest.raises(InputError, match="scheme 'htp'"):
        usable_tracking_uri("htp://127.0.0.1:5000")
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    assert usable_tracking_uri("file:///tmp/mlruns") == "file:///tmp/mlruns"
