"""The alert relay: Alertmanager's webhook receiver that rolls a model back after the job ended.

A canary's analysis stops when the rollout promotes; a model can still go bad a day later.
Prometheus rules (`deploy/prometheus/alerts.yml`) watch the gateway, Alertmanager routes alerts
labelled `ml_actions_rollback="true"` here, and the relay undoes exactly what the alert is
about. Webhooks need the bearer token.

One actor per rollback, idempotent by construction:
- an alert names its model, `slot` and `model_version` (the rules group by them); the relay
  acts only while the target still serves that version in that slot (a canary is removed, a
  promoted champion restored), so a stale or late alert cannot demote a healthy champion;
- alerts about the same (model, slot, version) act once per `dedup_window`, whichever rule
  fired (errors and latency for one canary are one incident); the record file is read back
  at start, so a restarted relay remembers;
- `alert_relay.action` says who acts: the relay (`rollback`) or a workflow it dispatches to
  (`dispatch`, carrying model, slot and version so the workflow passes the same expectation),
  never both.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ml_actions.bearer_auth import bearer_token_matches
from ml_actions.config.rollout import AlertRelayConfig
from ml_actions.errors import MlActionsError
from ml_actions.rollout.rollback import RollbackResult
from ml_actions.timestamps import now_iso

log = logging.getLogger("ml_actions.alert_relay")

ACTED = ("rolled_back", "dispatched", "not_in_expected_state")
SLOTS = ("canary", "stable")


@dataclass(frozen=True)
class AlertSubject:
    """What an alert is about: the version a slot serves; the rollback expects exactly it."""

    model_name: str
    slot: str  # canary | stable
    model_version: str

    @property
    def key(self) -> str:
        return f"{self.model_name}/{self.slot}/{self.model_version}"


RollbackFn = Callable[[AlertSubject, str], RollbackResult]  # (subject, reason) -> result
DispatchFn = Callable[[dict], None]


@dataclass
class Incident:
    """One alert the relay acted on (or deliberately did not), as recorded."""

    received_at: str
    alert: str
    fingerprint: str
    model_name: str
    action: str  # rolled_back | dispatched | not_in_expected_state | duplicate | ignored | failed
    reason: str
    slot: str = ""
    model_version: str = ""
    rollback: dict | None = None
    error: str | None = None
    dispatched: bool = False


@dataclass
class AlertRelay:
    """Turns firing rollback alerts into one action per incident, each recorded."""

    config: AlertRelayConfig
    token: str
    rollback: RollbackFn
    default_model: str | None = None
    record_path: Path | None = None
    dispatch: DispatchFn | None = None
    incidents: list[Incident] = field(default_factory=list)

    def __post_init__(self) -> None:
        from ml_actions.config.durations import parse_duration

        self._lock = threading.Lock()
        self._dedup = parse_duration(self.config.dedup_window, "alert_relay.dedup_window")
        if self.config.action == "dispatch" and self.dispatch is None:
            raise MlActionsError("alert_relay.action is dispatch but no dispatcher is set: "
                                 "pass --github-token and --repository")
        self._seen: dict[str, float] = self._remembered()

    def _remembered(self) -> dict[str, float]:
        """Incidents acted on within the window, from the record file (wall-clock times)."""
        seen: dict[str, float] = {}
        if self.record_path is None or not self.record_path.exists():
            return seen
        for line in self.record_path.read_text(encoding="utf-8").splitlines():
            try:
                item = json.loads(line)
                when = datetime.fromisoformat(item["received_at"]).timestamp()
            except (ValueError, KeyError, TypeError):
                continue
            if item.get("action") in ACTED and time.time() - when < self._dedup:
                subject = AlertSubject(item.get("model_name", ""), item.get("slot", ""),
                                       item.get("model_version", ""))
                seen[subject.key] = when
        return seen

    def authorized(self, header: str | None) -> bool:
        return bearer_token_matches(header, self.token)

    def wanted(self, alert: dict) -> bool:
        labels = alert.get("labels") or {}
        return (alert.get("status") == "firing"
                and str(labels.get(self.config.rollback_label, "")).lower() == "true")

    def handle(self, payload: dict) -> list[Incident]:
        """Act on every firing rollback alert of one webhook payload."""
        done = []
        for alert in payload.get("alerts") or []:
            if self.wanted(alert):
                done.append(self._act(alert))
        return done

    def _act(self, alert: dict) -> Incident:
        labels = alert.get("labels") or {}
        annotations = alert.get("annotations") or {}
        name = labels.get("alertname", "alert")
        fingerprint = alert.get("fingerprint") or json.dumps(labels, sort_keys=True)
        subject = AlertSubject(labels.get("model_name") or self.default_model or "",
                               labels.get("slot", ""), str(labels.get("model_version", "")))
        summary = annotations.get("summary") or annotations.get("description") or ""
        incident = Incident(now_iso(), name, fingerprint, subject.model_name, "rolled_back",
                            f"alert {name}: {summary}".strip(), subject.slot,
                            subject.model_version)
        if subject.slot not in SLOTS or not subject.model_version or not subject.model_name:
            incident.action = "ignored"
            incident.error = ("the alert names no model_name, slot (canary|stable) and "
                              "model_version: group its expr `by (slot, model_version)` and "
                              "label model_name (or start the relay with --model-name)")
            return self._record(incident)
        with self._lock:
            last = self._seen.get(subject.key)
            if last is not None and time.time() - last < self._dedup:
                incident.action = "duplicate"
                return self._record(incident)
            self._seen[subject.key] = time.time()
            if self.config.action == "dispatch":
                if self._dispatch(incident).action == "failed":
                    self._seen.pop(subject.key, None)  # Alertmanager's re-send may try again
                return self._record(incident)
            try:
                result = self.rollback(subject, incident.reason)
                incident.rollback = asdict(result)
                incident.action = ("not_in_expected_state"
                                   if result.action == "not_in_expected_state" else "rolled_back")
                log.warning("%s after %s for %s: %s", incident.action, name, subject.key,
                            result.reason if incident.action != "rolled_back" else
                            f"v{result.restored_version} serves 100% after {result.seconds:.3f} s")
            except MlActionsError as err:
                incident.action, incident.error = "failed", str(err)
                log.error("rollback after %s failed: %s", name, err)
                self._seen.pop(subject.key, None)  # a later alert may try again
        return self._record(incident)

    def _dispatch(self, incident: Incident) -> Incident:
        assert self.dispatch is not None
        try:
            self.dispatch(asdict(incident))
            incident.action, incident.dispatched = "dispatched", True
        except Exception as err:  # noqa: BLE001 - recorded; Alertmanager re-sends the alert
            incident.action, incident.error = "failed", f"repository_dispatch failed: {err}"
            log.error("repository_dispatch failed: %s", err)
        return incident

    def _record(self, incident: Incident) -> Incident:
        self.incidents.append(incident)
        if self.record_path is not None:
            self.record_path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.record_path, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(asdict(incident)) + "\n")
        return incident


def build_app(relay: AlertRelay) -> Starlette:
    async def webhook(request: Request) -> JSONResponse:
        if not relay.authorized(request.headers.get("authorization")):
            log.warning("webhook from %s refused: missing or wrong bearer token",
                        request.client.host if request.client else "?")
            return JSONResponse({"message": "missing or wrong bearer token"}, status_code=401)
        try:
            payload = await request.json()
        except ValueError:
            return JSONResponse({"message": "body is not JSON"}, status_code=400)
        if not isinstance(payload, dict):
            return JSONResponse({"message": "expected an Alertmanager webhook"}, status_code=400)
        from starlette.concurrency import run_in_threadpool

        incidents = await run_in_threadpool(relay.handle, payload)
        return JSONResponse({"handled": [asdict(i) for i in incidents]})

    async def incidents(request: Request) -> JSONResponse:
        if not relay.authorized(request.headers.get("authorization")):
            return JSONResponse({"message": "missing or wrong bearer token"}, status_code=401)
        return JSONResponse({"incidents": [asdict(i) for i in relay.incidents]})

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    return Starlette(routes=[Route("/webhook", webhook, methods=["POST"]),
                             Route("/incidents", incidents, methods=["GET"]),
                             Route("/healthz", healthz, methods=["GET"])])


def github_dispatcher(token: str, repository: str, base_url: str,
                      event_type: str) -> DispatchFn:
    """A `repository_dispatch` sender (PyGithub) carrying the incident as client_payload."""

    def send(incident: dict) -> None:
        from github import Auth, Github

        github = Github(auth=Auth.Token(token), base_url=base_url.rstrip("/"), timeout=10)
        try:
            # the workflow rolls back with --expect-canary / --expect-champion from these
            payload = {k: incident.get(k) for k in ("model_name", "slot", "model_version",
                                                      "reason", "alert", "fingerprint")}
            ok = github.get_repo(repository, lazy=True).create_repository_dispatch(
                event_type, payload)
            if not ok:
                raise RuntimeError(f"GitHub refused repository_dispatch to {repository}")
        finally:
            github.close()

    return send
