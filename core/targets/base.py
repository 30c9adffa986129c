"""The interface a canary rollout and a rollback drive; nothing above it knows the target's kind.

Slots: `stable` takes (100 - canary_weight) % of traffic, `canary` the rest, `previous` is the
last stable kept warm after a promotion so a rollback is a pointer swap.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field, fields

SLOTS = ("stable", "canary", "previous")


@dataclass
class SlotState:
    """What one slot holds."""

    model_uri: str | None = None
    model_name: str | None = None
    model_version: str | None = None
    status: str = "empty"  # empty | loading | ready | failed
    error: str | None = None
    loaded_at: str | None = None
    # The last model asked for: while `loading` it is on its way in; when `failed`, it is the
    # one that failed, and `model_uri` (if any) is the model that kept serving.
    requested_uri: str | None = None
    flavor: str | None = None  # spark | pyfunc

    @property
    def serving(self) -> bool:
        """True when the slot holds a warmed model that can take traffic."""
        return self.model_uri is not None and self.status != "empty"


@dataclass
class TargetState:
    """A snapshot of the target: its slots, the canary weight and the last change."""

    slots: dict[str, SlotState] = field(default_factory=dict)
    canary_weight: float = 0.0
    updated_at: str | None = None
    updated_by: str | None = None
    history: list[dict] = field(default_factory=list)

    def slot(self, name: str) -> SlotState:
        return self.slots.get(name) or SlotState()

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> TargetState:
        """The inverse of `to_dict`; unknown keys (a newer writer) are ignored."""
        known = {f.name for f in fields(SlotState)}
        slots = {name: SlotState(**{k: v for k, v in (raw or {}).items() if k in known})
                 for name, raw in (data.get("slots") or {}).items()}
        return cls(slots=slots, canary_weight=float(data.get("canary_weight") or 0.0),
                   updated_at=data.get("updated_at"), updated_by=data.get("updated_by"),
                   history=list(data.get("history") or []))


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
