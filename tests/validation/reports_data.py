"""Hand-built evaluation results and decisions: the report tests need no Spark."""

from __future__ import annotations

from ml_actions.registry import ModelVersionRef
from ml_actions.validation.report import ValidationContext
from ml_actions.validation.results import (
    CheckResult,
    EvaluationResult,
    GateDecision,
    ModelScores,
    SliceResult,
)

ROC = [(0.0, 0.0), (0.05, 0.6), (0.1, 0.8), (0.3, 0.9), (1.0, 1.0)]
PR = [(0.0, 1.0), (0.6, 0.95), (0.8, 0.9), (1.0, 0.2)]


def scores(version: str, auc: float) -> ModelScores:
    return ModelScores(
        version=version,
        metrics={"auc_roc": auc, "auc_pr": 0.81, "precision": 0.9, "recall": 0.85,
                 "f1_score": 0.874, "brier_score": 0.04},
        confusion={"tp": 85, "fp": 9, "tn": 891, "fn": 15}, decision_threshold=0.5,
        roc_curve=ROC, pr_curve=PR)


def evaluation(champion: bool = True, slices: int = 2) -> EvaluationResult:
    return EvaluationResult(
        candidate=scores("3", 0.95), champion=scores("2", 0.93) if champion else None,
        n_rows=1000, n_positives=100, test_data_digest="abc123",
        comparison={"auc_roc": {"difference": 0.02, "interval": [0.005, 0.035]}},
        slices=[SliceResult("amount_band", f"band | {i}", 100 + i, 10, {"auc_roc": 0.9},
                            judged=i % 2 == 0, champion_metrics={"auc_roc": 0.88},
                            comparison={"delta_auc": 0.02} if i % 2 == 0 else {})
                for i in range(slices)],
        seconds=1.5)


def decision(passed: bool = True, overridden: bool = False) -> GateDecision:
    checks = [
        CheckResult("auc_roc", "pass", 0.95, 0.92, "auc_roc 0.9500 >= 0.92",
                    sample_size=1000, details={"metric": "auc_roc", "kind": "threshold"}),
        CheckResult("precision", "pass" if passed or overridden else "fail", 0.9,
                    0.95 if not passed else 0.85, "precision | <b>vs</b> threshold",
                    sample_size=1000, details={"metric": "precision", "kind": "threshold"}),
        CheckResult("auc_vs_champion", "pass", 0.02, -0.005, "no regression",
                    sample_size=1000, interval=(0.005, 0.035),
                    details={"metric": "auc_roc", "kind": "comparison"}),
    ]
    if overridden:
        checks[1].status = "fail"
    return GateDecision(passed=passed or overridden, checks=checks, overridden=overridden,
                        override_reason="hotfix for incident #42 <script>" if overridden else None,
                        actor="alice" if overridden else None,
                        overridden_checks=["precision"] if overridden else [])


def context(champion: bool = True, **kw) -> ValidationContext:
    values = dict(
        candidate=ModelVersionRef("fraud_detector", "3", run_id="r3"),
        champion=ModelVersionRef("fraud_detector", "2", run_id="r2") if champion else None,
        environment="prod", config_source="ml-actions.yaml", config_digest="cfg0001",
        thresholds={"auc_roc": {"min": 0.92, "max": None},
                    "precision": {"min": 0.85, "max": None}},
        test_data_uri="data/test.parquet", label_column="fraud_label",
        experiment_name="model-validation", run_id="run123",
        run_url="http://mlflow/#/experiments/1/runs/run123", actor="alice",
        timings={"total_seconds": 3.21})
    values.update(kw)
    return ValidationContext(**values)
