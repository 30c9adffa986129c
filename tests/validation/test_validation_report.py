"""Report JSON, Markdown and curve images from hand-built results (no Spark, no MLflow)."""

from __future__ import annotations

import json

import pytest

from ml_actions.config.validation import ValidationConfig
from ml_actions.validation.report import (
    PR_PNG,
    ROC_PNG,
    build_report,
    metric_rows,
    plot_curves,
    render_markdown,
    write_reports,
)
from ml_actions.validation.results import CheckResult
from ml_actions.validation.roc_chart import roc_chart
from tests.validation.reports_data import context, decision, evaluation


def test_json_report_has_the_contract_fields():
    report = build_report(evaluation(), decision(), context())
    assert report["passed"] is True and report["verdict"] == "passed"
    assert report["model"] == {"name": "fraud_detector", "version": "3", "run_id": "r3",
                               "uri": "models:/fraud_detector/3"}
    assert set(report["metrics"]) >= {"auc_roc", "auc_pr", "precision", "recall", "f1_score"}
    assert report["champion"]["version"] == "2"
    assert report["champion"]["metrics"]["auc_roc"] == 0.93
    assert {"name", "status", "actual", "threshold", "message"} <= set(report["checks"][0])
    assert report["checks"][2]["interval"] == [0.005, 0.035]
    assert report["mlflow_run_id"] == "run123" and report["environment"] == "prod"
    assert report["config"]["digest"] == "cfg0001"
    assert report["test_data"]["digest"] == "abc123" and report["test_data"]["rows"] == 1000
    assert report["override"] is None and report["failed_checks"] == []
    assert report["timings"]["evaluation_seconds"] == 1.5
    json.dumps(report)  # serialisable as is


def test_no_champion_gives_null_and_a_note():
    report = build_report(evaluation(champion=False), decision(), context(champion=False))
    assert report["champion"] is None and report["curves"]["champion"] is None
    markdown = render_markdown(report, ValidationConfig())
    assert "No champion" in markdown
    assert all(row["champion"] is None and row["delta"] is None for row in metric_rows(report))


def test_failed_report_names_the_failed_check():
    report = build_report(evaluation(), decision(passed=False), context())
    assert report["passed"] is False and report["failed_checks"] == ["precision"]
    markdown = render_markdown(report, ValidationConfig())
    assert "— failed (prod)" in markdown and "**Verdict: failed.** 1 of 3" in markdown
    precision = next(r for r in metric_rows(report) if r["name"] == "precision")
    assert precision["status"] == "fail" and precision["mark"] == "❌"


def test_override_is_recorded_and_user_strings_are_escaped():
    report = build_report(evaluation(), decision(passed=False, overridden=True), context())
    assert report["passed"] is True and report["verdict"] == "overridden"
    assert report["override"] == {"reason": "hotfix for incident #42 <script>",
                                  "actor": "alice", "failed_checks": ["precision"]}
    markdown = render_markdown(report, ValidationConfig())
    assert "Break-glass override by **alice**" in markdown
    assert "<script>" not in markdown and "\\<script\\>" in markdown
    assert "<b>vs</b>" not in markdown  # check messages escaped too
    assert "band \\| 0" in markdown  # a pipe in a segment cannot break the table


def test_markdown_table_mermaid_confusion_slices_and_link():
    report = build_report(evaluation(slices=40), decision(), context())
    markdown = render_markdown(report, ValidationConfig(max_slice_rows=5))
    auc_line = next(line for line in markdown.splitlines() if line.startswith("| auc\\_roc"))
    assert "0.9500" in auc_line and "0.9300" in auc_line and "+0.0200" in auc_line
    assert "[+0.0050, +0.0350]" in auc_line and "≥ 0.9200" in auc_line and "✅" in auc_line
    assert "```mermaid\nxychart-beta" in markdown
    assert 'x-axis "False positive rate (log scale)" ["0.2%", "0.5%"' in markdown
    assert markdown.count("    line [") == 2
    assert "| **Actual fraud** | 85 | 15 |" in markdown
    assert "| **Actual legitimate** | 9 | 891 |" in markdown
    assert "35 more segment(s)" in markdown
    assert "| amount\\_band | band \\| 0 | 100 | 10 | 0.9000 | 0.8800 | +0.0200 | – | yes |" \
        in markdown
    assert "| band \\| 1 | 101 | 10 | 0.9000 | 0.8800 | – | – | too small |" in markdown
    assert "[run123](http://mlflow/#/experiments/1/runs/run123)" in markdown
    assert len(markdown) < 65536


