"""How the demo runs each step: the real commands as subprocesses, outputs via $GITHUB_OUTPUT.

Each command gets its own folder in demo-output/ (reports, job summary, log), and its outputs
are read back from the `$GITHUB_OUTPUT` file it wrote, exactly as a workflow step's would be.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODEL = "fraud_detector"
PR_EVENT = {"action": "opened", "number": 2,
            "pull_request": {"number": 2, "title": "GBT with terminal risk features",
                             "head": {"sha": "0" * 40, "ref": "gbt"}},
            "repository": {"full_name": "octo-bank/fraud-models"}}


class StoryError(RuntimeError):
    """A chapter did not end as the story requires; the message says which and why."""


@dataclass
class CliRun:
    """One `ml-actions` command: exit code, wall time, outputs, where its files are."""

    label: str
    code: int
    seconds: float
    outputs: dict[str, str]
    folder: Path
    log: Path

    def report(self, name: str) -> dict:
        path = self.folder / name
        return json.loads(path.read_text()) if path.is_file() else {}

    def failed_checks(self) -> list[str]:
        checks = self.report("validation-report.json").get("checks", [])
        return [f"{c['name']} ({c.get('actual')} vs {c.get('threshold')})" for c in checks
                if c.get("status") == "fail"]


class StepRunner:
    """Runs the demo's commands and prints progress with the time since the start."""

    def __init__(self, out: Path, environment: str, config: Path):
        self.out, self.environment, self.config = out, environment, config
        self.t0 = time.monotonic()
        self.env = dict(os.environ)
        self.env.update({"SPARK_LOCAL_IP": "127.0.0.1", "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
                         "PYSPARK_PYTHON": sys.executable,
                         "PYTHONPATH": os.pathsep.join(
                             [str(ROOT / "template"), str(ROOT / "core"), str(ROOT)])})
        self.env.pop("GITHUB_ACTIONS", None)

    # -- progress --------------------------------------------------------------------------
    def log(self, message: str) -> None:
        print(f"[{time.monotonic() - self.t0:6.1f}s] {message}", flush=True)

    def chapter(self, title: str) -> None:
        print(f"\n== {title}", flush=True)

    # -- processes -------------------------------------------------------------------------
    def _run(self, label: str, argv: list[str], env: dict[str, str] | None = None,
             expect: tuple[int, ...] = (0,)) -> tuple[int, float, Path, str]:
        folder = self.out / label
        folder.mkdir(parents=True, exist_ok=True)
        log = folder / "command.log"
        started = time.monotonic()
        with open(log, "w", encoding="utf-8") as fh:
            fh.write("$ " + " ".join(argv) + "\n")
            fh.flush()
            proc = subprocess.run(argv, stdout=fh, stderr=subprocess.STDOUT, cwd=folder,
                                  env={**self.env, **(env or {})}, timeout=900)
        seconds = time.monotonic() - started
        if proc.returncode not in expect:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
            raise StoryError(f"{label}: `{' '.join(argv[:4])} ...` exited {proc.returncode} "
                             f"(expected {expect}); {log}:\n{tail}")
        return proc.returncode, seconds, log, log.read_text(errors="replace")

    def python(self, label: str, module: str, *args: str) -> str:
        code, seconds, _, text = self._run(label, [sys.executable, "-m", module, *args])
        self.log(f"{label}: {text.strip().splitlines()[-1][:120]} ({seconds:.0f} s)")
        return text

    def train(self, label: str, *args: str) -> dict:
        text = self.python(f"{label}/train", "ml_pipeline.train", "--data",
                           str(self.out / "data" / "transactions.parquet"), "--tracking-uri",
                           self.env["MLFLOW_TRACKING_URI"], "--model-name", MODEL, *args)
        result = json.loads(text.strip().splitlines()[-1])
        self.log(f"{label} registered as {MODEL} v{result['version']}: test AUC-ROC "
                 f"{result.get('auc_roc', float('nan')):.4f}")
        return result

    def cli(self, label: str, command: str, *args: str, env: dict[str, str] | None = None,
            expect: tuple[int, ...] = (0,)) -> CliRun:
        folder = self.out / label
        folder.mkdir(parents=True, exist_ok=True)
        files = {"GITHUB_OUTPUT": folder / "github-output.txt",
                 "GITHUB_STEP_SUMMARY": folder / "job-summary.md"}
        for path in files.values():
            path.write_text("")
        argv = [sys.executable, "-m", "ml_actions.cli", command, *args]
        code, seconds, log, _ = self._run(label, argv, {**{k: str(v) for k, v in files.items()},
                                                        **(env or {})}, expect)
        from ml_actions.cli.runner import parse_output_file

        return CliRun(label, code, seconds, parse_output_file(files["GITHUB_OUTPUT"].read_text()),
                      folder, log)

    def validate(self, label: str, version: str, test_data: Path,
                 pr_comment: bool = False) -> CliRun:
        env = {}
        if pr_comment:  # a pull_request event without a token: the comment goes to a file
            event = self.out / label / "pull_request_event.json"
            event.parent.mkdir(parents=True, exist_ok=True)
            event.write_text(json.dumps(PR_EVENT))
            env = {"GITHUB_EVENT_PATH": str(event), "GITHUB_EVENT_NAME": "pull_request",
                   "GITHUB_REPOSITORY": "octo-bank/fraud-models", "GITHUB_TOKEN": ""}
        run = self.cli(label, "validate-model", "--model-name", MODEL, "--candidate", version,
                       "--test-data", str(test_data), "--config", str(self.config),
                       "--environment", self.environment, "--tracking-uri",
                       self.env["MLFLOW_TRACKING_URI"], "--report-dir", str(self.out / label),
                       env=env, expect=(0, 1))
        verdict = "passed" if run.code == 0 else "FAILED"
        self.log(f"validate-model v{version}: {verdict}, AUC-ROC {run.outputs.get('auc-roc')} "
                 f"({run.seconds:.1f} s); report {run.outputs.get('report-path')}")
        if run.outputs.get("comment-path"):
            self.log(f"PR comment markdown: {run.outputs['comment-path']}")
        return run

    def canary(self, label: str, version: str, gateway: str, prometheus: str,
               schedule: list[str], expect: tuple[int, ...] = (0,)) -> CliRun:
        self.log(f"canary-deploy v{version} {' '.join(schedule)} ...")
        label = f"{label}-canary"
        run = self.cli(label, "canary-deploy", "--model-name", MODEL, "--candidate", version,
                       "--target-url", gateway, "--prometheus-url", prometheus, "--config",
                       str(self.config), "--environment", self.environment,
                       "--tracking-uri", self.env["MLFLOW_TRACKING_URI"], "--report-dir",
                       str(self.out / label), *schedule, expect=expect)
        self.log(f"canary-deploy v{version}: {run.outputs.get('result')} at "
                 f"{run.outputs.get('final-weight')} % after {run.seconds:.1f} s"
                 + (f", rollback {run.outputs['rollback-seconds']} s"
                    if run.outputs.get("rollback-seconds") else ""))
        return run

    def rollback(self, label: str, gateway: str, reason: str) -> CliRun:
        run = self.cli(label, "rollback", "--model-name", MODEL, "--target-url", gateway,
                       "--reason", reason, "--tracking-uri", self.env["MLFLOW_TRACKING_URI"],
                       "--report-dir", str(self.out / label))
        self.log(f"rollback: {run.outputs.get('action')}, v{run.outputs.get('restored-version')}"
                 f" serves 100 % after {run.outputs.get('rollback-seconds')} s")
        return run

    # -- registry and data -----------------------------------------------------------------
    def registry_alias(self, tracking_uri: str, model: str, alias: str, version: str) -> None:
        from mlflow.tracking import MlflowClient

        MlflowClient(tracking_uri, tracking_uri).set_registered_model_alias(model, alias, version)

    def request_rows(self, tracking_uri: str, model_uri: str, test_data: Path):
        """Test-set rows with the model's input columns (its signature) and the customer."""
        import mlflow
        import pandas as pd

        mlflow.set_tracking_uri(tracking_uri)
        inputs = mlflow.models.get_model_info(model_uri).signature.inputs.input_names()
        frame = pd.read_parquet(test_data)
        return frame[["CUSTOMER_ID", *inputs]].sample(n=min(3000, len(frame)), random_state=0)

    def skewed_model(self, label: str, tracking_uri: str, model: str, data: Path,
                     base_version: str) -> str:
        """v2 behind a batch-scaling stage (demo/skewed_model.py), built in its own process."""
        text = self.python(f"{label}/build", "demo.skewed_model", "--data",
                           str(data / "transactions.parquet"), "--base-uri",
                           f"models:/{model}/{base_version}", "--tracking-uri", tracking_uri,
                           "--model-name", model)
        version = json.loads(text.strip().splitlines()[-1])["version"]
        self.log(f"{label} registered as {model} v{version}: v{base_version}'s model behind a "
                 "batch-scaling stage")
        return version
