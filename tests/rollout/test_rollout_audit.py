"""The rollout's audit trail: every look written to its MLflow run as it happens, so a runner
killed mid-step leaves the full trail, and `--resume` appends to the same run. Runs the real
`canary-deploy` command on a simulated target, real MLflow and Prometheus."""

from __future__ import annotations

import time

import pytest

from ml_actions.rollout.audit_log import RUN_TAG, AuditLog
from ml_actions.rollout.rollout_lock import SUFFIX
from ml_actions.rollout.state import RolloutState
from tests.rollout.cli_simulation import CliDeploy
from tests.rollout.conftest import fast_config
from tests.rollout.simulation import SimulatedTarget

pytestmark = pytest.mark.integration


class KilledAt100(SimulatedTarget):
    """The runner dies (an exception nothing in ml-actions handles) when the weight reaches
    100, once: after the 50 % step passed."""

    killed = False

    def set_canary_weight(self, weight: float) -> None:
        if weight == 100 and not self.killed:
            self.killed = True
            raise SystemExit("runner killed")
        super().set_canary_weight(weight)


def test_a_killed_runner_leaves_every_look_and_resume_appends_to_the_same_run(
        sim, sim_prometheus, tracking_uri, monkeypatch, tmp_path):
    config = fast_config(canary={"steps": [50, 100], "interval": "2s", "bake": "1s",
                                 "warmup_timeout": "60s"})
    d = CliDeploy(sim, sim_prometheus.url, tracking_uri, target_cls=KilledAt100, config=config,
                  rate=300.0)
    killed = d.run(monkeypatch, tmp_path / "first", run_id="55")
    assert killed.code is None and d.target.killed, killed.out
    tags = d.tags()
    assert tags["rollout.status"] == "running" and tags["rollout.step_index"] == "0"
    run_id = tags[RUN_TAG]
    lock = d.lock_tags()  # kept: the rollout still runs, --resume adopts it
    assert lock is not None and lock["lock.run_id"] == "55.1", killed.out
    assert "stays held" in killed.out

    events = d.audit_events(tmp_path / "trail1")
    assert [e["seq"] for e in events] == list(range(len(events)))
    assert events[0]["event"] == "start" and events[0]["run_id"] == "55.1"
    looks = [e for e in events if "verdict" in e]
    # every look made before the kill, as the rollout logged it
    assert [(e["at"], e["verdict"]) for e in looks] == killed.looks and looks
    last = looks[-1]
    assert last["weight"] == 50 and last["step"] == 1 and last["phase"] == "step"
    check = next(c for c in last["checks"] if c["name"] == "success_rate")
    assert {"value", "threshold", "sample_size", "verdict", "query"} <= set(check)
    assert check["sample_size"] > 0
    assert [e["event"] for e in events if e["event"].endswith("-start")] == ["step-1-start"]
    assert events[-1]["event"] == "end-error" and "runner killed" in events[-1]["error"]

    resumed = d.run(monkeypatch, tmp_path / "second", "--resume", run_id="55", attempt="2")
    assert resumed.code == 0, resumed.out
    assert d.tags()[RUN_TAG] == run_id  # the same run, appended to
    assert d.lock_tags() is None and f"released {d.name}{SUFFIX}" in resumed.out
    trail = d.audit_events(tmp_path / "trail2")
    assert trail[:len(events)] == events  # nothing rewritten
    added = trail[len(events):]
    assert [e["seq"] for e in trail] == list(range(len(trail)))
    assert added[0]["event"] == "resume" and added[0]["run_id"] == "55.2"
    assert added[-1]["event"] == "end-promoted" and added[-1]["result"] == "promoted"
    assert [(e["at"], e["verdict"]) for e in added if "verdict" in e] == resumed.looks
    assert resumed.report["audit_run_id"] == run_id
    assert f"{run_id}" in resumed.out and "Audit trail" in resumed.out  # the job summary
    assert d.client.get_run(run_id).info.status == "FINISHED"
    assert [f.path for f in d.client.list_artifacts(run_id) if not f.is_dir] == [
        "rollout-report.json"]


def test_an_audit_that_cannot_be_written_warns_once_and_never_stops_the_rollout():
    class Down:
        def log_text(self, *args):
            raise ConnectionError("MLflow is down")

        def set_terminated(self, *args):
            raise ConnectionError("MLflow is down")

    warnings: list[str] = []
    audit = AuditLog(Down(), "run-1", None, 0, {}, warnings.append)
    state = RolloutState(phase="step")
    audit.started(state, False, {})
    deadline = time.monotonic() + 10
    while not audit.failed and time.monotonic() < deadline:  # the uploader meets the failure
        time.sleep(0.01)
    for _ in range(3):
        audit.step_started(state)
    audit.close("FAILED")
    assert len(warnings) == 2, warnings
    assert "could not write" in warnings[0] and "the rollout continues" in warnings[0]
    assert "misses 4 event(s)" in warnings[1] and "MLflow is down" in warnings[1]
