"""Reports as documents: results serialised to JSON once, written beside their Markdown.

Every command's report is a JSON document (for machines: later steps, dashboards, audits) and
the Markdown rendered from it (for people: the job summary, the PR comment); both are written
side by side so an uploaded artifact always holds the pair.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ml_actions.redaction import redact, redact_value


def to_jsonable(obj: Any) -> Any:
    """Dataclasses to plain JSON types (tuples become lists, NaN becomes null)."""
    if hasattr(obj, "__dataclass_fields__"):
        return to_jsonable(asdict(obj))
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, float) and obj != obj:  # NaN is not JSON
        return None
    return obj


def write_reports(report: dict[str, Any], markdown: str, report_dir: Path,
                  stem: str) -> tuple[Path, Path]:
    """`<stem>.json` and `<stem>.md` in `report_dir` (created if needed)."""
    report_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = report_dir / f"{stem}.json", report_dir / f"{stem}.md"
    json_path.write_text(json.dumps(redact_value(report), indent=2, sort_keys=False) + "\n",
                         encoding="utf-8")
    md_path.write_text(redact(markdown), encoding="utf-8")
    return json_path, md_path