def test_roc_chart_shows_the_low_false_positive_range_on_a_log_scale():
    """Fraud models operate at a fraction of a percent of false positives: the chart's grid is
    log-scaled from 1 / legitimate rows (900 here) to 1, and names the operating points."""
    report = build_report(evaluation(), decision(), context())
    chart = roc_chart(report, 16)
    assert chart["x"] == ["0.2%", "0.5%", "1%", "2%", "5%", "10%", "20%", "50%", "100%"]
    candidate = chart["series"][0]["values"]
    assert candidate[0] == pytest.approx(0.6 * 0.002 / 0.05, abs=1e-3)  # on the first segment
    assert candidate[-1] == 1.0 and candidate == sorted(candidate)
    assert chart["operating"][0] == {"who": "candidate", "fpr": "1%", "tpr": 0.85}
    markdown = render_markdown(report, ValidationConfig())
    assert 'x-axis "False positive rate (log scale)" ["0.2%", "0.5%", "1%"' in markdown
    assert ("Line 1: candidate; Line 2: champion.\n\nOperating points (decision threshold): "
            "candidate false positive rate 1%, true positive rate 0.850; champion") in markdown
    assert len(roc_chart(report, 4)["x"]) == 4  # the lowest steps dropped first
    report["curves"]["candidate"]["roc"] = []
    report["curves"]["champion"] = None
    assert roc_chart(report, 16) is None


def test_files_and_pngs_are_written(tmp_path):
    report = build_report(evaluation(), decision(), context())
    json_path, md_path = write_reports(report, "# md\n", tmp_path / "out")
    assert json.loads(json_path.read_text())["passed"] is True
    assert md_path.read_text() == "# md\n"
    images = plot_curves(evaluation(), tmp_path / "png")
    assert [p.name for p in images] == [ROC_PNG, PR_PNG]
    for image in images:
        assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and image.stat().st_size > 5000


def inconclusive_decision(policy: str):
    """The AUC comparison stays inconclusive (too few frauds); `policy` is
    comparison.inconclusive, so the same evidence blocks (fail) or warns (warn)."""
    made = decision()
    made.checks.append(CheckResult(
        "auc_vs_champion_small", "inconclusive", 0.001, -0.005,
        "only 12 frauds (need 30); minimum detectable effect 0.0400", sample_size=12,
        details={"resolve": "at least 30 frauds in the test set (it has 12)"}))
    if policy == "fail":
        made.passed, made.blocking = False, ["auc_vs_champion_small"]
    return made


def test_a_gate_blocked_by_an_inconclusive_check_names_it_and_its_resolution():
    report = build_report(evaluation(), inconclusive_decision("fail"), context())
    assert report["passed"] is False and report["failed_checks"] == ["auc_vs_champion_small"]
    assert report["blocking_checks"] == [{
        "name": "auc_vs_champion_small", "status": "inconclusive",
        "message": "only 12 frauds (need 30); minimum detectable effect 0.0400",
        "resolve": "at least 30 frauds in the test set (it has 12)"}]
    markdown = render_markdown(report, ValidationConfig())
    assert ("**Verdict: failed.** 1 of 4 checks block the gate: auc\\_vs\\_champion\\_small "
            "(inconclusive).") in markdown
    assert "| auc\\_vs\\_champion\\_small | ❔ inconclusive |" in markdown
    assert "at least 30 frauds in the test set \\(it has 12\\) |" in markdown


def test_an_inconclusive_check_under_warn_is_listed_under_warnings():
    report = build_report(evaluation(), inconclusive_decision("warn"), context())
    assert report["passed"] is True and report["failed_checks"] == []
    assert report["blocking_checks"] == []
    assert report["warnings"] == [
        "auc_vs_champion_small (inconclusive): only 12 frauds (need 30); minimum detectable "
        "effect 0.0400; to resolve: at least 30 frauds in the test set (it has 12)"]
    markdown = render_markdown(report, ValidationConfig())
    assert "**Verdict: passed.** None of the 4 checks blocks the gate (1 warning(s) below)" \
        in markdown
    assert "> [!WARNING]\n> auc\\_vs\\_champion\\_small \\(inconclusive\\)" in markdown
