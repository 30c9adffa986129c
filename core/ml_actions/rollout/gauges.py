"""Our own rollout metrics, exported through the gateway as Flagger does.

The gateway's `PUT /admin/rollout-metrics` sets `ml_actions_rollout_status`,
`ml_actions_rollout_weight` and `ml_actions_check_value{check, threshold}`, so dashboards and
alerts see the rollout next to the traffic it moves. Best effort: a target without the
endpoint, or a network hiccup, never changes a rollout's verdict; it is logged once.
"""

from __future__ import annotations

from collections.abc import Callable

from ml_actions.errors import Cancelled
from ml_actions.targets.base import DeploymentTarget


class RolloutMetricsPublisher:
    """Sends status, weight and check values to a target that can export them."""

    def __init__(self, target: DeploymentTarget, model_name: str, warn: Callable[[str], None]):
        self.send = target.publish_rollout_metrics if target.exports_rollout_metrics else None
        self.model_name = model_name
        self.warn = warn
        self.failed = False

    def __call__(self, status: str, weight: float, checks: list) -> None:
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
