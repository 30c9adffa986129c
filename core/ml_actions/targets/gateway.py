"""`GatewayTarget`: the `DeploymentTarget` interface over the embedded gateway's admin API.

Idempotent reads are retried on connection errors and 5xx with backoff; writes are retried only
when the request never reached the gateway (connection refused), so a promote is never sent
twice. Refusals (400/409) and auth failures (401) become `InfrastructureError`/`InputError`
with the gateway's reason, for the one-line CLI message.
"""

from __future__ import annotations

import getpass
import os
import socket
import time
from typing import Any

import httpx

from ml_actions.errors import InfrastructureError, InputError
from ml_actions.redaction import redact
from ml_actions.serving_contract import ADMIN_TOKEN_ENV as TOKEN_ENV
from ml_actions.serving_contract import SHADOW, SlotState, TargetState
from ml_actions.targets.base import DeploymentTarget


def default_actor() -> str:
    """Who is changing the gateway: the GitHub run when in Actions, else user@host."""
    if os.environ.get("GITHUB_ACTIONS") == "true":
        return (f"github:{os.environ.get('GITHUB_REPOSITORY', '?')}/runs/"
                f"{os.environ.get('GITHUB_RUN_ID', '?')} ({os.environ.get('GITHUB_ACTOR', '?')})")
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


class GatewayTarget(DeploymentTarget):
    def __init__(self, url: str, token: str | None = None, timeout: float = 10.0,
                 retries: int = 3, backoff_seconds: float = 0.3, actor: str | None = None,
                 poll_interval: float = 0.2):
        self.url = url.rstrip("/")
        self.shown = redact(self.url)  # for messages: never its credentials
        token = token if token is not None else os.environ.get(TOKEN_ENV, "")
        if not token:
            raise InputError(f"set {TOKEN_ENV} to the gateway's admin token")
        self.retries = retries
        self.backoff_seconds = backoff_seconds
        self.poll_interval = poll_interval
        self._client = httpx.Client(
            base_url=self.url, timeout=timeout,
            headers={"Authorization": f"Bearer {token}", "X-Actor": actor or default_actor()})

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> GatewayTarget:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing --------------------------------------------------------------------------
    def _request(self, method: str, path: str, body: dict | None = None) -> dict[str, Any]:
        idempotent = method in ("GET", "PUT", "DELETE")
        attempt = 0
        while True:
            try:
                response = self._client.request(method, path, json=body)
            except httpx.ConnectError as err:  # never reached the gateway: safe to resend
                last: str = f"cannot connect ({err})"
            except httpx.TransportError as err:
                if not idempotent:
                    raise InfrastructureError(
                        f"gateway {self.shown}{path} failed mid-request ({type(err).__name__}); "
                        "check GET /admin/state before retrying") from err
                last = f"{type(err).__name__}: {err}"
            else:
                if response.status_code < 300:
                    return response.json()
                reason = _reason(response)
                if response.status_code == 401:
                    raise InputError(f"gateway {self.shown} refused the admin token ({reason}); "
                                     f"check {TOKEN_ENV}")
                if response.status_code < 500 or not idempotent:
                    raise InfrastructureError(
                        f"gateway {method} {path} answered {response.status_code}: {reason}")
                last = f"HTTP {response.status_code}: {reason}"
            if attempt >= self.retries:
                raise InfrastructureError(
                    f"gateway {self.shown} did not answer {method} {path} after {attempt + 1} "
                    f"attempts ({last}); check --target-url and that the gateway runs")
            time.sleep(self.backoff_seconds * (2 ** attempt))
            attempt += 1

    # -- the interface ---------------------------------------------------------------------
    def state(self) -> TargetState:
        return TargetState.from_dict(self._request("GET", "/admin/state"))

    def load(self, slot: str, model_uri: str, wait: bool = True,
             timeout: float = 300.0) -> SlotState:
        self._request("POST", "/admin/load", {"slot": slot, "model_uri": model_uri})
        current = self.state().slot(slot)
        deadline = time.monotonic() + timeout
        while wait and current.status == "loading":
            if time.monotonic() > deadline:
                raise InfrastructureError(f"{model_uri} did not load into {slot} within "
                                          f"{timeout:.0f} s; see the gateway log")
            time.sleep(self.poll_interval)
            current = self.state().slot(slot)
        return current

    def set_canary_weight(self, weight: float) -> None:
        self._request("PUT", "/admin/traffic", {"canary_weight": weight})

    def promote(self) -> None:
        self._request("POST", "/admin/promote")

    def rollback(self) -> None:
        self._request("POST", "/admin/rollback")

    supports_shadow = True

    def start_shadow(self, model_uri: str, share: float = 1.0, until: float | None = None,
                     timeout: float = 300) -> None:
        if isinstance(share, bool) or not isinstance(share, (int, float)) \
                or not 0 < share <= 1:
            raise InputError(f"shadow share must be in (0, 1], got {share!r}; e.g. 1.0 mirrors "
                             "every request, 0.2 a fifth of them")
        loaded = self.load(SHADOW, model_uri, wait=True, timeout=timeout)
        if loaded.status != "ready":
            raise InfrastructureError(f"{model_uri} did not load into the shadow slot: "
                                      f"{loaded.error or loaded.status}")
        self._request("POST", "/admin/shadow", {"share": float(share), "until": until})

    def stop_shadow(self) -> None:
        self._request("DELETE", "/admin/shadow")

    # -- optional capabilities the gateway has ----------------------------------------------
    exports_rollout_metrics = True
    supports_lease = True

    def renew_lease(self, seconds: float, holder: str) -> None:
        self._request("PUT", "/admin/lease", {"seconds": seconds, "holder": holder})

    def release_lease(self) -> None:
        self._request("DELETE", "/admin/lease")

    def release_previous(self) -> None:
        """Drop the warm previous model once a rollback to it is no longer wanted."""
        self._request("POST", "/admin/release", {"slot": "previous"})

    def publish_rollout_metrics(self, status: str, weight: float | None,
                                checks: list[dict], model_name: str = "") -> None:
        """Expose a rollout's status, weight and check values as gateway gauges."""
        self._request("PUT", "/admin/rollout-metrics", {
            "status": status, "weight": weight, "checks": checks, "model_name": model_name})


def _reason(response: httpx.Response) -> str:
    try:
        return str(response.json().get("message") or response.text)[:300]
    except ValueError:
        return response.text[:300]
