"""A rollout's result as JSON (once) and as Markdown (job summary, sticky comment).

The JSON keeps every evaluation of every step with each check's query, value, threshold,
sample size, statistic and verdict; the Markdown shows the step timeline and the evidence of
the evaluation that decided.
"""

from __future__ import annotations

import json
from pathlib import Path

from ml_actions.config.durations import format_duration
from ml_actions.redaction import redact_value
from ml_actions.report_documents import to_jsonable
from ml_actions.rollout.results import RolloutResult
from ml_actions.templating import render

REPORT_NAME = "rollout-report.json"


def deciding_evaluation(result: RolloutResult):
    """The evaluation the verdict rests on: the last one made."""
    for step in reversed(result.steps):
        if step.evaluations:
            return step.evaluations[-1]
    return None


def report_dict(result: RolloutResult) -> dict:
    data = redact_value(to_jsonable(result))
    data["report_version"] = 1
    return data


def write_report(result: RolloutResult, report_dir: str | Path) -> Path:
    folder = Path(report_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / REPORT_NAME
    path.write_text(json.dumps(report_dict(result), indent=2, sort_keys=False) + "\n",
                    encoding="utf-8")
    return path


def render_markdown(result: RolloutResult) -> str:
    return render("rollout/templates/rollout_report.md.j2", r=result,
                  last=deciding_evaluation(result),
                  detection=format_duration(result.detection_seconds),
                  rollback=format_duration(result.rollback_seconds),
                  budget_worst=format_duration(result.budget.worst_case),
                  budget_total=format_duration(result.budget.budget))
