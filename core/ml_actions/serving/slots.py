"""The routing table: which live model each slot holds and the canary weight, swapped whole.

A `RoutingTable` is immutable. Every change (a load finishing, a weight, a promote, a
rollback) builds a new table and replaces one reference, so a request that read the table
keeps the model it started with until it finishes, and the swap itself is a pointer store:
no lock on the request path and no window in which a slot is half-changed.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, replace

from ml_actions.serving.batching import MicroBatcher
from ml_actions.serving.model_loading import ServedModel
from ml_actions.serving.routing import CANARY, STABLE, choose_slot


@dataclass(frozen=True, eq=False)
class LiveModel:
    """A warmed model and the batcher that feeds it."""

    model: ServedModel
    batcher: MicroBatcher

    def retire(self, schedule: Callable[[float, Callable[[], None]], object]) -> None:
        """Stop batching now; once in-flight requests are done, let the artifact cache evict
        the version's files (they stay while another slot or the state file names it)."""
        self.batcher.close()
        schedule(30.0, self.model.release)


@dataclass(frozen=True)
class RoutingTable:
    stable: LiveModel | None = None
    canary: LiveModel | None = None
    previous: LiveModel | None = None
    shadow: LiveModel | None = None  # takes no traffic: scores mirrored requests
    canary_weight: float = 0.0

    @property
    def effective_canary_weight(self) -> float:
        """The configured weight while a canary is live; 0 otherwise."""
        return self.canary_weight if self.canary is not None else 0.0

    def get(self, slot: str) -> LiveModel | None:
        return getattr(self, slot)

    def with_slot(self, slot: str, live: LiveModel | None) -> RoutingTable:
        return replace(self, **{slot: live})

    def pick(self, key: str | None,
             draw: Callable[[], float] = random.random) -> tuple[str, LiveModel | None]:
        """The slot for a request and the model it will finish on."""
        slot = choose_slot(key, self.effective_canary_weight, draw)
        if slot == CANARY and self.canary is None:
            slot = STABLE
        return slot, self.get(slot)

    def weights(self) -> dict[str, float]:
        canary = self.effective_canary_weight
        return {STABLE: 100.0 - canary if self.stable else 0.0, CANARY: canary}

    def models(self) -> dict[str, tuple[str, str, str]]:
        return {slot: (live.model.name, live.model.version, live.model.form)
                for slot in ("stable", "canary", "previous", "shadow")
                if (live := self.get(slot)) is not None}
