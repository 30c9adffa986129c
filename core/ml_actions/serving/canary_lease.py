"""The rollout's dead man's switch: a canary keeps its traffic only while its rollout is alive.

A runner that is killed, a job GitHub cancels without running clean-up, or a network split
used to leave the canary serving its share forever, with nobody judging it. canary-deploy
now holds a lease that it renews at every look (`PUT /admin/lease`, `canary.lease` long);
when the lease lapses the gateway itself sets the canary weight to 0, keeps stable serving,
records `lease_expired` in its state file and counts it in `ml_gateway_lease_expired_total`.
The lease is in the state file, so a gateway restarted after the lease ran out drops the
canary's traffic at once instead of restoring it.
"""

from __future__ import annotations

import logging
import time

from ml_actions.serving.slot_manager import SlotManager
from ml_actions.serving.wall_clock_timer import WallClockTimer
from ml_actions.serving_contract import TargetState

log = logging.getLogger("ml_actions.gateway")


class CanaryLease:
    def __init__(self, manager: SlotManager):
        self.manager = manager
        self._timer = WallClockTimer(self._expire)

    def renew(self, seconds: float, holder: str) -> float:
        """Hold the canary's traffic for `seconds` more; returns the new deadline."""
        state = self.manager.state
        first = state.lease_until is None or state.lease_holder != holder
        state.lease_until, state.lease_holder = time.time() + seconds, holder
        if first:
            self.manager.store.record(state, holder, "lease", {"lease_seconds": seconds})
        else:
            self.manager.store.save(state)  # every look renews: no history line each time
        self._arm()
        return state.lease_until

    def release(self, holder: str) -> None:
        """The rollout ended (any verdict): no deadline any more."""
        state = self.manager.state
        if state.lease_until is None:
            return
        state.lease_until, state.lease_holder = None, None
        self._timer.cancel()
        self.manager.store.record(state, holder, "lease-released", {})

    def restore(self, saved: TargetState | None) -> None:
        """Before `SlotManager.restore`: re-arm a saved lease, or expire a lapsed one at once
        (the timer fires on the loop's next turn, after the slots were restored)."""
        if saved is not None and saved.lease_until is not None:
            state = self.manager.state
            state.lease_until, state.lease_holder = saved.lease_until, saved.lease_holder
            self._arm()

    def close(self) -> None:
        self._timer.cancel()

    def _arm(self) -> None:
        self._timer.arm(self.manager.state.lease_until)

    def _expire(self) -> None:
        state = self.manager.state
        if state.lease_until is None:
            return
        holder, weight = state.lease_holder, state.canary_weight
        state.lease_until, state.lease_holder = None, None
        if weight > 0:
            log.warning("rollout lease of %s expired: canary weight %.4g -> 0, stable serves "
                        "all traffic", holder, weight)
            self.manager.set_weight(0.0, "gateway")
            self.manager.metrics.lease_expired.inc()
        self.manager.store.record(state, "gateway", "lease_expired",
                                  {"holder": holder, "canary_weight_was": weight})
