"""Deployment targets: where a model version serves traffic (the embedded gateway; KServe later)."""

from core.targets.base import DeploymentTarget, SlotState, TargetState

__all__ = ["DeploymentTarget", "SlotState", "TargetState", "GatewayTarget"]


def __getattr__(name: str):
    if name == "GatewayTarget":  # lazy: importing the interface must not need httpx
        from core.targets.gateway import GatewayTarget

        return GatewayTarget
    raise AttributeError(name)
