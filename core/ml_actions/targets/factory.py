"""The deployment target the rollout commands drive, built from `--target-url`.

Only the gateway exists today; KServe will plug in here behind the same interface.
"""

from __future__ import annotations

from ml_actions.targets.base import DeploymentTarget


def make_target(url: str, token: str | None) -> DeploymentTarget:
    from ml_actions.targets.gateway import GatewayTarget

    return GatewayTarget(url, token=token)
