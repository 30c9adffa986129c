"""The validate-data report: one JSON document and the Markdown rendered from it.

Same style as the model report (schema version, checks with their evidence, failed checks,
timings), so one reader handles both.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ml_actions import __version__
from ml_actions.check_result import STATUS_MARKS
from ml_actions.data.validation import DataValidationResult
from ml_actions.report_documents import to_jsonable, write_reports
from ml_actions.templating import render
from ml_actions.timestamps import now_zulu

DATA_REPORT_STEM = "data-validation-report"
SCHEMA_VERSION = 1


def build_data_report(result: DataValidationResult, dataset_uri: str, schema_source: str,
                      label_column: str | None, environment: str, config_digest: str,
                      timings: dict[str, float]) -> dict[str, Any]:
    """The data validation JSON, in the same style as the model report."""
    return {
        "schema_version": SCHEMA_VERSION,
        "passed": bool(result.passed),
        "verdict": "passed" if result.passed else "failed",
        "dataset": {"uri": dataset_uri, "rows": result.rows, "columns": result.columns},
        "schema": {"source": schema_source},
        "label_column": label_column,
        "environment": environment,
        "config": {"digest": config_digest},
        "checks": to_jsonable(result.checks),
        "failed_checks": [c.name for c in result.checks if c.status == "fail"],
        "timings": {k: round(v, 3) for k, v in timings.items()},
        "generated_at": now_zulu(),
        "ml_actions_version": __version__,
    }


def render_data_markdown(report: dict[str, Any]) -> str:
    problems = [c for c in report["checks"] if c["status"] != "pass"]
    return render("data/templates/data_validation_report.md.j2", report=report, problems=problems,
                  marks=STATUS_MARKS)


def write_data_reports(report: dict[str, Any], markdown: str, report_dir: Path
                       ) -> tuple[Path, Path]:
    return write_reports(report, markdown, report_dir, DATA_REPORT_STEM)
