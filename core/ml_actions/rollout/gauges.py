"""What the rollout tells the target at every look: its metrics, and that it is alive.

The gateway's `PUT /admin/rollout-metrics` sets `ml_actions_rollout_status`,
`ml_actions_rollout_weight` and `ml_actions_check_value{check, threshold}`, so dashboards and
alerts see the rollout next to the traffic it moves, as Flagger does. Best effort: a target
without the endpoint, or a network hiccup, never changes a rollout's verdict; it is logged once.

The same call renews the rollout's lease (`canary.lease`, see serving/canary_lease.py) while
the rollout runs and releases it when it ends: a runner that dies stops renewing, and the
gateway takes the canary out of traffic by itself. A renewal that fails is warned about once;
the gateway then does what it would do for a dead runner, the safe thing.
"""

from __future__ import annotations

from collections.abc import Callable

from ml_actions.errors import Cancelled
from ml_actions.targets.base import DeploymentTarget

LIVE = ("initializing", "progressing", "baking")  # statuses that keep the lease


class RolloutMetricsPublisher:
    """Sends status, weight and check values to a target that can export them."""

    def __init__(self, target: DeploymentTarget, model_name: str, warn: Callable[[str], None],
                 lease_seconds: float | None = None, holder: str = "canary-deploy"):
        self.send = target.publish_rollout_metrics if target.exports_rollout_metrics else None
        self.target = target if lease_seconds and getattr(target, "supports_lease", False) \
            else None
        self.lease_seconds, self.holder = lease_seconds or 0.0, holder
        self.model_name = model_name
        self.warn = warn
        self.failed = self.lease_failed = False

    def __call__(self, status: str, weight: float, checks: list) -> None:
        self._lease(status)
        if self.send is None:
            return
        rows = [{"name": c.name, "value": float(c.value),
                 "threshold": "" if c.threshold is None else f"{c.comparison} {c.threshold:.6g}"}
                for c in checks if c.value is not None]
        try:
            self.send(status, weight, rows, model_name=self.model_name)
        except Cancelled:
            raise
        except Exception as err:  # noqa: BLE001 - metrics never decide a rollout
            if not self.failed:
                self.warn(f"could not publish rollout metrics ({err}); the rollout continues")
            self.failed = True

    def _lease(self, status: str) -> None:
        if self.target is None:
            return
        try:
            if status in LIVE:
                self.target.renew_lease(self.lease_seconds, self.holder)
            else:
                self.target.release_lease()
        except Cancelled:
            raise
        except Exception as err:  # noqa: BLE001 - the gateway then drops the canary: safe
            if not self.lease_failed:
                self.warn(f"could not renew the rollout lease ({err}); if it lapses the "
                          "gateway takes the canary out of traffic")
            self.lease_failed = True
