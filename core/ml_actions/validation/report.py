"""The validation report: one JSON document, rendered to Markdown and drawn as curves.

The JSON is built once from the evaluation and the decision; the Markdown (job summary, PR
comment, file) is rendered from that JSON by `validation/templates/validation_report.md.j2`, so
what a reviewer reads and what a machine reads cannot disagree. ROC and PR curves are
drawn with matplotlib's Agg backend (no display on a runner) for the MLflow run, and the
ROC curve is also a mermaid `xychart-beta` that GitHub renders inside the comment itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ml_actions import __version__, report_documents
from ml_actions.check_result import STATUS_MARKS
from ml_actions.config.validation import ValidationConfig
from ml_actions.registry import ModelVersionRef
from ml_actions.report_documents import to_jsonable
from ml_actions.templating import render
from ml_actions.timestamps import now_zulu
from ml_actions.validation.results import (
    CheckResult,
    EvaluationResult,
    GateDecision,
    ModelScores,
)
from ml_actions.validation.roc_chart import roc_chart

REPORT_STEM = "validation-report"
ROC_PNG = "validation-roc.png"
PR_PNG = "validation-pr.png"
SCHEMA_VERSION = 1
# Shown first, in this order; any further metric of the evaluation follows.
MAIN_METRICS = ("auc_roc", "auc_pr", "precision", "recall", "f1_score")


@dataclass
class ValidationContext:
    """Facts about the run that the evaluation does not know."""

    candidate: ModelVersionRef
    champion: ModelVersionRef | None
    environment: str
    config_source: str
    config_digest: str
    thresholds: dict[str, dict[str, float | None]]
    test_data_uri: str
    label_column: str
    experiment_name: str
    champion_alias: str = "champion"
    run_id: str | None = None
    run_url: str | None = None
    actor: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    serving_parity: dict[str, Any] | None = None  # ONNX form vs Spark form (serving_parity)


def verdict(decision: GateDecision) -> str:
    if decision.overridden:
        return "overridden"
    return "passed" if decision.passed else "failed"


def _scores(scores: ModelScores | None, ref: ModelVersionRef | None) -> dict[str, Any] | None:
    if scores is None:
        return None
    return {"version": scores.version, "run_id": ref.run_id if ref else None,
            "metrics": to_jsonable(scores.metrics), "confusion": dict(scores.confusion),
            "decision_threshold": scores.decision_threshold,
            "money": to_jsonable(scores.money)}


def build_report(evaluation: EvaluationResult, decision: GateDecision,
                 context: ValidationContext) -> dict[str, Any]:
    """The JSON report: everything the verdict was made on, and the verdict."""
    candidate = evaluation.candidate
    blocking = decision.blocking_checks() if decision.blocking else decision.failed()
    failed = [c.name for c in blocking]
    override = None
    if decision.overridden:
        override = {"reason": decision.override_reason,
                    "actor": getattr(decision, "actor", None) or context.actor,
                    "failed_checks": list(getattr(decision, "overridden_checks", None)
                                          or failed)}
    return {
        "schema_version": SCHEMA_VERSION,
        "passed": bool(decision.passed),
        "verdict": verdict(decision),
        "model": {"name": context.candidate.name, "version": context.candidate.version,
                  "run_id": context.candidate.run_id, "uri": context.candidate.uri},
        "environment": context.environment,
        "metrics": to_jsonable(candidate.metrics),
        "confusion": dict(candidate.confusion),
        "decision_threshold": candidate.decision_threshold,
        "money": to_jsonable(candidate.money),
        "champion": _scores(evaluation.champion, context.champion),
        "champion_alias": context.champion_alias,
        "comparison": to_jsonable(evaluation.comparison),
        "thresholds": context.thresholds,
        "checks": to_jsonable(decision.checks),
        "failed_checks": failed,
        "blocking_checks": [_blocking(c) for c in blocking],
        "slices": to_jsonable(evaluation.slices),
        "serving_parity": to_jsonable(context.serving_parity),
        "override": override,
        "warnings": list(context.warnings) + [_warning(c) for c in decision.warnings()],
        "curves": {"candidate": {"roc": to_jsonable(candidate.roc_curve),
                                 "pr": to_jsonable(candidate.pr_curve)},
                   "champion": None if evaluation.champion is None else {
                       "roc": to_jsonable(evaluation.champion.roc_curve),
                       "pr": to_jsonable(evaluation.champion.pr_curve)}},
        "mlflow_run_id": context.run_id,
        "mlflow_run_url": context.run_url,
        "experiment": context.experiment_name,
        "config": {"source": context.config_source, "digest": context.config_digest},
        "test_data": {"uri": context.test_data_uri, "digest": evaluation.test_data_digest,
                      "rows": evaluation.n_rows, "positives": evaluation.n_positives,
                      "label_column": context.label_column},
        "actor": context.actor,
        "timings": {**{k: round(v, 3) for k, v in context.timings.items()},
                    "evaluation_seconds": round(evaluation.seconds, 3)},
        "generated_at": now_zulu(),
        "ml_actions_version": __version__,
    }


def _blocking(check: CheckResult) -> dict[str, Any]:
    """A check that decided a failed verdict, and what would change it."""
    return {"name": check.name, "status": check.status, "message": check.message,
            "resolve": check.details.get("resolve")}


def _warning(check: CheckResult) -> str:
    resolve = check.details.get("resolve")
    return (f"{check.name} ({check.status}): {check.message}"
            + (f"; to resolve: {resolve}" if resolve else ""))


# -- Markdown ---------------------------------------------------------------------------------
def _checks_for(metric: str, checks: list[dict], against_champion: bool) -> list[dict]:
    """The checks judging `metric`: absolute bounds (`auc_roc`, `auc_roc_max`) or versus the
    champion (`auc_vs_champion`, `<metric>_vs_champion`, `<metric>_at_champion_alert_rate`)."""
    if against_champion:
        names = {f"{metric}_vs_champion", f"{metric}_at_champion_alert_rate"}
        if metric == "auc_roc":
            names.add("auc_vs_champion")
    else:
        names = {metric, f"{metric}_max"}
    return [c for c in checks if c["name"] in names]


def metric_rows(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Candidate vs champion vs threshold per metric, with the Δ and its interval."""
    metrics = report["metrics"]
    names = [m for m in MAIN_METRICS if m in metrics]
    names += [m for m in sorted(metrics) if m not in names and m in report["thresholds"]]
    names += [m for m in sorted(metrics) if m not in names]
    champion = (report["champion"] or {}).get("metrics") or {}
    rows = []
    for name in names:
        value = metrics.get(name)
        other = champion.get(name)
        threshold = report["thresholds"].get(name) or {}
        versus = _checks_for(name, report["checks"], against_champion=True)
        judged = _checks_for(name, report["checks"], against_champion=False) + versus
        status = next((s for s in ("fail", "inconclusive", "warn", "pass", "skip")
                       if any(c["status"] == s for c in judged)), None)
        # the Δ column compares each model at its own threshold: only a check of that same
        # difference lends it an interval (not the comparison at the champion's alert rate)
        interval = next((c["interval"] for c in versus if c.get("interval")
                         and not c["name"].endswith("_at_champion_alert_rate")), None)
        delta = value - other if isinstance(value, (int, float)) and \
            isinstance(other, (int, float)) else None
        rows.append({"name": name, "candidate": value, "champion": other, "delta": delta,
                     "interval": interval,
                     "min": threshold.get("min"), "max": threshold.get("max"),
                     "status": status, "mark": STATUS_MARKS.get(status or "", "")})
    return rows


