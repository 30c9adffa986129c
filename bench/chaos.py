"""The chaos table: `python bench/chaos.py` runs the chaos tests and prints what they measured.

Every row is a test in `make test` (marked `chaos`): it starts the real gateway, MLflow and
Prometheus (or the relay and Alertmanager), puts steady generated load on them, injects one
fault and asserts the safe state; with `ML_ACTIONS_CHAOS_TABLE` set, each test also appends its
measurements (tests/fixtures/chaos_table.py). This script runs `pytest -m chaos` once with
that variable set and prints the rows as a Markdown table: requests sent during the fault,
requests failed (the goal is 0, except those a faulty model failed itself), and seconds from
the fault to the safe state. A test that fails is listed under the table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _cell(value: object) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value).replace("|", "\\|")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-k", help="pytest -k expression to run a subset of the chaos tests")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        table = Path(tmp) / "chaos.jsonl"
        env = {**os.environ, "ML_ACTIONS_CHAOS_TABLE": str(table)}
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "chaos",
                   "--no-cov", "-rf"] + (["-k", args.k] if args.k else [])
        started = time.time()
        run = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
        rows = [json.loads(line) for line in table.read_text().splitlines()] \
            if table.exists() else []
    print(f"chaos suite: {len(rows)} rows in {time.time() - started:.0f} s\n")
    print("| fault | expected | observed | requests sent | failed | s to safe state |")
    print("|---|---|---|---:|---:|---:|")
    for row in rows:
        print("| " + " | ".join(_cell(row[k]) for k in (
            "fault", "expected", "observed", "sent", "failed", "seconds_to_safe")) + " |")
    failed = [line for line in run.stdout.splitlines() if line.startswith("FAILED")]
    if failed or run.returncode not in (0, 5):
        print("\nfailing chaos tests:\n" + "\n".join(failed or run.stdout.splitlines()[-20:]))
    return 0 if run.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
