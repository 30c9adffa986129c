"""The deployment target the rollout commands drive, built from `--target-url`.

Only the gateway exists today; KServe will plug in here behind the same interface.
"""

from __future__ import annotations

from core.targets.base import DeploymentTarget

ADMIN_TOKEN_ENV = "ML_ACTIONS_ADMIN_TOKEN"


def make_target(url: str, token: str | None) -> DeploymentTarget:
    from core.targets.gateway import GatewayTarget

    return GatewayTarget(url, token=token)