def render_markdown(report: dict[str, Any], config: ValidationConfig) -> str:
    slices = report["slices"]
    return render("validation/templates/validation_report.md.j2", report=report,
                  rows=metric_rows(report),
                  roc=roc_chart(report, config.roc_chart_points), marks=STATUS_MARKS,
                  slices=slices[: config.max_slice_rows], hidden_slices=max(
                      0, len(slices) - config.max_slice_rows))


def write_reports(report: dict[str, Any], markdown: str, report_dir: Path,
                  stem: str = REPORT_STEM) -> tuple[Path, Path]:
    """`validation-report.json` and `.md` in `report_dir` (created if needed)."""
    return report_documents.write_reports(report, markdown, report_dir, stem)


def plot_curves(evaluation: EvaluationResult, out_dir: Path) -> list[Path]:
    """ROC and precision-recall PNGs of the candidate (and champion) for the MLflow run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    models = [("candidate", evaluation.candidate), ("champion", evaluation.champion)]
    written = []
    for filename, attr, labels, diagonal in (
            (ROC_PNG, "roc_curve", ("False positive rate", "True positive rate"), True),
            (PR_PNG, "pr_curve", ("Recall", "Precision"), False)):
        fig, ax = plt.subplots(figsize=(5, 4), dpi=100)
        try:
            for who, scores in models:
                if scores is not None and getattr(scores, attr):
                    xs, ys = zip(*getattr(scores, attr), strict=True)
                    ax.plot(xs, ys, label=f"{who} v{scores.version}",
                            linestyle="-" if who == "candidate" else "--")
            ax.set_xlim(0, 1)
            if diagonal:  # ROC: the low false-positive range fraud models work in, log-scaled
                floor = 1.0 / max(evaluation.n_rows - evaluation.n_positives, 1)
                chance = [floor * (1 / floor) ** (i / 50) for i in range(51)]
                ax.plot(chance, chance, color="grey", linewidth=0.5)
                ax.set_xscale("log")
                ax.set_xlim(floor, 1)
                labels = ("False positive rate (log scale)", labels[1])
            ax.set_xlabel(labels[0])
            ax.set_ylabel(labels[1])
            ax.set_ylim(0, 1.02)
            ax.legend(loc="lower right" if diagonal else "lower left")
            fig.tight_layout()
            fig.savefig(out_dir / filename)
        finally:
            plt.close(fig)
        written.append(out_dir / filename)
    return written
