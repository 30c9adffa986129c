"""`ml-actions canary-deploy` run in-process, as the runner runs it, on a simulated target: the
command's own code (lock, audit trail, endings, report) against real MLflow and Prometheus."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path

from mlflow.tracking import MlflowClient

import ml_actions.cli.commands.canary_deploy as canary_deploy
from ml_actions.cli.main import main
from ml_actions.cli.runner import ActionsRunner
from ml_actions.registry import Registry
from ml_actions.rollout import preflight
from ml_actions.rollout.audit_log import RUN_TAG
from ml_actions.rollout.rollout_lock import SUFFIX
from tests.rollout.conftest import fast_config
from tests.rollout.registry_setup import register_versions, unique_name
from tests.rollout.simulation import GOOD, Behaviour, Route, SimulatedTarget


@dataclass
class CliRun:
    code: int | None
    out: str
    report: dict = field(default_factory=dict)

    @property
    def looks(self) -> list[tuple[str, str]]:
        """(time, verdict) of each look the controller logged (`  <at> <verdict> on ...`)."""
        return [tuple(ln.split()[:2]) for ln in self.out.splitlines()
                if ln.startswith("  20") and " on " in ln]


class CliDeploy:
    """One model: champion v1 on a simulated stable slot, candidate v2 to roll out."""

    def __init__(self, sim, prometheus_url: str, tracking_uri: str, candidate: Behaviour = GOOD,
                 rate: float = 150.0, target_cls=SimulatedTarget, config=None):
        self.name = unique_name("lockcli")
        self.v1, self.v2 = register_versions(tracking_uri, self.name, 2)
        self.tracking_uri, self.prometheus_url = tracking_uri, prometheus_url
        self.registry = Registry(tracking_uri)
        self.registry.set_alias(self.name, "champion", self.v1)
        self.route = sim.add(Route(rate=rate))
        self.target = target_cls(sim, self.route, {
            f"models:/{self.name}/{self.v1}": GOOD, f"models:/{self.name}/{self.v2}": candidate})
        self.target.load("stable", f"models:/{self.name}/{self.v1}")
        self.config = config or fast_config()
        self.client = MlflowClient(tracking_uri, tracking_uri)

    def run(self, monkeypatch, report_dir: Path, *extra: str, run_id: str = "4242",
            attempt: str = "1") -> CliRun:
        monkeypatch.setattr(canary_deploy, "make_target", lambda url, token: self.target)
        monkeypatch.setattr(canary_deploy, "load_config", lambda *a, **k: self.config)
        monkeypatch.setattr(preflight, "MIN_WAIT_SECONDS", 1.0)  # the series is seconds old
        out = io.StringIO()
        env = {"GITHUB_RUN_ID": run_id, "GITHUB_RUN_ATTEMPT": attempt}
        argv = ["canary-deploy", "--model-name", self.name, "--target-url", "http://simulated",
                "--prometheus-url", self.prometheus_url, "--tracking-uri", self.tracking_uri,
                "--report-dir", str(report_dir), *extra]
        if "--resume" not in extra:
            argv += ["--candidate", self.v2]
        code = None
        try:
            code = main(argv, runner=ActionsRunner(env=env, stream=out))
        except SystemExit:  # the runner "killed": nothing in ml-actions catches it
            pass
        path = report_dir / "rollout-report.json"
        report = json.loads(path.read_text()) if path.exists() and code is not None else {}
        return CliRun(code, out.getvalue(), report)

    def lock_tags(self) -> dict[str, str] | None:
        found = self.registry.model_tags_if_present(self.name + SUFFIX)
        return None if found is None else found[0]

    def tags(self) -> dict[str, str]:
        return self.registry.get_tags(self.name, self.v2)

    def audit_events(self, folder: Path) -> list[dict]:
        """Every event of the version's audit run, in order."""
        run_id = self.tags()[RUN_TAG]
        local = Path(self.client.download_artifacts(run_id, "audit", str(folder)))
        return [json.loads(p.read_text()) for p in sorted(local.glob("*.json"))]
