"""The demo's closing table and summary files (demo-output/summary.md, summary.json)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass
class Rollout:
    """One traffic change of the story, with what the generated traffic saw meanwhile."""

    label: str
    result: str
    seconds: float
    detection_seconds: float | None
    rollback_seconds: float | None
    served: int
    failed: int
    by_version: dict[str, int]

    @classmethod
    def from_run(cls, label: str, run, counts) -> Rollout:
        report = run.report("rollout-report.json")
        rollback = run.outputs.get("rollback-seconds") or report.get("rollback_seconds")
        return cls(label, run.outputs.get("result") or run.outputs.get("action", "?"),
                   round(run.seconds, 1), report.get("detection_seconds"),
                   float(rollback) if rollback not in (None, "") else None,
                   counts.sent, counts.failed, dict(counts.by_version))


def _num(value, unit: str = " s") -> str:
    return "–" if value is None else f"{float(value):.2f}{unit}"


def served_forms(history: list[dict]) -> dict[str, str]:
    """{model_uri: form} of every model the gateway loaded (onnx, spark or pyfunc), from the
    gateway's state history."""
    return {h["model_uri"]: h.get("form") or "?" for h in history
            if h.get("action") == "load-succeeded" and h.get("model_uri")}


def render_table(time_to_production: float, gates: dict, rollouts: list[Rollout],
                 traffic, forms: dict[str, str] | None = None) -> str:
    lines = ["| Measure | Value |", "|---|---|",
             f"| Time to production of v2 (PR → 100 %) | {time_to_production:.0f} s |"]
    for label, run in gates.items():
        verdict = "passed" if run.code == 0 else "blocked"
        auc = run.outputs.get("auc-roc")
        auc_text = f"{float(auc):.4f}" if auc not in (None, "") else "–"
        lines.append(f"| Gate {label} (validate-model) | {verdict} in {run.seconds:.1f} s, "
                     f"AUC-ROC {auc_text} |")
    for r in rollouts:
        lines.append(f"| {r.label} | {r.result} after {r.seconds:.1f} s; detection "
                     f"{_num(r.detection_seconds)}, rollback {_num(r.rollback_seconds)} |")
        split = ", ".join(f"v{v}: {n}" for v, n in sorted(r.by_version.items()))
        lines.append(f"| Requests during {r.label} | {r.served} served, {r.failed} failed "
                     f"({split}) |")
    for uri, form in sorted((forms or {}).items()):
        lines.append(f"| Served form of v{uri.rsplit('/', 1)[-1]} | {form} |")
    total = sum(c.sent for c in traffic.counts.values())
    failed = sum(c.failed for c in traffic.counts.values())
    lines.append(f"| All generated requests | {total} served, {failed} failed |")
    return "\n".join(lines)


def write_summary(out: Path, table: str, time_to_production: float, gates: dict,
                  rollouts: list[Rollout], versions: dict,
                  forms: dict[str, str] | None = None) -> None:
    (out / "summary.md").write_text("# ml-actions demo\n\n" + table + "\n", encoding="utf-8")
    (out / "summary.json").write_text(json.dumps({
        "time_to_production_seconds": round(time_to_production, 1),
        "gates": {k: {"exit_code": g.code, "seconds": round(g.seconds, 1),
                      "outputs": g.outputs} for k, g in gates.items()},
        "rollouts": [asdict(r) for r in rollouts],
        "served_forms": forms or {},
        "versions": versions}, indent=2, default=str) + "\n", encoding="utf-8")
