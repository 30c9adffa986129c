"""Deployment targets: where a model version serves traffic (the embedded gateway; KServe later)."""

from core.targets.base import DeploymentTarget, SlotState, TargetState

__all__ = ["DeploymentTarget", "SlotState", "TargetState"]
