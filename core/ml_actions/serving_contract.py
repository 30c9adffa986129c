"""The wire contract between the gateway and the targets that drive it.

`serving/` (the gateway) and `targets/` (what a rollout drives) never import each other: both
import this module, so the slot names, the state document the admin API returns and the
variable that holds the admin token are defined exactly once.

Slots: `stable` takes (100 - canary_weight) % of traffic, `canary` the rest, `previous` is the
last stable kept warm after a promotion so a rollback is a pointer swap. `shadow` takes no
traffic: it scores a sampled share (`shadow_share`) of the requests the other slots answered,
off the response path, until `shadow_until` (epoch seconds; None = until stopped).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

ADMIN_TOKEN_ENV = "ML_ACTIONS_ADMIN_TOKEN"
# Requests are also counted per routing group (a hash of the routing key, independent of the
# canary split) so the analysis can measure how much customers differ: a sticky customer's
# requests are not independent, and the groups give a cluster-robust variance.
ROUTING_GROUPS = 16
STABLE, CANARY, PREVIOUS, SHADOW = "stable", "canary", "previous", "shadow"
SLOTS = (STABLE, CANARY, PREVIOUS, SHADOW)


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
    flavor: str | None = None  # spark | pyfunc: how the version was logged
    form: str | None = None  # onnx | spark | pyfunc: what scores its requests

    @property
    def serving(self) -> bool:
        """True when the slot holds a warmed model that can take traffic."""
        return self.model_uri is not None and self.status != "empty"


@dataclass
class TargetState:
    """A snapshot of the target: its slots, the canary weight and the last change."""

    slots: dict[str, SlotState] = field(default_factory=dict)
    canary_weight: float = 0.0
    shadow_share: float = 0.0  # share of requests mirrored to the shadow slot; 0 = none
    shadow_until: float | None = None  # epoch seconds when the gateway unloads the shadow
    # The rollout's dead man's switch: past `lease_until` the gateway sets the canary weight
    # to 0 by itself (a killed runner, a cancelled job, a network split).
    lease_until: float | None = None
    lease_holder: str | None = None
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
        until, lease = data.get("shadow_until"), data.get("lease_until")
        return cls(slots=slots, canary_weight=float(data.get("canary_weight") or 0.0),
                   shadow_share=float(data.get("shadow_share") or 0.0),
                   shadow_until=float(until) if until is not None else None,
                   lease_until=float(lease) if lease is not None else None,
                   lease_holder=data.get("lease_holder"),
                   updated_at=data.get("updated_at"), updated_by=data.get("updated_by"),
                   history=list(data.get("history") or []))
