"""Every look of a rollout, written as it happens to an MLflow run: the trail a killed runner
leaves behind.

The rollout report is written when canary-deploy ends, so a runner killed mid-step writes none.
Each event (the start or resume, each step's start, every look with its checks, values,
thresholds and sample sizes, the ending) is therefore one small JSON artifact of the rollout's
MLflow run, in experiment `ml-actions-rollouts`: `audit/<seq>-<phase>-<step>.json`, numbered
so the names sort in time order. Artifacts cannot be appended to, hence one file per event.
The run's id is the candidate's `rollout.audit_run_id` tag, and `--resume` appends to that run.

The decision path has priority: a background thread uploads the events, so a slow or failing
MLflow never delays a look or a rollback. The first failure is warned about once (from the
rollout's own thread, at its next event) and later events are still tried; at the end the
queue is flushed for at most `FLUSH_SECONDS` and a warning counts what was not written. A
runner killed outright loses at most the event it was uploading.
"""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ml_actions.errors import first_line
from ml_actions.redaction import redact, redact_value
from ml_actions.registry import Registry
from ml_actions.report_documents import to_jsonable
from ml_actions.rollout.analysis.evidence import Evaluation
from ml_actions.rollout.results import RolloutResult
from ml_actions.rollout.state import RolloutState
from ml_actions.timestamps import now_iso

EXPERIMENT = "ml-actions-rollouts"
RUN_TAG = "rollout.audit_run_id"
FOLDER = "audit"
FLUSH_SECONDS = 20.0


