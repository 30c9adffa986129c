"""Every verdict lists what decided it, in the JSON, the job log, the summary and the PR comment.

The gate used to block on an inconclusive comparison while saying "0 of 13 checks failed: ."
with `failed_checks: []` and no error line; under `comparison.inconclusive: warn` the same
check vanished although the README promised a warning.
"""

from __future__ import annotations

import json

import pytest

from ml_actions.cli.main import main
from tests.validation.conftest import pull_request_event

pytestmark = pytest.mark.integration

# The scenario's test set holds ~80 frauds: the AUC comparison asks for 1 000 of them, and
# nothing else can block (loose bars and tolerances), so the inconclusive check alone decides.
FEW_FRAUDS = """\
registry:
  retries: 1
  backoff_seconds: 0.1
evaluation:
  curve_points: 40
thresholds:
  staging: {auc_roc: 0.5, precision: 0.1, recall: 0.1, f1_score: 0.1}
comparison:
  min_positives: 1000
  alert_rate_max_regression: 0.5
  flips:
    max_newly_blocked_rate: 0.5
    max_newly_missed_rate: 0.5
"""


@pytest.fixture
def few_frauds(scenario, tmp_path):
    path = tmp_path / "few-frauds.yaml"
    path.write_text(FEW_FRAUDS)
    return ["--config", str(path)]


def test_a_gate_blocked_by_an_inconclusive_check_names_it_everywhere(
        scenario, few_frauds, fake_github, runner_factory, tmp_path):
    files = runner_factory(pull_request_event(9), GITHUB_API_URL=fake_github.base_url,
                           GITHUB_TOKEN="ghs_test")
    code = main(scenario.args(tmp_path, "--environment", "staging") + few_frauds,
                runner=files.runner)
    assert code == 1, files.log()
    report = json.loads((tmp_path / "validation-report.json").read_text())
    auc = next(c for c in report["checks"] if c["name"] == "auc_vs_champion")
    assert auc["status"] == "inconclusive" and report["verdict"] == "failed"
    assert report["failed_checks"] == ["auc_vs_champion"]  # was [] although it blocked
    blocking = {b["name"]: b for b in report["blocking_checks"]}
    assert blocking["auc_vs_champion"]["status"] == "inconclusive"
    assert blocking["auc_vs_champion"]["resolve"].startswith("at least 1000 frauds in the test")
    errors = [line for line in files.log().splitlines() if line.startswith("::error")]
    assert any(line.startswith("::error title=validate-model::auc_vs_champion (inconclusive)")
               and "to resolve: at least 1000 frauds" in line for line in errors), files.log()
    headline = "checks block the gate: auc\\_vs\\_champion (inconclusive)."
    for markdown in (files.summary(), fake_github.state.comments[9][0]["body"]):
        assert "**Verdict: failed.** 1 of " in markdown and headline in markdown
        assert "| Blocking check | Status | Why | What would resolve it |" in markdown
        assert "at least 1000 frauds in the test set" in markdown


def test_under_warn_the_inconclusive_check_is_a_warning_everywhere(
        scenario, few_frauds, runner_factory, tmp_path):
    files = runner_factory()
    code = main(scenario.args(tmp_path, "--environment", "dev") + few_frauds,
                runner=files.runner)
    assert code == 0, files.log()  # dev: comparison.inconclusive is warn
    report = json.loads((tmp_path / "validation-report.json").read_text())
    assert report["verdict"] == "passed" and report["failed_checks"] == []
    assert report["blocking_checks"] == []
    assert any(w.startswith("auc_vs_champion (inconclusive): ") and
               "to resolve: at least 1000 frauds" in w for w in report["warnings"])
    assert "::warning title=validate-model::auc_vs_champion (inconclusive): " in files.log()
    summary = files.summary()
    assert "warning(s) below" in summary and "> auc\\_vs\\_champion \\(inconclusive\\)" in summary
