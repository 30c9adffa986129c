"""What the template's reference model measures on the template's own data: the numbers its
`ml-actions.yaml` bars and tolerances are sized from (tests/contract/test_template_config.py).

Re-run it whenever the reference pipeline changes (features, hyper-parameters, simulator):

1. `python -m ml_pipeline.simulate` with its defaults, into a temporary folder;
2. `python -m ml_pipeline.train` four times: the defaults (GBT, seed 0) as `champion`, which
   also writes the test week; seed 1; the same pipeline trained a week earlier; logistic
   regression;
3. `ml-actions validate-model --environment prod` of each of the last three against the
   champion, on the champion's test week, with the template's own config.

It prints each model's absolute metrics and, for each pair, every comparison's measured
difference and minimum detectable effect, as tables to copy into the template's comments.

    .venv/bin/python bench/template_reference.py
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "template")]

from ml_pipeline.simulate import SimulationConfig  # noqa: E402
from ml_pipeline.split import latest_split  # noqa: E402
from ml_pipeline.train import DEFAULT_DELAY_DAYS, DEFAULT_TEST_DAYS, DEFAULT_TRAIN_DAYS  # noqa: E402

CONFIG = ROOT / "template" / "ml-actions.yaml"
METRICS = ("auc_roc", "auc_pr", "precision", "recall", "f1_score")


def run(argv: list[str], cwd: Path, expect: tuple[int, ...] = (0,)) -> str:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "template"),
                                                        str(ROOT / "core")])}
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=1800)
    if proc.returncode not in expect:
        raise SystemExit(f"{' '.join(argv[:4])} exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    return proc.stdout


def train(work: Path, tracking: str, *args: str) -> dict:
    out = run([sys.executable, "-m", "ml_pipeline.train", "--data", str(work / "data"),
               "--tracking-uri", tracking, *args], work)
    return json.loads(out.strip().splitlines()[-1])


def validate(work: Path, tracking: str, version: str, label: str) -> dict:
    report_dir = work / f"report-{label}"
    run([sys.executable, "-m", "ml_actions.cli", "validate-model", "--model-name",
         "fraud_detector", "--candidate", version, "--test-data", str(work / "test"),
         "--config", str(CONFIG), "--environment", "prod", "--tracking-uri", tracking,
         "--report-dir", str(report_dir)], work, expect=(0, 1))
    return json.loads((report_dir / "validation-report.json").read_text())


def gate_rows(label: str, report: dict) -> list[str]:
    """The absolute bars: the measured value, its sample and confidence interval."""
    rows = []
    for check in report.get("checks", []):
        if (check.get("threshold") is None or check.get("actual") is None
                or (check.get("details") or {}).get("mde")):
            continue
        interval = check.get("interval")
        shown = f"[{interval[0]:.3f}, {interval[1]:.3f}]" if interval else "-"
        rows.append(f"| {label} | {check['name']} | {check['status']} | {check['actual']:.4f} | "
                    f"{check.get('sample_size')} | {shown} |")
    return rows


def comparison_rows(label: str, report: dict) -> list[str]:
    rows = []
    for check in report.get("checks", []):
        details = check.get("details") or {}
        if "mde" not in details:
            continue
        actual = check.get("actual")
        rows.append(f"| {label} | {check['name']} | {check['status']} | "
                    f"{'-' if actual is None else f'{actual:+.4f}'} | {details['mde']:.4f} |")
    return rows


def week_earlier_start() -> dt.date:
    """The default split's training start (train.py's latest split of the default data),
    a week earlier."""
    sim = SimulationConfig()
    last_day = dt.date.fromisoformat(sim.start_date) + dt.timedelta(days=sim.days - 1)
    split = latest_split(last_day, DEFAULT_TRAIN_DAYS, DEFAULT_DELAY_DAYS, DEFAULT_TEST_DAYS)
    return split.train_start - dt.timedelta(days=7)


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="template-reference-") as tmp:
        work = Path(tmp)
        tracking = f"sqlite:///{work / 'mlflow.db'}"
        run([sys.executable, "-m", "ml_pipeline.simulate", "--out", str(work / "data")], work)
        champion = train(work, tracking, "--alias", "champion", "--test-output",
                         str(work / "test"))
        print(f"champion v{champion['version']} trained", flush=True)
        variants = {"GBT seed 1": ["--seed", "1"],
                    "GBT a week earlier": ["--train-start", str(week_earlier_start())],
                    "logistic regression": ["--algorithm", "logistic_regression"]}
        models = {"GBT seed 0 (champion)": champion}
        reports = {}
        for label, args in variants.items():
            models[label] = train(work, tracking, "--alias", "challenger", *args)
            reports[label] = validate(work, tracking, str(models[label]["version"]), label)
            print(f"{label}: v{models[label]['version']} validated", flush=True)
    print("\n| model | " + " | ".join(METRICS) + " |")
    print("|---|" + "---:|" * len(METRICS))
    for label, result in models.items():
        print(f"| {label} | " + " | ".join(f"{result.get(m, float('nan')):.3f}"
                                         for m in METRICS) + " |")
    print("\n| candidate | gate | status | value | sample | interval |")
    print("|---|---|---|---:|---:|---|")
    for label, report in reports.items():
        print("\n".join(gate_rows(label, report)))
    print("\n| candidate vs champion | check | status | value | MDE |\n|---|---|---|---:|---:|")
    for label, report in reports.items():
        print("\n".join(comparison_rows(label, report)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