class AuditLog:
    """One rollout's audit trail; with no run (`AuditLog()`, `NO_AUDIT`) every hook is a no-op.

    The hooks (`step_started`, `look`) are called by the controller and the shadow phase;
    `started`, `ended` and `close` by canary-deploy."""

    def __init__(self, client: Any = None, run_id: str = "", url: str | None = None,
                 next_seq: int = 0, context: dict[str, str] | None = None,
                 warn: Callable[[str], None] = lambda message: None):
        self.client, self.run_id, self.url = client, run_id, url
        self.context, self.warn = dict(context or {}), warn
        self.written = self.failed = 0
        self.result_recorded = self._ended = False
        self._seq, self._first_error, self._warned = next_seq, "", False
        self._queue: queue.Queue[tuple[str, str] | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        if run_id:
            self._thread = threading.Thread(target=self._upload, name="rollout-audit",
                                            daemon=True)
            self._thread.start()

    # -- hooks --------------------------------------------------------------------------------
    def started(self, state: RolloutState, resumed: bool, details: dict[str, Any]) -> None:
        """The rollout (re)starts: where it stands and who runs it."""
        self._put("resume" if resumed else "start", {
            "status": state.status, "phase": state.phase, "step": state.step_index + 1,
            "weight": state.weight, "steps": state.steps, "stable_version": state.stable_version,
            "started_at": state.started_at, "validation_check": state.validation_check,
            "environment": state.environment, **details})

    def step_started(self, state: RolloutState) -> None:
        """A step (or the shadow phase, or the bake) began: its weight and start time."""
        self._put(f"{state.phase}-{state.step_index + 1}-start", {
            "phase": state.phase, "step": state.step_index + 1, "weight": state.weight,
            "step_started_at": state.step_started_at, "failures": state.failures})

    def look(self, state: RolloutState, evaluation: Evaluation) -> Evaluation:
        """One look, as made; returns it, so the call sits where the look is kept."""
        self._put(f"{state.phase}-{state.step_index + 1}", {
            "phase": state.phase, "step": state.step_index + 1, "at": evaluation.at,
            "weight": evaluation.weight, "verdict": evaluation.verdict,
            "window_seconds": evaluation.window_seconds,
            "canary_requests": evaluation.canary_requests,
            "stable_requests": evaluation.stable_requests, "error": evaluation.error,
            "checks": to_jsonable(evaluation.checks), "failures": state.failures,
            "consecutive_failures": state.consecutive_failures})
        return evaluation

    def ended(self, result: RolloutResult | None = None,
              error: BaseException | None = None) -> None:
        """The ending: the result, or the error that stopped the run (which may have left the
        rollout running, for `--resume`). Only the first ending counts."""
        if self._ended:
            return
        self._ended, self.result_recorded = True, result is not None
        if result is not None:
            self._put(f"end-{result.result}", {
                "result": result.result, "reason": result.reason,
                "final_weight": result.final_weight, "failures": result.failures,
                "detection_seconds": result.detection_seconds,
                "rollback_seconds": result.rollback_seconds, "ended_at": result.ended_at})
        else:
            self._put("end-error", {"error": f"{type(error).__name__}: {first_line(error)}"
                                    if error is not None else "unknown"})

    def attach_report(self, path: str | Path) -> None:
        """The final rollout report, beside the events (best effort, like every event)."""
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError:
            return
        self._enqueue("rollout-report.json", text)

    def close(self, status: str = "FINISHED") -> None:
        """Flush (bounded), close the MLflow run, and warn about what was not written."""
        if self._thread is None:
            return
        self._queue.put(None)
        self._thread.join(FLUSH_SECONDS)
        lost = self._queue.qsize() + (1 if self._thread.is_alive() else 0)
        self._thread = None
        try:
            self.client.set_terminated(self.run_id, status)
        except Exception as err:  # noqa: BLE001 - the trail is written; only its status
            self._first_error = self._first_error or first_line(err)
        if self.failed or lost:
            self.warn(f"the audit trail (MLflow run {self.run_id}) misses {self.failed + lost} "
                      f"event(s): {self._first_error or 'MLflow was too slow'}; the rollout's "
                      "decisions were not affected, and its report has every look")

    # -- plumbing -----------------------------------------------------------------------------
    def _put(self, name: str, event: dict[str, Any]) -> None:
        if self._thread is None:
            return
        if self._first_error and not self._warned:
            self._warned = True
            self.warn(f"could not write the rollout's audit trail to MLflow run {self.run_id} "
                      f"({self._first_error}); the rollout continues, later events are still "
                      "tried")
        seq, self._seq = self._seq, self._seq + 1
        body = {"seq": seq, "event": name, "recorded_at": now_iso("milliseconds"),
                **self.context, **event}
        self._enqueue(f"{FOLDER}/{seq:05d}-{name}.json",
                      json.dumps(redact_value(to_jsonable(body)), indent=1, default=str))

    def _enqueue(self, path: str, text: str) -> None:
        if self._thread is not None:
            self._queue.put((path, text))

    def _upload(self) -> None:
        while (item := self._queue.get()) is not None:
            try:
                self.client.log_text(self.run_id, item[1], item[0])
                self.written += 1
            except Exception as err:  # noqa: BLE001 - warned from the rollout's thread
                self.failed += 1
                self._first_error = self._first_error or \
                    f"{type(err).__name__}: {first_line(err, 200)}"


NO_AUDIT = AuditLog()


def open_audit(registry: Registry, model_name: str, version: str, version_tags: dict[str, str],
               resumed: bool, warn: Callable[[str], None],
               context: dict[str, str] | None = None) -> AuditLog:
    """The rollout's audit log: its run reopened on `--resume`, else a new run recorded in the
    version's `rollout.audit_run_id`. Never raises: without a run the rollout goes on, warned."""
    client = registry.client
    previous = version_tags.get(RUN_TAG) if resumed else None
    if previous:
        try:
            experiment_id = registry.call("reopen the audit run", lambda: client.get_run(
                previous).info.experiment_id)
            registry.call("reopen the audit run", lambda: client.update_run(
                previous, status="RUNNING"))
            return AuditLog(client, previous, _run_url(registry, experiment_id, previous),
                            _next_seq(registry, previous), context, warn)
        except Exception as err:  # noqa: BLE001 - deleted, say: the trail goes on in a new run
            warn(f"the rollout's audit run {previous} could not be reopened "
                 f"({first_line(err, 200)}); the resumed rollout is audited in a new run")
    try:
        experiment_id = registry.call(f"open experiment {EXPERIMENT}",
                                      lambda: _experiment_id(client))
        run = registry.call("create the audit run", lambda: client.create_run(
            experiment_id, run_name=f"canary {model_name} v{version}",
            tags={"ml_actions.model_name": model_name, "ml_actions.model_version": version}))
        run_id = run.info.run_id
        registry.set_tags(model_name, version, {RUN_TAG: run_id})
    except Exception as err:  # noqa: BLE001 - the decision path never waits for its audit
        warn(f"the rollout runs without its audit trail: no MLflow run could be created in "
             f"{EXPERIMENT} ({first_line(err, 200)}); its report is written at the end as usual")
        return AuditLog(warn=warn)
    return AuditLog(client, run_id, _run_url(registry, experiment_id, run_id), 0, context, warn)


def _experiment_id(client: Any) -> str:
    """The experiment's id, created on first use (by whichever of two rollouts gets there)."""
    from mlflow.exceptions import MlflowException

    found = client.get_experiment_by_name(EXPERIMENT)
    if found is not None:
        return found.experiment_id
    try:
        return client.create_experiment(EXPERIMENT)
    except MlflowException as err:
        if err.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
        return client.get_experiment_by_name(EXPERIMENT).experiment_id


def _next_seq(registry: Registry, run_id: str) -> int:
    """The number after the last event already in the run (a resumed rollout appends)."""
    found = registry.call("list the audit events", lambda: registry.client.list_artifacts(
        run_id, FOLDER))
    numbers = [int(f.path.rsplit("/", 1)[-1].split("-", 1)[0]) for f in found
               if f.path.rsplit("/", 1)[-1].split("-", 1)[0].isdigit()]
    return max(numbers, default=-1) + 1


def _run_url(registry: Registry, experiment_id: str, run_id: str) -> str | None:
    """The MLflow UI's page of the run, quoted for a Markdown link; None off the web."""
    uri = str(registry.tracking_uri)
    if not uri.startswith(("http://", "https://")):
        return None
    return quote(f"{redact(uri).rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}",
                 safe=":/#?=&%@*")
