"""The alert relay: Alertmanager's webhook receiver that rolls a model back after the job ended.

A canary's analysis stops when the rollout promotes; a model can still go bad a day later.
Prometheus rules (`deploy/prometheus/alerts.yml`) watch the gateway, Alertmanager routes alerts
labelled `ml_actions_rollback="true"` here, and the relay runs the same rollback as
`ml-actions rollback` (traffic first, then the registry), records the incident, and can send
a GitHub `repository_dispatch` so a workflow files it. Webhooks need the bearer token; the
same alert re-sent by Alertmanager (same fingerprint) within `dedup_window` rolls back once.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
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

RollbackFn = Callable[[str, str], RollbackResult]  # (model_name, reason) -> result
DispatchFn = Callable[[dict], None]


@dataclass
class Incident:
    """One alert the relay acted on (or deliberately did not), as recorded."""

    received_at: str
    alert: str
    fingerprint: str
    model_name: str
    action: str  # rolled_back | duplicate | failed
    reason: str
    rollback: dict | None = None
    error: str | None = None
    dispatched: bool = False


@dataclass
class AlertRelay:
    """Turns firing rollback alerts into rollbacks; one at a time, each recorded."""

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
        self._seen: dict[str, float] = {}
        self._dedup = parse_duration(self.config.dedup_window, "alert_relay.dedup_window")

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
        model = labels.get("model_name") or self.default_model or ""
        summary = annotations.get("summary") or annotations.get("description") or ""
        reason = f"alert {name}: {summary}"
        incident = Incident(now_iso(), name, fingerprint, model, "rolled_back", reason.strip())
        with self._lock:
            last = self._seen.get(fingerprint)
            if last is not None and time.monotonic() - last < self._dedup:
                incident.action = "duplicate"
                return self._record(incident)
            self._seen[fingerprint] = time.monotonic()
            try:
                result = self.rollback(model, incident.reason)
                incident.rollback = asdict(result)
                log.warning("rolled back %s after %s: v%s serves 100%% after %.3f s", model, name,
                            result.restored_version, result.seconds)
            except MlActionsError as err:
                incident.action, incident.error = "failed", str(err)
                log.error("rollback after %s failed: %s", name, err)
        if self.dispatch is not None:
            try:
                self.dispatch(asdict(incident))
                incident.dispatched = True
            except Exception as err:  # noqa: BLE001 - the rollback already happened
                log.warning("repository_dispatch failed: %s", err)
        return self._record(incident)

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
            payload = {k: v for k, v in incident.items() if k != "rollback"}
            ok = github.get_repo(repository, lazy=True).create_repository_dispatch(
                event_type, payload)
            if not ok:
                raise RuntimeError(f"GitHub refused repository_dispatch to {repository}")
        finally:
            github.close()

    return send
