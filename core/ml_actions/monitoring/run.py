"""`ml-actions monitor`, end to end: inputs -> joined evidence -> verdict -> rollback -> report.

Run on a schedule (daily): each run sees more matured labels, so an `inconclusive` verdict
becomes `healthy` or `degraded` as chargebacks arrive. Exit 0 healthy or inconclusive, 1
degraded, 2 bad input or infrastructure (raised as `ml_actions.errors.*`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ml_actions.config.durations import parse_duration
from ml_actions.config.settings import Config, load_config
from ml_actions.errors import DataError
from ml_actions.monitoring.evidence_tables import read_labels, read_prediction_log
from ml_actions.monitoring.joined_evidence import (
    join_matured,
    serving_versions,
    shadowed_predecessor,
)
from ml_actions.monitoring.monitor_run_record import record_run
from ml_actions.monitoring.paired_comparison import empty_evidence, paired_from_log
from ml_actions.monitoring.realised_metrics import realised_metrics
from ml_actions.monitoring.report import write_monitor_reports
from ml_actions.monitoring.rollback_action import MonitorRollback, roll_back_champion
from ml_actions.monitoring.verdict import decide
from ml_actions.registry import Registry, registry_from_config
from ml_actions.spark import get_spark

EXIT_CODES = {"healthy": 0, "inconclusive": 0, "degraded": 1}


@dataclass
class MonitorRequest:
    model_name: str
    prediction_log: str
    labels: str
    label_maturity: str | None = None  # default: monitor.label_maturity
    target_url: str | None = None
    tracking_uri: str | None = None
    environment: str | None = None
    config_path: str | None = None
    report_dir: str = "."
    admin_token: str | None = None
    now: dt.datetime | None = None  # for replays and benchmarks; default: the clock


@dataclass
class MonitorOutcome:
    report: dict[str, Any]
    markdown: str
    json_path: Path
    exit_code: int
    warnings: list[str] = field(default_factory=list)


def run_monitor(request: MonitorRequest) -> MonitorOutcome:
    config = load_config(request.config_path, request.environment)
    maturity_text = request.label_maturity or config.monitor.label_maturity
    maturity = parse_duration(maturity_text, "--label-maturity")
    now = request.now or dt.datetime.now(dt.UTC)
    spark = get_spark(config.spark)
    log = read_prediction_log(spark, request.prediction_log)
    labels = read_labels(spark, request.labels, config.monitor.labels, now)
    evidence = join_matured(log, labels, now, maturity, request.prediction_log, request.labels)
    uri = request.tracking_uri or config.tracking_uri
    registry = registry_from_config(uri, config.registry) if uri else None
    champion, predecessor = _versions(log, registry, config, request.model_name,
                                      request.prediction_log)
    table = realised_metrics(evidence.matured, evidence.has_amount)
    paired = (paired_from_log(evidence.matured, champion, predecessor) if predecessor
              else empty_evidence())
    verdict = decide(paired, config.monitor, now)
    warnings: list[str] = []
    if predecessor is None:
        verdict.reason = (f"no predecessor shadow-scored champion v{champion}'s requests: "
                          "nothing to pair it with (set monitor.guard_period and promote "
                          "through canary-deploy, which keeps the old champion shadowing)")
    rollback = None
    if verdict.verdict == "degraded" and predecessor:
        rollback = roll_back_champion(config, request.model_name, champion, predecessor,
                                      f"label-delayed gate: {verdict.reason}",
                                      request.target_url, request.admin_token, registry)
        if not rollback.rolled_back:
            warnings.append(f"degraded but not rolled back: {rollback.note}")
    evidence.matured.unpersist()
    report = _report(request, config, now, maturity_text, evidence, champion, predecessor,
                     table, paired, verdict, rollback)
    if registry is not None:
        report["mlflow_run_id"], problem = record_run(registry, config, report)
        if problem:
            warnings.append(problem)
    json_path, markdown = write_monitor_reports(report, Path(request.report_dir))
    return MonitorOutcome(report, markdown, json_path, EXIT_CODES[verdict.verdict], warnings)


def _versions(log, registry: Registry | None, config: Config, model_name: str,
              log_uri: str) -> tuple[str, str | None]:
    """(champion, predecessor): the registry's aliases when it has them, else the log's."""
    champion = predecessor = None
    if registry is not None:
        found = registry.find_alias(model_name, config.registry.champion_alias)
        champion = found.version if found else None
        previous = registry.find_alias(model_name, config.registry.previous_champion_alias)
        predecessor = previous.version if previous and previous.version != champion else None
    if champion is None:
        serving = serving_versions(log)
        if not serving:
            raise DataError(f"--prediction-log {log_uri}: no record from the stable slot, so "
                            f"no champion of {model_name} is known; pass --tracking-uri to "
                            "read the champion alias")
        champion = serving[0][0]
    return champion, predecessor or shadowed_predecessor(log, champion)


def _report(request: MonitorRequest, config: Config, now: dt.datetime, maturity: str,
            evidence, champion: str, predecessor: str | None, table, paired, verdict,
            rollback: MonitorRollback | None) -> dict[str, Any]:
    return {
        "verdict": verdict.verdict, "reason": verdict.reason,
        "model_name": request.model_name, "champion_version": champion,
        "compared_version": predecessor, "matured_labels": evidence.matured_rows,
        "labelled_rows": evidence.labelled_rows, "log_rows": evidence.log_rows,
        "metrics": _metrics_per_version(table, predecessor, paired),
        "metrics_by_day": {d: {v: asdict(m) for v, m in row.items()}
                           for d, row in table.by_day.items()},
        "paired": {"rows": paired.rows, "frauds": paired.frauds, "days": paired.days,
                   "champion_auc_roc": paired.new_auc, "compared_auc_roc": paired.old_auc,
                   "champion_recall": paired.new_recall, "compared_recall": paired.old_recall,
                   "frauds_only_champion_caught": paired.recall.only_candidate,
                   "frauds_only_compared_caught": paired.recall.only_champion},
        "checks": [asdict(c) for c in verdict.checks],
        "level": verdict.level, "confidence": verdict.confidence,
        "alpha": config.monitor.alpha,
        "runs_per_guard_period": config.monitor.runs_per_guard_period,
        "frauds_needed": verdict.frauds_needed, "frauds_per_day": verdict.frauds_per_day,
        "days_to_enough_labels": verdict.days_to_enough_labels,
        "enough_labels_expected_at": verdict.enough_labels_expected_at,
        "rolled_back": bool(rollback and rollback.rolled_back),
        "rollback": asdict(rollback) if rollback else None,
        "label_maturity": maturity,
        "now": now.isoformat(), "run_timestamp": now.timestamp(),
        "environment": config.environment, "config_digest": config.digest(),
        "prediction_log": request.prediction_log, "labels": request.labels,
    }


def _metrics_per_version(table, predecessor: str | None, paired) -> dict[str, Any]:
    """Each version's realised metrics on the rows it answered (`source: served`); the
    predecessor, when it only shadow-scored, on the paired rows (`source: shadow`)."""
    metrics = {v: {**asdict(m), "source": "served"} for v, m in table.by_version.items()}
    if predecessor and predecessor not in metrics and paired.rows:
        metrics[predecessor] = {
            "rows": paired.rows, "frauds": paired.frauds, "auc_roc": paired.old_auc,
            "recall": paired.old_recall, "precision": None, "frauds_caught": paired.old_caught,
            "frauds_missed": paired.frauds - paired.old_caught, "false_alerts": None,
            "fraud_amount": None, "fraud_amount_caught": None, "amount_recall": None,
            "source": "shadow"}
    return metrics
