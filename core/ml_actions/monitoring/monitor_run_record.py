"""Each monitor run as an MLflow run, so realised metrics can be charted across runs.

Best effort after the decision: the verdict and any rollback are already done, so a slow or
failing tracking server turns into a warning, never a different exit code.
"""

from __future__ import annotations

import math
import time
from typing import Any

from mlflow.entities import Metric

from ml_actions.config.settings import Config
from ml_actions.registry import Registry

EXPERIMENT = "ml-actions-monitor"


def run_metrics(report: dict[str, Any]) -> dict[str, float]:
    """Flat finite numbers: the verdict as 0/1 gauges, paired deltas, per-version metrics."""
    out: dict[str, float] = {}

    def put(key: str, value: Any) -> None:
        if isinstance(value, (int, float)) and not isinstance(value, bool) \
                and math.isfinite(value):
            out[key] = float(value)

    for verdict in ("healthy", "degraded", "inconclusive"):
        put(f"verdict_{verdict}", int(report["verdict"] == verdict))
    put("rolled_back", int(report["rolled_back"]))
    put("matured_labels", report["matured_labels"])
    put("paired_rows", report["paired"]["rows"])
    put("paired_frauds", report["paired"]["frauds"])
    for check in report["checks"]:
        put(f"delta_{check['metric']}", check["delta"])
        put(f"mde_{check['metric']}", check["minimum_detectable_effect"])
    for version, metrics in report["metrics"].items():
        for key in ("auc_roc", "recall", "precision", "frauds_caught", "frauds_missed",
                    "amount_recall"):
            put(f"v{version}_{key}", metrics.get(key))
    return out


def record_run(registry: Registry, config: Config, report: dict[str, Any]
               ) -> tuple[str | None, str | None]:
    """(run id, None) or (None, the warning why no run was recorded)."""
    client = registry.client
    try:
        found = client.get_experiment_by_name(EXPERIMENT)
        exp_id = found.experiment_id if found else client.create_experiment(EXPERIMENT)
        run = client.create_run(exp_id, run_name=f"monitor {report['model_name']} "
                                f"v{report['champion_version']}",
                                tags={"ml_actions.model_name": report["model_name"],
                                      "ml_actions.model_version": report["champion_version"],
                                      "ml_actions.environment": config.environment,
                                      "monitor.verdict": report["verdict"]})
        run_id = run.info.run_id
        stamp = int(time.time() * 1000)
        client.log_batch(run_id, metrics=[Metric(k, v, stamp, 0)
                                          for k, v in run_metrics(report).items()])
        client.set_terminated(run_id)
        return run_id, None
    except Exception as err:  # noqa: BLE001 - recording never changes the verdict
        return None, f"the monitor run was not recorded in MLflow: {err}"
