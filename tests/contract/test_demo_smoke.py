"""The demo is too slow for the suite; these check it starts, finds its pieces and reports."""

from __future__ import annotations

import subprocess
import sys
from types import SimpleNamespace

from demo.pieces import missing_pieces
from demo.report import Rollout, render_table
from demo.traffic import PhaseCounts
from ml_actions.cli.runner import parse_output_file
from tests.contract.conftest import ROOT


def test_python_m_demo_help():
    result = subprocess.run([sys.executable, "-m", "demo", "--help"], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "--rate" in result.stdout and "--out" in result.stdout


def test_missing_pieces_are_named():
    for piece in missing_pieces():  # empty once every issue has landed
        assert piece.startswith(("command `ml-actions", "module ml_pipeline", "the prometheus",
                                 "a Java 17"))
        assert "issue" in piece or "install" in piece


def test_output_file_parser_reads_heredoc_values():
    text = "result=promoted\nnote<<ghadelimiter_1\nline one\nline=two\nghadelimiter_1\nx=\n"
    assert parse_output_file(text) == {"result": "promoted", "note": "line one\nline=two",
                                       "x": ""}


def test_final_table_reports_every_rollout_and_gate(tmp_path):
    report = tmp_path / "rollout-report.json"
    report.write_text('{"result": "rolled_back", "detection_seconds": 4.2, '
                      '"rollback_seconds": 0.31}')
    run = SimpleNamespace(outputs={"result": "rolled_back", "rollback-seconds": "0.31"},
                          seconds=12.34, report=lambda name: __import__("json").loads(
                              (tmp_path / name).read_text()))
    counts = PhaseCounts(sent=500, failed=0, by_version={"2": 480, "4": 20})
    rollout = Rollout.from_run("v4 canary", run, counts)
    assert rollout.detection_seconds == 4.2 and rollout.rollback_seconds == 0.31
    gate = SimpleNamespace(code=1, seconds=20.0, outputs={"auc-roc": "0.61"})
    traffic = SimpleNamespace(counts={"v4 rollout": counts})
    table = render_table(321.0, {"v3": gate}, [rollout], traffic)
    assert "| Time to production of v2 (PR → 100 %) | 321 s |" in table
    assert "blocked in 20.0 s, AUC-ROC 0.6100" in table
    assert "detection 4.20 s, rollback 0.31 s" in table
    assert "500 served, 0 failed (v2: 480, v4: 20)" in table


def test_summary_says_which_form_served_each_version():
    from demo.report import served_forms

    history = [{"action": "load-requested", "model_uri": "models:/m/1"},
               {"action": "load-succeeded", "model_uri": "models:/m/1", "form": "onnx"},
               {"action": "traffic", "canary_weight": 5.0},
               {"action": "load-succeeded", "model_uri": "models:/m/4", "form": "spark"}]
    forms = served_forms(history)
    assert forms == {"models:/m/1": "onnx", "models:/m/4": "spark"}
    traffic = SimpleNamespace(counts={})
    table = render_table(10.0, {}, [], traffic, forms)
    assert "| Served form of v1 | onnx |" in table and "| Served form of v4 | spark |" in table
