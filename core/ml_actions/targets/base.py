"""The interface a canary rollout and a rollback drive; nothing above it knows the target's kind.

The slots and the state it reports are the gateway's wire contract (`ml_actions.serving_contract`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from ml_actions.serving_contract import SHADOW, SLOTS, SlotState, TargetState

__all__ = ["SHADOW", "SLOTS", "DeploymentTarget", "SlotState", "TargetState"]


class DeploymentTarget(ABC):
    """Everything a rollout may do to a serving target."""

    @abstractmethod
    def state(self) -> TargetState:
        """The current slots and weight."""

    @abstractmethod
    def load(self, slot: str, model_uri: str, wait: bool = True,
             timeout: float = 300.0) -> SlotState:
        """Load and warm `model_uri` into `slot`; with `wait`, return once it is ready or failed."""

    @abstractmethod
    def set_canary_weight(self, weight: float) -> None:
        """Send `weight` % (0-100) of traffic to the canary slot."""

    @abstractmethod
    def promote(self) -> None:
        """Canary becomes stable; the old stable is kept warm as `previous`."""

    @abstractmethod
    def rollback(self) -> None:
        """Canary weight 0 and unload it, or, with no canary, `previous` back to stable."""

    # -- optional capabilities: a target without them says so, and callers skip them ------
    supports_shadow: bool = False

    def start_shadow(self, model_uri: str, share: float = 1.0, until: float | None = None,
                     timeout: float = 300) -> None:
        """Load `model_uri` into the shadow slot, wait until it is warm, then mirror `share`
        (0-1] of the requests to it, off the response path, until `until` (epoch seconds;
        None = until `stop_shadow`). The target unloads an expired shadow by itself."""
        raise NotImplementedError(f"{type(self).__name__} has no shadow slot")

    def stop_shadow(self) -> None:
        """Stop mirroring and unload the shadow model."""
        raise NotImplementedError(f"{type(self).__name__} has no shadow slot")

    exports_rollout_metrics: bool = False

    def publish_rollout_metrics(self, status: str, weight: float | None,  # noqa: B027
                                checks: list[dict], model_name: str = "") -> None:
        """Expose a rollout's status, weight and check values where dashboards read them.

        Only meaningful when `exports_rollout_metrics` is true; the default does nothing.
        """

    supports_lease: bool = False

    def renew_lease(self, seconds: float, holder: str) -> None:  # noqa: B027 - optional
        """Keep the canary's traffic for `seconds` more; the target drops it after that."""

    def release_lease(self) -> None:  # noqa: B027 - optional, a no-op by default
        """The rollout ended: the canary no longer needs a live runner."""

    def release_previous(self) -> None:  # noqa: B027 - optional, a no-op by default
        """Drop the warm `previous` model once a rollback to it is no longer wanted.

        A target that keeps no previous model has nothing to release.
        """
