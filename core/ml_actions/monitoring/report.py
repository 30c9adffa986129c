"""The monitor's report: one JSON document, rendered to Markdown, plotted, and exported.

`monitor-report.json` is the contract (`verdict`, `champion_version`, `compared_version`,
`matured_labels`, `metrics` per version, `rolled_back`); the Markdown (job summary) shows the
realised metrics per day, so a slow decline is visible before any verdict changes; the plot
draws the same table; `ml_actions_monitor.prom` holds gauges for Prometheus' textfile
collector (or a pushgateway), so an alert can fire on `ml_actions_monitor_degraded == 1`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ml_actions.report_documents import to_jsonable, write_reports
from ml_actions.templating import render

REPORT_STEM = "monitor-report"
PLOT_PNG = "monitor-metrics.png"
GAUGES_FILE = "ml_actions_monitor.prom"


def render_markdown(report: dict[str, Any]) -> str:
    return render("monitoring/templates/monitor_report.md.j2", r=report)


def write_monitor_reports(report: dict[str, Any], report_dir: Path) -> tuple[Path, str]:
    """JSON, Markdown, the plot and the gauges in `report_dir`; returns (json path, md)."""
    report = to_jsonable(report)
    report["plot"] = PLOT_PNG if plot_metrics(report, report_dir / PLOT_PNG) else None
    markdown = render_markdown(report)
    json_path, _ = write_reports(report, markdown, report_dir, REPORT_STEM)
    write_gauges(report, report_dir / GAUGES_FILE)
    return json_path, markdown


def plot_metrics(report: dict[str, Any], path: Path) -> bool:
    """Realised AUC-ROC and recall per day and version (False when nothing to draw)."""
    days = report["metrics_by_day"]
    if not days:
        return False
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    versions = sorted({v for row in days.values() for v in row})
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5), dpi=100)
    try:
        for ax, metric in zip(axes, ("auc_roc", "recall"), strict=True):
            for version in versions:
                xs = [d for d in days if version in days[d] and days[d][version][metric]
                      is not None]
                ys = [days[d][version][metric] for d in xs]
                if xs:
                    ax.plot(xs, ys, marker="o", label=f"v{version}")
            ax.set_title(f"realised {metric} per day")
            ax.tick_params(axis="x", labelrotation=45, labelsize=7)
            ax.legend(loc="lower left", fontsize=7)
        fig.tight_layout()
        fig.savefig(path)
    finally:
        plt.close(fig)
    return True


def write_gauges(report: dict[str, Any], path: Path) -> None:
    """Prometheus text exposition of the verdict and the realised metrics."""
    from prometheus_client import CollectorRegistry, Gauge, write_to_textfile

    registry = CollectorRegistry()
    name = report["model_name"]

    def gauge(metric: str, help_text: str, labels: tuple[str, ...] = ()) -> Gauge:
        return Gauge(f"ml_actions_monitor_{metric}", help_text, ("model_name", *labels),
                     registry=registry)

    verdict = gauge("verdict", "1 for the current verdict of the label-delayed gate",
                    ("verdict",))
    for value in ("healthy", "degraded", "inconclusive"):
        verdict.labels(name, value).set(1 if report["verdict"] == value else 0)
    gauge("degraded", "1 when the champion is surely worse than its predecessor").labels(
        name).set(1 if report["verdict"] == "degraded" else 0)
    gauge("rolled_back", "1 when this run rolled the champion back").labels(name).set(
        1 if report["rolled_back"] else 0)
    gauge("matured_labels", "log rows with a matured label").labels(name).set(
        report["matured_labels"])
    gauge("paired_frauds", "matured frauds scored by both champion and predecessor").labels(
        name).set(report["paired"]["frauds"])
    gauge("last_run_timestamp_seconds", "when the monitor last ran").labels(name).set(
        report["run_timestamp"])
    for check in report["checks"]:
        if check["delta"] is not None:
            gauge(f"{check['metric']}_delta", f"champion minus predecessor {check['metric']} "
                  "on paired matured transactions").labels(name).set(check["delta"])
    per_version = {m: gauge(f"realised_{m}", f"realised {m} on matured labels",
                            ("model_version",))
                   for m in ("auc_roc", "recall", "precision", "frauds_missed")}
    for version, values in report["metrics"].items():
        for metric, g in per_version.items():
            if values.get(metric) is not None:
                g.labels(name, version).set(values[metric])
    write_to_textfile(str(path), registry)
